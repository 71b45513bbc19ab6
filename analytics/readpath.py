"""The one way analytics read: a snapshot transaction on the SELECT-only analyst account.

Every query reports which engine served it, read from the plan TiDB actually executed, and
how fresh its snapshot is. The analyst account may not run `EXPLAIN` over views (TiDB, like
MySQL, wants SELECT on the base tables for that: error 1345), but `EXPLAIN FOR CONNECTION`
on its own connection id needs no extra grant and returns the plan of the statement that
just ran, with its runtime statistics. So the read runs first and the plan is read after.
"""

from __future__ import annotations

import codecs
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pymysql.err import MySQLError
from sqlalchemy import Connection, Engine, TextClause, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from medhtap.analytics.errors import (
    AnalyticsUnavailable,
    QueryTimeout,
    QueryTooLarge,
    SqlFailed,
    SqlPermissionDenied,
)
from medhtap.platform.errors import ServiceUnavailable
from medhtap.platform.metrics import QUERY_SECONDS
from medhtap.platform.tx import CONNECTION_CODES, error_code, is_region_error

log = logging.getLogger("medhtap.analytics")

PERMISSION_CODES = frozenset({1044, 1142, 1143, 1227, 1345, 1356, 8121})
TIMEOUT_CODES = frozenset({3024})
MEMORY_CODES = frozenset({8001, 8175})
BUSY = frozenset({9001, 9002, 9003, 9004, 9005})  # PD/TiKV timeouts, busy, region unavailable

# TiDB cuts text at byte limits, sometimes inside a UTF-8 character: GROUP_CONCAT at
# group_concat_max_len, plan constants at 64 bytes. pymysql decodes strictly with the
# connection's `encoding`, and a decode error mid-result leaves the connection out of step
# with the server. Analytic connections decode with replacement instead (U+FFFD for the cut
# character); what they send is still strict UTF-8.
LENIENT_UTF8 = "medhtap-utf8-replace"


def _lenient_codec(name: str) -> codecs.CodecInfo | None:
    if name.replace("_", "-") != LENIENT_UTF8:
        return None
    return codecs.CodecInfo(
        name=LENIENT_UTF8,
        encode=codecs.utf_8_encode,
        decode=lambda data, errors="strict": codecs.utf_8_decode(data, "replace", True),
    )


codecs.register(_lenient_codec)


def decode_leniently(conn: Connection) -> None:
    """Make this pooled pymysql connection decode text with replacement (see LENIENT_UTF8)."""
    raw = conn.connection.dbapi_connection
    if raw is not None and hasattr(raw, "encoding"):
        raw.encoding = LENIENT_UTF8


@dataclass(frozen=True)
class PlanStep:
    id: str
    task: str
    access_object: str


@dataclass(frozen=True)
class Snapshot:
    """The MVCC snapshot a read transaction saw: every commit before `snapshot_time`."""

    tso: int | None
    snapshot_time: dt.datetime | None  # physical part of the TSO, UTC
    read_at: dt.datetime  # server UTC_TIMESTAMP(6) when the snapshot was taken
    read_at_local: dt.datetime  # NOW(6) then, in the session time zone (as setl_time is)

    def as_dict(self) -> dict[str, Any]:
        return {
            "tso": self.tso,
            "snapshot_time": self.snapshot_time.isoformat() if self.snapshot_time else None,
            "read_at": self.read_at.isoformat(),
            "read_at_local": self.read_at_local.isoformat(),
        }


@dataclass
class QueryResult:
    kind: str
    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool
    engine: str
    plan: list[PlanStep]
    elapsed_ms: float

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r, strict=True)) for r in self.rows]

    def meta(self) -> dict[str, Any]:
        return {"kind": self.kind, "engine": self.engine, "elapsed_ms": round(self.elapsed_ms, 2)}


def tso_time(tso: int) -> dt.datetime:
    """A TiDB TSO is (physical milliseconds << 18) | logical counter."""
    return dt.datetime.fromtimestamp((tso >> 18) / 1000, tz=dt.UTC).replace(tzinfo=None)


def classify_engine(steps: Iterable[PlanStep]) -> str:
    """tiflash MPP > tiflash > tikv > tidb (only computed in TiDB, e.g. constants)."""
    tasks = [s.task.lower() for s in steps]
    ids = [s.id.lower() for s in steps]
    if any("mpp[tiflash]" in t for t in tasks):
        return "mpp"
    if any("tiflash" in t for t in tasks):
        return "tiflash"
    if any("tikv" in t for t in tasks) or any(
        i.lstrip("└─├│ ").startswith(("point_get", "batch_point_get")) for i in ids
    ):
        return "tikv"
    return "tidb"


def plan_steps(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[PlanStep]:
    idx = {c.lower(): n for n, c in enumerate(columns)}
    i, t, a = idx.get("id", 0), idx.get("task", 3), idx.get("access object", 4)
    return [PlanStep(str(r[i]), str(r[t] or ""), str(r[a] or "")) for r in rows]


# TiDB at our pin sometimes ends a read with 1105 "context canceled" that no kill and no
# limit caused: tidb-server.log has no sqlkiller line for it, and "invalid cop task
# execution summaries length" at the same millisecond (IndexLookUp and table readers over
# setl_fact, risk watcher passes in CI, 2026-12-04). A cancel that fast is retried like a
# region error; one after SPURIOUS_CANCEL_S is taken for the time limit it usually is
# (translate_db_error), so a timed-out query is not run again.
SPURIOUS_CANCEL_S = 1.0


def spurious_cancel(exc: BaseException, attempt_s: float) -> bool:
    return (
        error_code(exc) == 1105 and "context canceled" in str(exc) and attempt_s < SPURIOUS_CANCEL_S
    )


def translate_db_error(exc: DBAPIError | MySQLError) -> Exception:
    """Map the server's refusal to a domain error; connection errors stay as they are."""
    code = error_code(exc)
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    args: tuple[Any, ...] = tuple(getattr(orig, "args", ()))
    message = str(args[1]) if len(args) > 1 else str(exc)
    if code in PERMISSION_CODES:
        return SqlPermissionDenied(message, tidb_code=code)
    # max_execution_time usually ends a query with 3024; when the deadline fires inside a
    # coprocessor task TiDB reports the cancelled context as a generic 1105 instead.
    if code in TIMEOUT_CODES or (code == 1105 and "context canceled" in message):
        return QueryTimeout(message, tidb_code=code)
    if code in MEMORY_CODES:
        return QueryTooLarge(message, tidb_code=code)
    if code in BUSY or is_region_error(exc):
        return ServiceUnavailable(f"the cluster is busy, retry: {message}", tidb_code=code)
    if code is None or code in CONNECTION_CODES:
        return exc
    return SqlFailed(message, tidb_code=code)


class ReadTxn:
    """Queries sharing one snapshot; see `read_txn`."""

    def __init__(self, conn: Connection, connection_id: int, snapshot: Snapshot) -> None:
        self.conn = conn
        self.connection_id = connection_id
        self.snapshot = snapshot
        self.results: list[QueryResult] = []

    def query(
        self,
        sql: str | TextClause,
        params: Mapping[str, Any] | None = None,
        *,
        kind: str,
        max_rows: int | None = None,
    ) -> QueryResult:
        stmt = text(sql) if isinstance(sql, str) else sql

        def run() -> tuple[list[str], list[tuple[Any, ...]]]:
            res = self.conn.execute(stmt, dict(params or {}))
            cols = list(res.keys())
            rows = res.fetchall() if max_rows is None else res.fetchmany(max_rows + 1)
            res.close()
            return cols, [tuple(r) for r in rows]

        return self._run(run, kind, max_rows)

    def query_raw(self, sql: str, *, kind: str, max_rows: int | None = None) -> QueryResult:
        """Run SQL text exactly as given: no bind-parameter or %-format parsing, since
        analyst SQL may hold ':name' or '%Y' inside string literals."""

        def run() -> tuple[list[str], list[tuple[Any, ...]]]:
            cur = self.conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                cur.execute(sql)  # no args: pymysql sends the text untouched
                cols = [d[0] for d in cur.description or ()]
                rows = cur.fetchall() if max_rows is None else cur.fetchmany(max_rows + 1)
                return cols, [tuple(r) for r in rows]
            finally:
                cur.close()

        return self._run(run, kind, max_rows)

    def _run(
        self,
        execute: Callable[[], tuple[list[str], list[tuple[Any, ...]]]],
        kind: str,
        max_rows: int | None,
    ) -> QueryResult:
        started = time.perf_counter()
        tried = [started]  # when the current attempt began

        def transient(e: BaseException) -> bool:
            attempt_s = time.perf_counter() - tried[0]
            tried[0] = time.perf_counter()
            return is_region_error(e) or error_code(e) in BUSY or spurious_cancel(e, attempt_s)

        try:
            # A read at a fixed snapshot is idempotent: transient TiKV region errors are
            # retried in place (same transaction, same snapshot) before anyone sees them.
            for attempt in Retrying(
                retry=retry_if_exception(transient),
                stop=stop_after_attempt(4),
                wait=wait_random_exponential(multiplier=0.05, max=1),
                reraise=True,
            ):
                with attempt:
                    columns, rows = execute()
        except (DBAPIError, MySQLError) as exc:
            QUERY_SECONDS.labels(kind, "error").observe(time.perf_counter() - started)
            raise translate_db_error(exc) from exc
        truncated = max_rows is not None and len(rows) > max_rows
        if truncated:
            rows = rows[:max_rows]
        elapsed_ms = (time.perf_counter() - started) * 1000
        plan = self._last_plan()
        engine = classify_engine(plan) if plan else "unknown"
        QUERY_SECONDS.labels(kind, engine).observe(elapsed_ms / 1000)
        result = QueryResult(kind, columns, rows, truncated, engine, plan, elapsed_ms)
        self.results.append(result)
        log.info(
            "analytic query kind=%s engine=%s elapsed_ms=%.1f rows=%d truncated=%s snapshot=%s",
            kind,
            engine,
            elapsed_ms,
            len(rows),
            truncated,
            self.snapshot.tso,
        )
        return result

    def _last_plan(self) -> list[PlanStep]:
        try:
            res = self.conn.exec_driver_sql(f"EXPLAIN FOR CONNECTION {int(self.connection_id)}")
            return plan_steps(list(res.keys()), res.fetchall())
        except DBAPIError as exc:  # not TiDB, or a server without the statement
            log.warning("could not read the executed plan: TiDB error %s", error_code(exc))
            return []

    def engines(self) -> list[str]:
        return sorted({r.engine for r in self.results})

    def meta(self) -> dict[str, Any]:
        """What every answer carries: engine(s), elapsed time, snapshot freshness."""
        engines = self.engines()
        return {
            "engine": engines[0] if len(engines) == 1 else "+".join(engines),
            "elapsed_ms": round(sum(r.elapsed_ms for r in self.results), 2),
            "snapshot": self.snapshot.as_dict(),
            "queries": [r.meta() for r in self.results],
        }


def _connect(engine: Engine, retry_after_s: int) -> Connection:
    try:
        return engine.connect()
    except PoolTimeout as exc:
        raise AnalyticsUnavailable(
            "no analytic database connection is free: retry later", retry_after_s=retry_after_s
        ) from exc


@contextmanager
def read_txn(engine: Engine, *, retry_after_s: int = 2) -> Iterator[ReadTxn]:
    """One read transaction: every query inside sees the same snapshot (start TSO)."""
    with _connect(engine, retry_after_s) as conn:
        decode_leniently(conn)
        # An explicit BEGIN allocates the start TSO now, so @@tidb_current_ts is the
        # snapshot all following SELECTs read; the context always ends in ROLLBACK.
        conn.exec_driver_sql("BEGIN")
        cid, ts, now, local_now = conn.exec_driver_sql(
            "SELECT CONNECTION_ID(), @@tidb_current_ts, UTC_TIMESTAMP(6), NOW(6)"
        ).one()
        tso = int(ts) if ts and int(ts) > 0 else None
        snap = Snapshot(tso, tso_time(tso) if tso else None, now, local_now)
        try:
            yield ReadTxn(conn, int(cid), snap)
        finally:
            conn.rollback()
