"""Issue 13's worked examples of the fund split, and its invariants (no HTTP, no DB)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

from hypothesis import given
from hypothesis import strategies as st

from medhtap.services.settlement.funds import (
    AssistanceFund,
    FundYear,
    SecondaryFund,
    Segment,
    segmented,
    split_funds,
)
from medhtap.services.settlement.rules import Benefit, Item, Line, Person, Used, settle

EMPLOYEE_LARGE = SecondaryFund(
    "330100",
    "职工大额医疗费用补助",
    "hifob_pay",
    (Segment(D("5000"), None, D("0.85")),),
    D("300000"),
)
RESIDENT_CRITICAL = SecondaryFund(
    "390200",
    "城乡居民大病医疗保险",
    "hifmi_pay",
    (
        Segment(D("15000"), D("50000"), D("0.60")),
        Segment(D("50000"), D("100000"), D("0.70")),
        Segment(D("100000"), None, D("0.80")),
    ),
    D("400000"),
)
DIBAO = AssistanceFund("610100", "医疗救助基金", D("0.70"), D("30000"))
TEKUN = AssistanceFund("610100", "医疗救助基金", D("1.00"), D("30000"))
DAY = dt.date(2026, 3, 1)


def _split(result, insutype, cap_left, year, secondary, assistance, balc="0", use_account=False):
    return split_funds(
        insutype=insutype,
        medfee_sumamt=result.medfee_sumamt,
        inscp_scp_amt=result.inscp_scp_amt,
        hifp_pay=result.hifp_pay,
        hifp_cap_left=cap_left,
        year=year,
        secondary=secondary,
        assistance=assistance,
        acct_balc=D(balc),
        use_account=use_account,
    )


class TestWorkedExamples:
    def test_1_resident_inpatient_dibao(self) -> None:
        person = Person("390", "2", dt.date(1970, 1, 1), D("0"))
        benefit = Benefit(D("500.00"), "admission", D("0.75"), D("250000.00"))
        lines = [Line("1", Item("A1", "A"), D("1"), D("30000.00"))]
        r = settle(lines, person, DAY, benefit, Used(D("0"), D("249800.00")), use_account=False)
        s = _split(r, "390", D("200.00"), FundYear(D("40000.00")), RESIDENT_CRITICAL, DIBAO)
        assert (r.act_pay_dedc, r.hifp_pay) == (D("500.00"), D("200.00"))
        assert (s.hifmi_pay, s.maf_pay, s.fund_pay_sumamt) == (
            D("19860.00"),
            D("6958.00"),
            D("27018.00"),
        )
        assert (s.psn_part_amt, s.acct_pay, s.psn_cash_pay) == (D("2982.00"), D("0"), D("2982.00"))
        assert [(d.fund_pay_type, d.fund_payamt) for d in s.setldetail] == [
            ("390100", D("200.00")),
            ("390200", D("19860.00")),
            ("610100", D("6958.00")),
        ]

    def test_2_employee_outpatient_large_amount_and_account(self) -> None:
        person = Person("310", "1", dt.date(1980, 1, 1), D("10.00"))
        benefit = Benefit(D("1800.00"), "year", D("0.90"), D("20000.00"))
        lines = [Line("1", Item("A1", "A"), D("1"), D("1000.00"))]
        r = settle(lines, person, DAY, benefit, Used(D("1800.00")), use_account=True)
        s = _split(
            r, "310", D("20000"), FundYear(D("4990.00")), EMPLOYEE_LARGE, None, "10.00", True
        )
        assert (r.hifp_pay, s.hifob_pay, s.fund_pay_sumamt) == (
            D("900.00"),
            D("76.50"),
            D("976.50"),
        )
        assert (s.psn_part_amt, s.acct_pay, s.psn_cash_pay) == (D("23.50"), D("10.00"), D("13.50"))
        assert [(d.fund_pay_type, d.fund_payamt) for d in s.setldetail] == [
            ("310100", D("900.00")),
            ("330100", D("76.50")),
            ("310200", D("10.00")),
        ]

    def test_3_resident_outpatient_tekun(self) -> None:
        person = Person("390", "1", dt.date(1990, 1, 1), D("0"))
        benefit = Benefit(D("200.00"), "year", D("0.50"), D("3000.00"))
        lines = [
            Line("1", Item("A1", "A"), D("1"), D("100.00")),
            Line("2", Item("C1", "C"), D("1"), D("50.00")),
        ]
        r = settle(lines, person, DAY, benefit, Used(), use_account=False)
        s = _split(r, "390", D("3000"), FundYear(), RESIDENT_CRITICAL, TEKUN)
        assert (r.act_pay_dedc, r.hifp_pay, s.hifmi_pay, s.maf_pay) == (
            D("100.00"),
            D("0.00"),
            D("0.00"),
            D("100.00"),
        )
        assert s.psn_part_amt == D("50.00")


def test_caps_limit_each_fund() -> None:
    year = FundYear(D("200000"), secondary_paid=D("399990.00"), assistance_paid=D("29999.00"))
    s = split_funds(
        insutype="390",
        medfee_sumamt=D("10000.00"),
        inscp_scp_amt=D("10000.00"),
        hifp_pay=D("0.00"),
        hifp_cap_left=D("0"),
        year=year,
        secondary=RESIDENT_CRITICAL,
        assistance=DIBAO,
        acct_balc=D("0"),
        use_account=False,
    )
    assert (s.hifmi_pay, s.maf_pay) == (D("10.00"), D("1.00"))


money = st.decimals(min_value=D("0"), max_value=D("500000"), places=2)


@given(
    inscp=money,
    extra=money,
    hifp_share=st.decimals(min_value=D("0"), max_value=D("1"), places=2),
    ytd=money,
    sec_paid=money,
    maf_paid=st.decimals(min_value=D("0"), max_value=D("40000"), places=2),
    balc=money,
    employee=st.booleans(),
    category=st.sampled_from([None, DIBAO, TEKUN]),
    use_account=st.booleans(),
)
def test_invariants(
    inscp, extra, hifp_share, ytd, sec_paid, maf_paid, balc, employee, category, use_account
) -> None:
    hifp = (inscp * hifp_share).quantize(D("0.01"))
    insutype = "310" if employee else "390"
    secondary = EMPLOYEE_LARGE if employee else RESIDENT_CRITICAL
    s = split_funds(
        insutype=insutype,
        medfee_sumamt=inscp + extra,
        inscp_scp_amt=inscp,
        hifp_pay=hifp,
        hifp_cap_left=D("0"),
        year=FundYear(ytd, sec_paid, maf_paid),
        secondary=secondary,
        assistance=category,
        acct_balc=balc,
        use_account=use_account,
    )
    medfee = inscp + extra
    assert medfee == s.fund_pay_sumamt + s.psn_part_amt + s.hosp_part_amt
    assert s.psn_part_amt == s.acct_pay + s.psn_cash_pay
    assert s.fund_pay_sumamt == hifp + s.hifob_pay + s.hifmi_pay + s.maf_pay
    assert s.secondary_pay + s.maf_pay <= inscp - hifp  # never pays more than was left in scope
    assert s.secondary_pay <= max(secondary.annual_cap - sec_paid, D("0"))
    assert s.maf_pay <= max(D("30000") - maf_paid, D("0"))
    assert s.psn_part_amt >= 0 and s.acct_pay >= 0 and s.psn_cash_pay >= 0
    for amount in (s.hifob_pay, s.hifmi_pay, s.maf_pay, s.acct_pay):
        assert amount == amount.quantize(D("0.01"))
    if not employee:
        assert s.acct_pay == 0


@given(a=money, b=money)
def test_segmented_is_monotone(a, b) -> None:
    lo, hi = sorted((a, b))
    assert segmented(lo, RESIDENT_CRITICAL.segments) <= segmented(hi, RESIDENT_CRITICAL.segments)
