"""The analyst watchdog: limits the analyst account cannot lift, on direct connections too.

`/v1/sql` sets the session limits itself and refuses hints that lift them. A direct client
(mariadb, DBeaver) logged in as the analyst account is different: every limit TiDB has is a
session variable the account may change (`SET max_execution_time = 0`, `SET
tidb_mem_quota_query = ...`, `DO SLEEP(...)` is not limited at all), and `init_connect` only
sets defaults the session can overwrite. So a thread in the API process, on the root engine,
looks at the account's sessions every `watchdog_interval_s`:

- a statement running longer than `analyst_max_execution_ms`, or holding more memory than
  `analyst_mem_quota_bytes`, is interrupted with `KILL TIDB QUERY <id>`;
- a session whose transaction holds locks (`information_schema.tidb_trx.MEM_BUFFER_KEYS > 0`:
  the account cannot write, so its keys are locks, e.g. `SELECT ... FROM v_person FOR
  UPDATE`, TiDB #60468) raises an alarm (log + `medhtap_analyst_lock_holders`). It is NOT
  killed: at our pin, `KILL` of a session that is idle in a transaction with locks panics
  tidb-server (memory tracker, signal checked while the killed session rolls back) and the
  whole server goes down. Instead the server closes such a session itself once it sits idle
  in its transaction for `analyst_idle_txn_timeout_s` (set at login by migration 0010's
  init_connect; the ordinary close path, which is safe), and settlement meanwhile gets a 503
  with Retry-After after `lock_wait_timeout_s` (x attempts), never a 50 s hang.
- the tables of our database are checked for extra regions every
  `watchdog_region_check_s`: `SPLIT TABLE` has no privilege check at our pin (TiDB #62427),
  and on the local store one region is what keeps acknowledged transactions whole on a
  crash. A split cannot be undone there (regions never merge): alarm, metric, and the
  runtime's capabilities say the store is no longer crash-safe.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter, Gauge
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from medhtap.platform.settings import Settings

log = logging.getLogger("medhtap.analytics.watchdog")

KILLS = Counter(
    "medhtap_analyst_kills_total", "Analyst statements interrupted by the watchdog", ["reason"]
)
LOCK_HOLDERS = Gauge(
    "medhtap_analyst_lock_holders", "Analyst sessions whose transaction holds row locks"
)
SPLIT_TABLES = Gauge(
    "medhtap_split_tables", "Tables of the MedHTAP database split into more regions than usual"
)

SESSIONS_SQL = """
SELECT p.ID, p.COMMAND, p.TIME, p.MEM, COALESCE(t.MEM_BUFFER_KEYS, 0) AS locked_keys
FROM information_schema.processlist p
LEFT JOIN information_schema.tidb_trx t ON t.SESSION_ID = p.ID
WHERE p.USER = :user
"""


@dataclass
class Sweep:
    killed: list[tuple[int, str]] = field(default_factory=list)
    lock_holders: list[int] = field(default_factory=list)
    split_tables: dict[str, int] | None = None  # None: not checked on this sweep


def split_tables(conn: Connection, database: str) -> dict[str, int]:
    """Tables of `database` with more regions than partitions: someone ran SPLIT.

    Unsplit, a table has one region (one-region layout, or split-table on) or one per
    partition (split-table on); SPLIT TABLE / SPLIT PARTITION TABLE add more. Callable by
    the capability probe (root connection)."""
    parts = {
        str(name): int(n)
        for name, n in conn.execute(
            text(
                "SELECT table_name, COUNT(partition_name) FROM information_schema.partitions "
                "WHERE table_schema = :db GROUP BY table_name"
            ),
            {"db": database},
        )
    }
    tables = conn.execute(
        text(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = :db AND table_type = 'BASE TABLE'"
        ),
        {"db": database},
    ).scalars()
    quoted_db = database.replace("`", "``")
    split: dict[str, int] = {}
    for name in list(tables):
        q = f"`{quoted_db}`.`{str(name).replace('`', '``')}`"
        regions = {r[0] for r in conn.execute(text(f"SHOW TABLE {q} REGIONS"))}
        if len(regions) > max(1, parts.get(str(name), 0)):
            split[str(name)] = len(regions)
    return split


class AnalystWatchdog:
    def __init__(self, engine: Engine, settings: Settings, runtime: Any = None) -> None:
        self.engine = engine  # root: reads every session, may KILL
        self.user = settings.analyst_user
        self.database = settings.database
        self.max_s = settings.analyst_max_execution_ms / 1000
        self.mem_bytes = settings.analyst_mem_quota_bytes
        self.interval_s = settings.watchdog_interval_s
        self.region_check_s = settings.watchdog_region_check_s
        self.runtime = runtime  # its `capabilities` are marked unsafe on a split
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._since_regions = float("inf")  # check regions on the first sweep
        self.last: Sweep | None = None
        self._alarmed: set[int] = set()
        self._killed: dict[int, float] = {}
        self._split_alarmed: dict[str, int] = {}

    def sweep(self, *, regions: bool = False) -> Sweep:
        out = Sweep()
        now = time.time()
        killed: dict[int, float] = {}  # session -> start of the statement interrupted
        with self.engine.connect() as conn:
            for sid, command, secs, mem, locked in conn.execute(
                text(SESSIONS_SQL), {"user": self.user}
            ):
                running = str(command).lower() == "query"
                started = now - float(secs or 0)
                if running and abs(self._killed.get(int(sid), -1e9) - started) <= 2:
                    # interrupted already; a statement that ignores it (TiDB can hang in
                    # HashAggExec.Close after a cancel) is not killed again every sweep
                    killed[int(sid)] = self._killed[int(sid)]
                    continue
                reason = None
                if running and float(secs or 0) > self.max_s:
                    reason = "time"
                elif running and int(mem or 0) > self.mem_bytes:
                    reason = "memory"
                if int(locked or 0) > 0:
                    out.lock_holders.append(int(sid))
                # only statements of sessions holding no locks: see the module docstring
                elif reason and self._kill_query(conn, int(sid), reason, out):
                    killed[int(sid)] = started
            if regions:
                out.split_tables = split_tables(conn, self.database)
        self._killed = killed
        self._report(out)
        self.last = out
        return out

    def _kill_query(self, conn: Connection, sid: int, reason: str, out: Sweep) -> bool:
        try:
            conn.execute(text(f"KILL TIDB QUERY {int(sid)}"))
        except DBAPIError as exc:  # it ended meanwhile
            log.info("watchdog: session %d already gone (%s)", sid, exc.orig)
            return False
        KILLS.labels(reason).inc()
        out.killed.append((sid, reason))
        log.warning("watchdog: interrupted analyst session %d: over the %s limit", sid, reason)
        return True

    def _report(self, out: Sweep) -> None:
        LOCK_HOLDERS.set(len(out.lock_holders))
        new_holders = sorted(set(out.lock_holders) - self._alarmed)
        self._alarmed = set(out.lock_holders)  # alarm once per holder, not every sweep
        if new_holders:
            log.error(
                "watchdog: analyst session(s) %s hold row locks (SELECT ... FOR UPDATE through "
                "a view, TiDB #60468); settlements on those rows answer 503 until the server "
                "closes the idle transaction",
                new_holders,
            )
        if out.split_tables is None:
            return
        SPLIT_TABLES.set(len(out.split_tables))
        if out.split_tables and out.split_tables != self._split_alarmed:
            self._split_alarmed = dict(out.split_tables)
            log.error(
                "watchdog: table(s) %s were split into extra regions (SPLIT TABLE, TiDB "
                "#62427); on the local store acknowledged transactions are no longer "
                "crash-atomic until the data is reloaded into a fresh data dir",
                out.split_tables,
            )
            self._mark_not_crash_safe(out.split_tables)

    def _mark_not_crash_safe(self, split: dict[str, int]) -> None:
        caps = getattr(self.runtime, "capabilities", None)
        if caps is None or not getattr(caps, "crash_safe", False):
            return
        if getattr(caps, "store", None) != "unistore":
            return  # TiKV persists locks through Raft: a split costs nothing there
        reason = f"unistore: table(s) {', '.join(sorted(split))} split into several regions"
        self.runtime.capabilities = dataclasses.replace(
            caps, crash_safe=False, crash_safe_reason=reason
        )

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._since_regions += self.interval_s
            check = self._since_regions >= self.region_check_s
            try:
                self.sweep(regions=check)
                if check:
                    self._since_regions = 0
            except Exception:  # never let the thread die; the next sweep retries
                log.exception("watchdog sweep failed")

    def start(self) -> AnalystWatchdog:
        caps = getattr(self.runtime, "capabilities", None)
        if caps is not None and not caps.is_tidb:
            return self  # processlist/tidb_trx columns are TiDB's
        if self.interval_s > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="analyst-watchdog", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop after the sweep under way (a sweep left running would apply this watchdog's
        limits to sessions of whoever comes next)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
            if self._thread.is_alive():
                log.error("watchdog: a sweep is still running 60 s after stop")
            else:
                self._thread = None
