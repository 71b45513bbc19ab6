"""The issue's worked examples, through the plain money functions (no HTTP, no DB)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

from medhtap.services.settlement.rules import Benefit, Item, Line, Person, Used, settle

DRUG_A = Item("DA", "A")
DRUG_B = Item("DB", "B", selfpay_prop=D("0.10"), pric_uplmt_amt=D("100.00"))
EXAM_A = Item("EA", "A", item_kind="service")
MAT_C = Item("MC", "C", item_kind="material")
LINES = [
    Line("1", DRUG_A, D("2"), D("35.50")),
    Line("2", DRUG_B, D("1"), D("120.00")),
    Line("3", EXAM_A, D("1"), D("200.00")),
    Line("4", MAT_C, D("1"), D("50.00")),
]
EMP_OUT_L3 = Benefit(D("1800.00"), "year", D("0.80"), D("20000.00"))
DAY = dt.date(2026, 3, 1)


def employee(balance: str) -> Person:
    return Person("310", "1", dt.date(1980, 5, 5), D(balance))


class TestWorkedExamples:
    def test_example_1_deductible_takes_all_in_scope(self) -> None:
        r = settle(LINES, employee("500.00"), DAY, EMP_OUT_L3, Used(), use_account=True)
        assert (r.medfee_sumamt, r.fulamt_ownpay_amt, r.overlmt_selfpay) == (
            D("441.00"),
            D("50.00"),
            D("20.00"),
        )
        assert (r.preselfpay_amt, r.inscp_scp_amt, r.act_pay_dedc) == (
            D("10.00"),
            D("361.00"),
            D("361.00"),
        )
        assert (r.hifp_pay, r.psn_part_amt, r.acct_pay, r.psn_cash_pay) == (
            D("0.00"),
            D("441.00"),
            D("441.00"),
            D("0.00"),
        )
        assert [s.ownpay_reason for s in r.selfpay_lines] == ["class_c"]

    def test_example_2_deductible_used_up(self) -> None:
        used = Used(dedc_used=D("1800.00"))
        r = settle(LINES, employee("59.00"), DAY, EMP_OUT_L3, used, use_account=True)
        assert (r.act_pay_dedc, r.hifp_pay, r.psn_part_amt) == (D("0.00"), D("288.80"), D("152.20"))
        assert (r.acct_pay, r.psn_cash_pay) == (D("59.00"), D("93.20"))

    def test_example_3_resident_inpatient_hits_annual_cap(self) -> None:
        lines = [
            Line("1", Item("A1", "A"), D("1"), D("3000.00")),
            Line("2", Item("B1", "B", selfpay_prop=D("0.20")), D("1"), D("2000.00")),
        ]
        resident = Person("390", "2", dt.date(1970, 1, 1), D("1000.00"))
        benefit = Benefit(D("500.00"), "admission", D("0.75"), D("250000.00"))
        r = settle(lines, resident, DAY, benefit, Used(D("0"), D("249800.00")), use_account=True)
        assert (r.inscp_scp_amt, r.act_pay_dedc, r.hifp_pay) == (
            D("4600.00"),
            D("500.00"),
            D("200.00"),
        )
        assert (r.acct_pay, r.psn_cash_pay) == (D("0.00"), D("4800.00"))
