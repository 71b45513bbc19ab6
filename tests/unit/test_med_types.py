"""National med_type codes (issue 13.2): the policy per code is data in rules.MED_TYPES and
one pure function (`benefit_for`) turns the policy row into what the code pays."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from medhtap.services.settlement import rules

INPATIENT_L3 = rules.Benefit(D("1200.00"), "admission", D("0.85"), D("500000.00"))
OUTPATIENT_L3 = rules.Benefit(D("1800.00"), "year", D("0.80"), D("20000.00"))
CLASS_A = rules.Item("A1", chrgitm_lv="A", item_kind="service")
EMPLOYEE = rules.Person("310", "1", dt.date(1980, 1, 1), D("100.00"))


def settle(code: str, policy: rules.Benefit, amount: str) -> rules.Result:
    return rules.settle(
        [rules.Line("1", CLASS_A, D("1"), D(amount))],
        EMPLOYEE,
        dt.date(2026, 3, 1),
        rules.benefit_for(code, policy),
        rules.Used(),
        use_account=True,
    )


def test_every_code_names_its_policy_row_and_the_old_words_still_map() -> None:
    assert {c: m.benefit for c, m in rules.MED_TYPES.items()} == {
        "11": "outpatient",
        "14": "inpatient",
        "21": "inpatient",
        "41": "outpatient",
    }
    assert rules.med_type("outpatient").code == "11" and rules.med_type("inpatient").code == "21"
    assert [c for c in rules.MED_TYPES if rules.is_inpatient(c)] == ["21"]
    with pytest.raises(KeyError):
        rules.med_type("99")


def test_general_codes_pay_as_their_policy_row() -> None:
    assert rules.benefit_for("11", OUTPATIENT_L3) == OUTPATIENT_L3
    assert rules.benefit_for("21", INPATIENT_L3) == INPATIENT_L3


def test_chronic_outpatient_pays_the_inpatient_ratio_without_deductible() -> None:
    r = settle("14", INPATIENT_L3, "1000.00")
    assert (r.act_pay_dedc, r.hifp_pay, r.pool_prop_selfpay) == (D("0.00"), D("850.00"), D("0.85"))
    assert (r.psn_part_amt, r.acct_pay, r.psn_cash_pay) == (D("150.00"), D("100.00"), D("50.00"))


def test_pharmacy_purchase_is_paid_by_account_and_cash_only() -> None:
    r = settle("41", OUTPATIENT_L3, "300.00")
    assert (r.act_pay_dedc, r.hifp_pay) == (D("0.00"), D("0.00"))
    assert (r.psn_part_amt, r.acct_pay, r.psn_cash_pay) == (D("300.00"), D("100.00"), D("200.00"))
