"""Persons kept from a base (analytics/persons.py): after the base is counted, new visits,
repeat visits, cancels of folded and unfolded settlements and re-settlements are recounted
for just the persons they touch, and every answer equals a distinct count over the base
tables, before and after the worker folds."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import Engine

from medhtap.analytics import persons
from medhtap.analytics.reports import cost_report
from medhtap.platform.settings import Settings
from tests.integration.analytics.test_report_facts import MEASURES, base_report
from tests.integration.analytics.test_rollup import fold

PERSONS = MEASURES.index("persons")


def settled_before_the_fold(engine: Engine, settings: Settings) -> None:
    """Fold with a short margin once what was settled is older than it: those facts are
    then before the watermark, in a base, not in the tail."""
    margin = dt.timedelta(seconds=1)
    time.sleep(1.2)
    fold(engine, settings, margin)


def counted(read_engine: Engine, dim: str, window) -> tuple[dict[object, int], str]:
    """The report's persons per group, and how they were counted."""
    rep = cost_report(read_engine, window.date_from, window.date_to, [dim], top_items=False)
    got = {tuple(g[k] for k in rep.key_columns): g["persons"] for g in rep.groups}
    return got, rep.meta["source"]["persons"]["from"]


def expected(engine: Engine, dim: str, window) -> dict[object, int]:
    base = base_report(engine, dim, window.date_from, window.date_to)
    return {k: v[PERSONS] for k, v in base.items()}


@pytest.mark.parametrize("dim", ["institution", "month", "diagnosis", "gender"])
def test_persons_from_a_base_and_the_changed_persons_equal_the_base_tables(
    dim: str, factory, window, read_engine: Engine, engine: Engine, settings: Settings
) -> None:
    persons.forget()
    a, b, c, d = (factory.person() for _ in range(4))
    a1 = factory.visit(a, begntime=window.at(2))
    b1 = factory.visit(b, begntime=window.at(3), diag="J18.9", fixmedins_code="H11010500003")
    d1 = factory.visit(d, begntime=window.at(4))
    settled_before_the_fold(engine, settings)
    # cancelled after the fold, before the base is counted: the base must still count d
    # at its watermark (the cancel's -1 fact is after it), and the answer must not
    factory.cancel(d1, window.at(5))
    factory.visit(b, begntime=window.at(5, 12))  # b, counted in the base, settles again
    assert counted(read_engine, dim, window) == (expected(engine, dim, window), "new base")

    factory.visit(c, begntime=window.at(6))  # a new person
    factory.visit(a, begntime=window.at(7), diag="J06.9")  # a repeat visit, maybe a new group
    factory.cancel(a1, window.at(8))  # a keeps the repeat visit
    factory.cancel(b1, window.at(9))  # b's only settlement: b leaves its groups
    factory.visit(b, begntime=window.at(10), diag="J18.9", fixmedins_code="H11010500003")
    factory.visit(d, begntime=window.at(11), cancel=True)  # settled and cancelled since
    want = expected(engine, dim, window)
    assert counted(read_engine, dim, window) == (want, "base+changed")
    settled_before_the_fold(engine, settings)  # the base moves to the new watermark
    assert counted(read_engine, dim, window) == (want, "base+changed")
    assert counted(read_engine, dim, window) == (want, "base+changed")
    assert sum(want.values()) >= 3


def test_without_a_rollup_persons_are_counted_from_the_facts(
    factory, window, read_engine: Engine
) -> None:
    factory.visit(factory.person(), begntime=window.at(4))
    wide = ["institution", "diagnosis", "gender"]  # three keys: no rollup, read live
    rep = cost_report(read_engine, window.date_from, window.date_to, wide, top_items=False)
    assert rep.meta["source"]["persons"] == {"from": "facts"}
    assert [g["persons"] for g in rep.groups] == [1]


def test_more_changed_persons_than_the_bound_are_counted_from_the_facts(
    factory, window, read_engine: Engine, engine: Engine, settings: Settings, monkeypatch
) -> None:
    persons.forget()
    monkeypatch.setattr(persons, "MAX_CHANGED", 1)
    for _ in range(2):  # two persons in the tail: past the bound
        factory.visit(factory.person(), begntime=window.at(3))
    assert counted(read_engine, "institution", window) == (
        expected(engine, "institution", window),
        "facts",
    )
