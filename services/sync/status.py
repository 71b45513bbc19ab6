"""How far each HIS source's sync is behind: `medhtap sync status`, /metrics and /readyz."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import REGISTRY, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import DBAPIError

from medhtap.schema.base import table
from medhtap.schema.sync import DataQualityEvent, SyncDeadLetter, SyncPosition, SyncSource


def status_rows(engine: Engine) -> list[dict[str, Any]]:
    """Per source: position, lag of the last applied transaction behind its commit on the
    source (`lag_s`), time since anything was applied, open dead letters, quality events."""
    pos, src = table(SyncPosition), table(SyncSource)
    dead, dq = table(SyncDeadLetter), table(DataQualityEvent)
    open_dead = (
        select(func.count())
        .where(dead.c.source_id == src.c.source_id, dead.c.replayed_at.is_(None))
        .scalar_subquery()
    )
    quality = select(func.count()).where(dq.c.source_id == src.c.source_id).scalar_subquery()
    stmt = select(
        src.c.source_id,
        src.c.fixmedins_code,
        pos.c.gtid,
        pos.c.snapshot_done,
        pos.c.source_commit_time,
        pos.c.applied_at,
        pos.c.events,
        open_dead.label("dead_letters"),
        quality.label("quality_events"),
    ).outerjoin(pos, pos.c.source_id == src.c.source_id)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(stmt)]
    now = dt.datetime.now()
    for r in rows:
        applied, committed = r["applied_at"], r["source_commit_time"]
        r["lag_s"] = (applied - committed).total_seconds() if applied and committed else None
        r["since_apply_s"] = (now - applied).total_seconds() if applied else None
    return rows


def health(engine: Engine, lag_max_s: float) -> dict[str, Any] | None:
    """For /readyz: None when no source is registered (or the tables are not there)."""
    try:
        rows = status_rows(engine)
    except DBAPIError:
        return None
    if not rows:
        return None
    lagging = sorted(r["source_id"] for r in rows if (r["lag_s"] or 0) > lag_max_s)
    return {
        "lag_max_s": lag_max_s,
        "lagging": lagging,
        "sources": {
            r["source_id"]: {
                "lag_s": r["lag_s"],
                "since_apply_s": r["since_apply_s"],
                "dead_letters": r["dead_letters"],
            }
            for r in rows
        },
    }


class _LagCollector(Collector):
    """Reads the positions at scrape time from every API engine being tracked."""

    def __init__(self) -> None:
        self.engines: list[Engine] = []
        self.lock = threading.Lock()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        lag = GaugeMetricFamily(
            "medhtap_sync_lag_seconds",
            "How far the last applied HIS transaction was behind its commit on the source",
            labels=["source"],
        )
        idle = GaugeMetricFamily(
            "medhtap_sync_since_apply_seconds",
            "Seconds since the sync last applied a transaction of the source",
            labels=["source"],
        )
        seen: set[str] = set()
        with self.lock:
            engines = list(self.engines)
        for engine in engines:
            try:
                rows = status_rows(engine)
            except DBAPIError:
                continue
            for r in rows:
                if r["source_id"] in seen or r["lag_s"] is None:
                    continue
                seen.add(r["source_id"])
                lag.add_metric([r["source_id"]], r["lag_s"])
                idle.add_metric([r["source_id"]], r["since_apply_s"])
        yield lag
        yield idle

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())  # collect() reads the database: never at registration


LAG = _LagCollector()
REGISTRY.register(LAG)


def track(engine: Engine) -> None:
    with LAG.lock:
        LAG.engines.append(engine)


def untrack(engine: Engine) -> None:
    with LAG.lock:
        if engine in LAG.engines:
            LAG.engines.remove(engine)
