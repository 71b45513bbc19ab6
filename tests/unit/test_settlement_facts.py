"""The analytic fact of a settlement (services/settlement/facts.py): pure functions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medhtap.services.settlement import facts
from medhtap.services.settlement.rules import AMOUNTS

BEGIN = dt.datetime(2026, 3, 10, 9, 30)
money = st.decimals(min_value=-(10**6), max_value=10**6, places=2, allow_nan=False)


def fact(**amounts: D) -> dict:
    setl = {
        "setl_id": "S1",
        "setl_time": BEGIN + dt.timedelta(days=2),
        "fixmedins_code": "H1",
        "hosp_lv": 3,
        "insutype": "310",
        "med_type": "inpatient",
        **{k: amounts.get(k, D("0.00")) for k in AMOUNTS},
    }
    visit = {
        "mdtrt_id": "M1",
        "dept_name": "Cardiology",
        "begntime": BEGIN,
        "endtime": BEGIN + dt.timedelta(days=2, hours=3),
        "main_diag_code": "I21.9",
    }
    person = {"psn_no": "P1", "gend": "1", "brdy": dt.date(1960, 3, 11), "admdvs": "110100"}
    lines = [("drug", D("10.00")), ("service", D("5.50")), ("drug", D("1.25"))]
    return facts.settlement_fact(setl, visit, person, facts.Diag("I20-I25", "IX"), lines)


def test_a_fact_carries_the_dimensions_and_the_sums_by_item_kind() -> None:
    f = fact(medfee_sumamt=D("16.75"))
    assert (f["drug_amt"], f["service_amt"], f["material_amt"]) == (
        D("11.25"),
        D("5.50"),
        D("0.00"),
    )
    assert (f["age"], f["age_band"]) == (65, "60-69")  # one day before the 66th birthday
    assert (f["los_days"], f["diag_chapter"], f["sign"]) == (2, "IX", 1)
    assert f["recorded_at"] == f["setl_time"]


@pytest.mark.parametrize(
    ("age", "band"), [(0, "00-06"), (6, "00-06"), (7, "07-17"), (44, "18-44"), (80, "80+")]
)
def test_age_bands(age: int, band: str) -> None:
    assert facts.age_band(age) == band


def test_length_of_stay_counts_a_same_day_stay_as_one_and_ignores_outpatients() -> None:
    assert facts.length_of_stay("inpatient", BEGIN, BEGIN + dt.timedelta(hours=5)) == 1
    assert facts.length_of_stay("inpatient", BEGIN, None) is None
    assert facts.length_of_stay("outpatient", BEGIN, BEGIN + dt.timedelta(days=3)) is None


@given(st.fixed_dictionaries({k: money for k in AMOUNTS}))
def test_a_settlement_and_its_reversal_sum_to_zero_in_every_group(amounts: dict) -> None:
    plus = fact(**amounts)
    minus = facts.reversal_fact(plus, "R1", BEGIN + dt.timedelta(days=9))
    assert all(plus[k] + minus[k] == 0 for k in facts.SUMS)
    assert plus["sign"] + minus["sign"] == 0
    same = ("setl_id", "setl_time", *facts.DIMENSIONS)
    assert {k: minus[k] for k in same} == {k: plus[k] for k in same}
    with pytest.raises(ValueError):
        facts.reversal_fact(minus, "R2", BEGIN)
