"""Pure parts of the analytics: the synthetic money rules, report ratios, chronic flags."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medhtap.analytics.profile import chronic_flags
from medhtap.analytics.reports import derive, parse_group_by
from medhtap.analytics.synthetic import CatItem, fen, half_up_div, settle_amounts, split_line
from medhtap.platform.errors import ValidationFailed

items = st.builds(
    CatItem,
    item_code=st.just("X"),
    item_kind=st.sampled_from(["drug", "service", "material"]),
    chrgitm_lv=st.sampled_from("ABC"),
    selfpay_bp=st.integers(0, 10_000),
    cap_fen=st.one_of(st.none(), st.integers(1, 10**7)),
    gend_lmt=st.sampled_from([None, "1", "2"]),
    age_min=st.one_of(st.none(), st.integers(0, 80)),
    age_max=st.one_of(st.none(), st.integers(0, 100)),
    max_qty=st.integers(1, 10),
)


@given(items, st.integers(1, 50), st.integers(0, 10**7), st.sampled_from("12"), st.integers(0, 100))
def test_a_line_split_always_sums_to_its_amount(item, cnt, pric, gend, age) -> None:
    s = split_line(item, cnt, pric, gend, age)
    assert s.fulamt + s.overlmt + s.preself + s.inscp == s.amount == cnt * pric
    assert min(s.fulamt, s.overlmt, s.preself, s.inscp) >= 0
    # a refused line (class C, gender, age) is wholly self-paid; otherwise nothing is
    assert s.fulamt == (s.amount if s.reason else 0)


@given(
    st.lists(st.tuples(items, st.integers(1, 5), st.integers(0, 10**6)), min_size=1, max_size=8),
    st.integers(0, 200_000),
    st.integers(0, 10_000),
    st.integers(0, 10**6),
)
def test_settlement_sums_are_the_sums_of_its_lines(lines, dedc, pool_bp, acct) -> None:
    splits = [split_line(i, c, p, "1", 40) for i, c, p in lines]
    m = settle_amounts(splits, dedc, pool_bp, acct)
    assert m.medfee == sum(s.amount for s in splits)
    assert m.inscp == sum(s.inscp for s in splits)
    assert 0 <= m.hifp <= m.inscp
    assert m.psn_part == m.medfee - m.hifp == m.acct + m.cash
    assert 0 <= m.acct <= acct


def test_rounding_is_half_up_and_fen_renders_signs() -> None:
    assert half_up_div(5, 10) == 1 and half_up_div(4, 10) == 0
    assert fen(-12345) == "-123.45" and fen(7) == "0.07"


def test_report_ratios_come_from_sums_and_tolerate_empty_groups() -> None:
    row = {
        "medfee_sumamt": Decimal("200"),
        "hifp_pay": Decimal("150"),
        "visits": 3,
        "drug_amt": Decimal("50"),
        "material_amt": Decimal("0"),
        "fee_amt": Decimal("200"),
        "psn_part_amt": Decimal("50"),
        "inpatient_days": 0,
        "inpatient_visits": 0,
    }
    d = derive(row)
    assert d["fund_share"] == Decimal("0.7500") and d["avg_cost_per_visit"] == Decimal("66.67")
    assert d["drug_share"] == Decimal("0.2500") and d["avg_inpatient_los"] is None


def test_group_by_is_whitelisted() -> None:
    assert parse_group_by("institution, month,institution") == ["institution", "month"]
    assert parse_group_by(None) == ["institution"]
    with pytest.raises(ValidationFailed):
        parse_group_by("institution; DROP TABLE visit")


def test_chronic_flags_by_icd10_category_range() -> None:
    assert chronic_flags(["E11.9", "I10", "J06.9", "C50.9", "N18.3", "E10.1"]) == {
        "diabetes": ["E10.1", "E11.9"],
        "hypertension": ["I10"],
        "malignant_neoplasm": ["C50.9"],
        "chronic_kidney_disease": ["N18.3"],
    }
    assert chronic_flags(["J06.9", "K35.8"]) == {}
