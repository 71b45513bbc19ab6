"""Risk control as it happens: the rules re-run over what settled since a stored watermark.

`watch_once` reads the analytic facts recorded since the watermark (settlements and
cancels, through the analyst view), runs the rules over the days those settlements touch
(their visits' first day up to today: the rules' own SQL looks back as far as each rule
needs, e.g. 30 days for high-frequency outpatient use) for those settlements' persons,
visits or institutions only (each rule's /*SCOPE*/ marker, analytics/risk.py): a pass costs
what settled since the last one, not the whole day again (the first version re-ran every
rule over all of today's settlements and re-stored all of today's alerts every two
seconds). Above `SCOPE_MAX_FACTS` new facts it evaluates the days in full. It stores the
alerts with the same
deduplication as a manual run (rule, dedupe key: a known alert is refreshed, a closed one
stays closed), then moves the watermark. `RiskWatcher` calls it every few seconds in the API
process. A full re-run is still `POST /v1/risk/run` / `medhtap risk run`.

The watermark W is where the rollups' is (analytics/rollup.py `safe_watermark`): earlier,
by a margin, than both now and the start of every transaction still open, so every fact
recorded before W is committed and was seen by this pass or an earlier one. A pass reads
the facts recorded after the stored W; re-reading the few recorded since (alerts
deduplicate) is the price of never missing a late commit. A fixed look-back (the first
version re-read the last 60 s) re-evaluated whatever a bulk load had recorded in that
minute, a year of visits, on every pass.

A pass covers at most `MAX_DAYS` (a settlement of a visit that began earlier, e.g. from an
import of history, is evaluated on its last `MAX_DAYS`): the watcher runs on the analyst
account, whose statements are stopped after `analyst_max_execution_ms`, and a year's window
at 1M visits does not fit; the full run covers longer windows.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading

from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.dialects.mysql import insert as mysql_insert

from medhtap.analytics import rollup, sqlfiles
from medhtap.analytics.risk import SCOPE_KINDS, RunOutcome, Scope, run_rules
from medhtap.schema.base import table
from medhtap.schema.facts import RiskWatermark

log = logging.getLogger("medhtap.analytics.watch")
WATERMARK = table(RiskWatermark)
MAX_DAYS = 31
FIRST_LOOKBACK = dt.timedelta(days=1)  # a watcher with no watermark starts from here
# A pass evaluates the rules for the persons, visits and institutions of at most this many
# new facts; more (a bulk load's burst) and it evaluates the days they touch in full.
SCOPE_MAX_FACTS = 5000


def watch_once(
    read_engine: Engine,
    write_engine: Engine,
    name: str = "risk",
    margin: dt.timedelta = rollup.MARGIN,
) -> RunOutcome | None:
    """One pass: rules over the days touched since the watermark; None if nothing new."""
    with write_engine.connect() as conn:
        mark = conn.execute(
            select(WATERMARK.c.recorded_at).where(WATERMARK.c.name == name)
        ).scalar()
        # before the facts are read: what committed before it is in the snapshot below
        # (the read engine's own transactions, the analyst account's, never hold it back)
        safe = rollup.safe_watermark(conn, read_engine.url.username or "", margin)
    since = mark if mark else dt.datetime.now() - FIRST_LOOKBACK
    with read_engine.connect() as conn:
        new = conn.execute(text(sqlfiles.load("risk_since")), {"since": since}).one()
        if not new.n:
            return None
        scope = _scope(conn, since) if new.n <= SCOPE_MAX_FACTS else None
    today = dt.date.today()
    first = max(min(new.first_visit.date(), today), today - dt.timedelta(days=MAX_DAYS))
    outcome = run_rules(read_engine, write_engine, first, today, scope=scope)
    outcome.meta["scope"] = "whole window" if scope is None else f"new facts: {new.n}"
    newest = max(since, min(new.newest, safe))
    with write_engine.begin() as conn:
        ins = mysql_insert(WATERMARK).values(name=name, recorded_at=newest, run_id=outcome.run_id)
        conn.execute(
            ins.on_duplicate_key_update(recorded_at=ins.inserted.recorded_at, run_id=outcome.run_id)
        )
    return outcome


def _scope(conn: Connection, since: dt.datetime) -> Scope:
    rows = conn.execute(text(sqlfiles.load("risk_since_keys")), {"since": since}).all()
    return {k: frozenset(getattr(r, k) for r in rows) for k in SCOPE_KINDS}


class RiskWatcher:
    """A daemon thread running `watch_once` every `interval_s` seconds until stopped.

    With `reader` (the read-only analyst account) each pass first folds the cost rollups
    (analytics/rollup.py: their watermark ignores that account's transactions), so reports
    read little more than a rollup and stay T+0."""

    def __init__(
        self,
        read_engine: Engine,
        write_engine: Engine,
        interval_s: float,
        *,
        reader: str | None = None,
    ) -> None:
        self.read_engine, self.write_engine, self.interval_s = read_engine, write_engine, interval_s
        self.reader = reader
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="risk-watcher", daemon=True)

    def start(self) -> RiskWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            if self.reader is not None:
                try:
                    rollup.fold_once(self.write_engine, self.reader)
                except Exception:  # the next tick folds what this one did not
                    log.exception("rollup fold failed")
            try:
                out = watch_once(self.read_engine, self.write_engine)
                if out is not None and any(r.new for r in out.rules):
                    log.info("risk watcher: %s", out.as_json()["new_alerts"])
            except Exception:  # a failed pass is retried at the next tick
                log.exception("risk watcher pass failed")
