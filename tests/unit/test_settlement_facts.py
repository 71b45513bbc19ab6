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


def test_item_facts_sum_an_items_lines_and_copy_the_facts_group_keys() -> None:
    plus = fact(medfee_sumamt=D("16.75"))
    lines = [("B", D("10.00"), D("2")), ("A", D("5.50"), D("1")), ("B", D("1.25"), D("0.5"))]
    items = facts.item_facts(plus, lines)
    assert [(i["item_code"], i["det_item_fee_sumamt"], i["cnt"]) for i in items] == [
        ("A", D("5.50"), D("1")),
        ("B", D("11.25"), D("2.5")),
    ]
    for i in items:
        assert (i["setl_id"], i["sign"]) == ("S1", 1)
        assert {k: i[k] for k in facts.ITEM_KEYS} == {k: plus[k] for k in facts.ITEM_KEYS}
    with pytest.raises(ValueError):
        facts.item_facts(facts.reversal_fact(plus, "R1", BEGIN), lines)


@given(st.lists(st.tuples(st.sampled_from("ABC"), money, money), max_size=12))
def test_item_facts_and_their_reversal_sum_to_zero_and_keep_the_line_totals(lines: list) -> None:
    items = facts.item_facts(fact(), lines)
    assert sum((i["det_item_fee_sumamt"] for i in items), D(0)) == sum(
        (a for _, a, _ in lines), D(0)
    )
    assert sum((i["cnt"] for i in items), D(0)) == sum((q for _, _, q in lines), D(0))
    minus = facts.reversal_items(items)
    for p, m in zip(items, minus, strict=True):
        assert p["sign"] + m["sign"] == 0
        assert all(p[k] + m[k] == 0 for k in facts.ITEM_SUMS)
        assert {k: m[k] for k in ("setl_id", "item_code", *facts.ITEM_KEYS)} == {
            k: p[k] for k in ("setl_id", "item_code", *facts.ITEM_KEYS)
        }
    if minus:
        with pytest.raises(ValueError):
            facts.reversal_items(minus)
