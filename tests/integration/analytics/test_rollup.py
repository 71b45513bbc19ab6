"""Cost rollups (analytics/rollup.py): a report read from the rollup plus the facts recorded
since its fold equals the report over the base tables, for every group_by, whatever was
folded when; and a fact whose transaction is still open while the worker folds is neither
lost nor counted twice."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid

import pytest
from sqlalchemy import Engine, insert, text

from medhtap.analytics import rollup
from medhtap.analytics.reports import DIMENSIONS, cost_report
from medhtap.platform.settings import Settings
from medhtap.schema.models import SettlementFact
from tests.integration.analytics.test_report_facts import (
    DRUG,
    MATERIAL,
    SERVICE,
    base_report,
    report,
)


def fold(engine: Engine, settings: Settings, margin: dt.timedelta = rollup.MARGIN) -> None:
    rollup.fold_once(engine, settings.analyst_user, margin=margin)


def source(read_engine: Engine, dim: str, window) -> dict[str, object]:
    rep = cost_report(read_engine, window.date_from, window.date_to, [dim], top_items=False)
    return dict(rep.meta["source"])


@pytest.mark.parametrize("dim", list(DIMENSIONS))
def test_given_folds_between_settlements_and_cancels_the_report_equals_the_base_tables(
    dim: str, factory, window, read_engine: Engine, engine: Engine, settings: Settings
) -> None:
    a, b = factory.person(), factory.person(gend="2", brdy=dt.date(1950, 3, 3))
    first = factory.visit(a, begntime=window.at(2), lines=[(DRUG, 2, "40.00")])
    factory.visit(
        b,
        begntime=window.at(3),
        med_type="inpatient",
        endtime=window.at(8),
        fixmedins_code="H11010500003",
        diag="J18.9",
        dept="Respiratory",
        lines=[(MATERIAL, 5, "20.00"), (SERVICE, 1, "50.00")],
    )
    fold(engine, settings)  # now in the rollup; what follows is the tail
    factory.visit(b, begntime=window.at(10), diag="J06.9", lines=[(SERVICE, 2, "15.00")])
    factory.cancel(first, window.at(11))  # a folded +1 fact, its -1 fact in the tail
    factory.visit(a, begntime=window.at(12), lines=[(DRUG, 1, "9.00")], cancel=True)

    start, end = window.date_from, window.date_to
    assert source(read_engine, dim, window)["from"] == "rollup+tail"
    assert report(read_engine, dim, start, end) == base_report(engine, dim, start, end)
    fold(engine, settings)  # the tail folded too
    assert report(read_engine, dim, start, end) == base_report(engine, dim, start, end)
    got = report(read_engine, dim, start, end)
    assert sum(v[0] for v in got.values()) == 2  # the cancelled visits are not there


def test_a_grouping_without_a_rollup_is_read_from_the_facts_and_registered(
    factory, window, read_engine: Engine, engine: Engine, settings: Settings
) -> None:
    factory.visit(factory.person(), begntime=window.at(4))
    dims = rollup.dims_of(["age_band", "gender"])
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM rollup_state WHERE dims = :d"), {"d": dims})
    asked: list[str] = []
    rep = cost_report(
        read_engine,
        window.date_from,
        window.date_to,
        ["age_band", "gender"],
        top_items=False,
        on_missing_rollup=asked.append,
    )
    assert rep.meta["source"]["from"] == "facts" and asked == [dims]
    rollup.register(engine, dims)
    fold(engine, settings)
    again = cost_report(
        read_engine, window.date_from, window.date_to, ["age_band", "gender"], top_items=False
    )
    assert again.meta["source"]["from"] == "rollup+tail"
    assert [g["visits"] for g in again.groups] == [g["visits"] for g in rep.groups]


def test_a_fact_whose_transaction_is_open_during_a_fold_is_counted_once(
    factory, window, read_engine: Engine, engine: Engine, settings: Settings
) -> None:
    """A settlement's recorded_at is taken inside its transaction, before COMMIT. A fold
    that moved its watermark past that time while the transaction was still open (its fact
    not yet visible) would leave the fact out of the rollup and out of the tail."""
    margin = dt.timedelta(seconds=1)
    visit = factory.visit(factory.person(), begntime=window.at(5))
    with engine.connect() as conn:
        fact = dict(
            conn.execute(
                SettlementFact.__table__.select().where(
                    SettlementFact.__table__.c.setl_id == visit.setl_id
                )
            )
            .one()
            ._mapping
        )
    late = fact | {"setl_id": "L" + uuid.uuid4().hex, "mdtrt_id": "L" + uuid.uuid4().hex}
    fold(engine, settings, margin)
    before = report(read_engine, "institution", window.date_from, window.date_to)

    opened, release = threading.Event(), threading.Event()

    def slow_settlement() -> None:
        with engine.begin() as conn:
            late["recorded_at"] = conn.execute(text("SELECT NOW(6)")).scalar_one()
            conn.execute(insert(SettlementFact.__table__).values(late))
            opened.set()
            release.wait(30)

    writer = threading.Thread(target=slow_settlement)
    writer.start()
    assert opened.wait(30)
    time.sleep(2 * margin.total_seconds() + 0.5)  # its recorded_at is now older than the margin
    fold(engine, settings, margin)  # must not move the watermark past the open transaction
    release.set()
    writer.join(30)
    fold(engine, settings, margin)

    after = report(read_engine, "institution", window.date_from, window.date_to)
    (key,) = before
    assert after[key][0] == before[key][0] + 1  # counted, once
    assert after[key][2] == before[key][2] + fact["medfee_sumamt"]
