"""Invariants of the money rules over random lines, persons and policies (hypothesis)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from medhtap.services.settlement.rules import (
    AMOUNTS,
    ZERO,
    Benefit,
    Item,
    Line,
    Person,
    Result,
    Used,
    settle,
    split_line,
)

DAY = dt.date(2026, 6, 15)


def dec(lo: str, hi: str, places: int) -> st.SearchStrategy[D]:
    return st.decimals(
        min_value=D(lo), max_value=D(hi), places=places, allow_nan=False, allow_infinity=False
    )


items = st.builds(
    Item,
    item_code=st.sampled_from(["I1", "I2", "I3", "I4"]),
    chrgitm_lv=st.sampled_from(["A", "B", "C"]),
    item_kind=st.sampled_from(["drug", "service", "material"]),
    selfpay_prop=dec("0", "1", 2),
    pric_uplmt_amt=st.none() | dec("0", "2000", 4),
    gend_lmt=st.none() | st.sampled_from(["1", "2"]),
    age_min=st.none() | st.integers(0, 60),
    age_max=st.none() | st.integers(10, 120),
)
lines = st.lists(
    st.builds(
        Line,
        feedetl_sn=st.uuids().map(str),
        item=items,
        cnt=dec("0.0001", "10000", 4),
        pric=dec("0", "1000000", 4),
    ),
    min_size=1,
    max_size=12,
)
persons = st.builds(
    Person,
    insutype=st.sampled_from(["310", "390"]),
    gend=st.sampled_from(["1", "2", "9"]),
    brdy=st.dates(dt.date(1920, 1, 1), DAY),
    acct_balc=dec("0", "100000", 2),
)
benefits = st.builds(
    Benefit,
    dedc_amt=dec("0", "5000", 2),
    dedc_scope=st.sampled_from(["year", "admission"]),
    pool_prop=dec("0", "1", 4),
    annual_cap=dec("0", "500000", 2),
)
useds = st.builds(Used, dedc_used=dec("0", "6000", 2), hifp_paid=dec("0", "600000", 2))


def cents(*values: D) -> bool:
    return all(v == v.quantize(D("0.01")) for v in values)


def check(r: Result, person: Person, benefit: Benefit, used: Used, use_account: bool) -> None:
    for name in AMOUNTS:
        v = getattr(r, name)
        assert v >= ZERO, name
        assert cents(v), name
    assert r.medfee_sumamt == (
        r.fulamt_ownpay_amt + r.overlmt_selfpay + r.preselfpay_amt + r.inscp_scp_amt
    )
    assert r.act_pay_dedc <= r.inscp_scp_amt
    if benefit.dedc_scope == "year":
        assert r.act_pay_dedc <= max(benefit.dedc_amt - used.dedc_used, ZERO)
    else:
        assert r.act_pay_dedc == min(r.inscp_scp_amt, benefit.dedc_amt)
    assert r.hifp_pay <= r.inscp_scp_amt - r.act_pay_dedc
    assert r.hifp_pay <= max(benefit.annual_cap - used.hifp_paid, ZERO)
    assert r.psn_part_amt + r.hifp_pay == r.medfee_sumamt
    assert r.acct_pay + r.psn_cash_pay == r.psn_part_amt
    assert r.acct_pay <= person.acct_balc
    if not use_account or person.insutype != "310":
        assert r.acct_pay == ZERO
    else:
        assert r.acct_pay == min(person.acct_balc, r.psn_part_amt)
    assert r.pool_prop_selfpay == benefit.pool_prop


class TestLineSplit:
    @given(line=lines.map(lambda ls: ls[0]), person=persons)
    def test_parts_are_whole_cents_and_add_up_to_the_amount(
        self, line: Line, person: Person
    ) -> None:
        s = split_line(line, person, DAY)
        parts = (s.fulamt_ownpay_amt, s.overlmt_selfpay, s.preselfpay_amt, s.inscp_scp_amt)
        assert all(p >= ZERO for p in parts) and cents(s.amount, *parts)
        assert sum(parts, ZERO) == s.amount
        if line.item.chrgitm_lv == "C":
            assert s.fulamt_ownpay_amt == s.amount and s.ownpay_reason == "class_c"
        if s.ownpay_reason is None:
            assert s.fulamt_ownpay_amt == ZERO
            if line.item.chrgitm_lv == "A":
                assert s.preselfpay_amt == ZERO


class TestSettle:
    @settings(max_examples=300)
    @given(lines=lines, person=persons, benefit=benefits, used=useds, use_account=st.booleans())
    def test_invariants_hold_for_any_visit(
        self, lines: list[Line], person: Person, benefit: Benefit, used: Used, use_account: bool
    ) -> None:
        r = settle(lines, person, DAY, benefit, used, use_account=use_account)
        check(r, person, benefit, used, use_account)
        assert [s.feedetl_sn for s in r.lines] == [ln.feedetl_sn for ln in lines]

    @given(
        visits=st.lists(lines, min_size=1, max_size=8),
        person=persons,
        benefit=benefits,
        use_account=st.booleans(),
    )
    def test_a_year_of_visits_never_exceeds_deductible_cap_or_balance(
        self, visits: list[list[Line]], person: Person, benefit: Benefit, use_account: bool
    ) -> None:
        """Feed each settlement's amounts into the next, as the service does."""
        used, balance = Used(), person.acct_balc
        total_dedc = total_hifp = total_acct = ZERO
        for vl in visits:
            p = Person(person.insutype, person.gend, person.brdy, balance)
            r = settle(vl, p, DAY, benefit, used, use_account=use_account)
            check(r, p, benefit, used, use_account)
            used = Used(used.dedc_used + r.act_pay_dedc, used.hifp_paid + r.hifp_pay)
            balance -= r.acct_pay
            total_dedc += r.act_pay_dedc
            total_hifp += r.hifp_pay
            total_acct += r.acct_pay
        assert total_hifp <= benefit.annual_cap
        assert total_acct <= person.acct_balc and balance >= ZERO
        if benefit.dedc_scope == "year":
            assert total_dedc <= benefit.dedc_amt

    @given(lines=lines, person=persons, benefit=benefits, used=useds)
    def test_order_of_lines_does_not_change_the_totals(
        self, lines: list[Line], person: Person, benefit: Benefit, used: Used
    ) -> None:
        a = settle(lines, person, DAY, benefit, used, use_account=True)
        b = settle(list(reversed(lines)), person, DAY, benefit, used, use_account=True)
        assert [getattr(a, n) for n in AMOUNTS] == [getattr(b, n) for n in AMOUNTS]
