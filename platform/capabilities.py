"""What the connected cluster can do, probed at start-up and shown on /readyz.

The same code runs against the local unistore server and a production cluster; features
that only a real cluster has (TiFlash, PD, multiple TiKV stores) are detected, never assumed.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Capabilities:
    server: str  # "tidb" or "mysql-compatible"
    version: str
    tidb_version: str | None
    store: str | None  # "unistore", "tikv", ...
    tikv_stores: int
    tiflash_stores: int
    resource_control: bool
    notes: list[str] = field(default_factory=list)
    # Does every acknowledged transaction survive a kill -9 of the database whole?
    crash_safe: bool = False
    crash_safe_reason: str = "not checked"

    @property
    def is_tidb(self) -> bool:
        return self.server == "tidb"

    @property
    def has_tiflash(self) -> bool:
        return self.tiflash_stores > 0

    @property
    def analytic_engine(self) -> str:
        """Where analytic queries are expected to run on this cluster."""
        return "tiflash" if self.has_tiflash else ("tikv" if self.is_tidb else "mysql")

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["has_tiflash"] = self.has_tiflash
        d["analytic_engine"] = self.analytic_engine
        return d


def _scalar(conn: Connection, sql: str) -> Any:
    return conn.execute(text(sql)).scalar()


@dataclass(frozen=True)
class CrashSafety:
    crash_safe: bool
    reason: str


# What the local store needs (deploy/tidb/local/tidb.toml, platform/localdb.CRASH_SAFE_GLOBALS).
MIN_COMMIT_BATCH = 1 << 30


def _on(value: Any) -> bool:
    return str(value).upper() in ("1", "ON")


def table_regions(conn: Connection, database: str) -> dict[str, set[int]]:
    """Region ids of every table of `database` (partitions included)."""
    tables = conn.execute(
        text(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = :db AND table_type = 'BASE TABLE' ORDER BY 1"
        ),
        {"db": database},
    ).scalars()
    regions: dict[str, set[int]] = {}
    for name in list(tables):
        quoted = f"`{database.replace('`', '``')}`.`{str(name).replace('`', '``')}`"
        rows = conn.execute(text(f"SHOW TABLE {quoted} REGIONS")).all()
        regions[str(name)] = {int(r[0]) for r in rows}
    return regions


def crash_safety(conn: Connection, store: str | None, database: str | None) -> CrashSafety:
    """The verdict for the connected server (root, to read @@tidb_config).

    A TiKV cluster persists prewrite locks through Raft: crash-safe. The local unistore keeps
    them in memory, so it is crash-safe only when every transaction commits in one step (1PC):
    one region for all MedHTAP tables, async commit off, 1PC on, a commit batch large enough
    (../shared TIDB-NOTES "Crash behaviour"). A SPLIT TABLE (the analyst account can, by a
    TiDB bug) breaks the one-region rule: call this periodically to notice.
    """
    if store == "tikv":
        return CrashSafety(True, "TiKV store: transactions and their locks persist through Raft")
    if store != "unistore":
        return CrashSafety(False, f"unknown store {store!r}: crash behaviour not established")
    try:
        config = json.loads(str(_scalar(conn, "SELECT @@tidb_config")))
    except (DBAPIError, ValueError) as exc:
        return CrashSafety(False, f"unistore: cannot read @@tidb_config ({exc})")
    if config.get("split-table", True):
        return CrashSafety(False, "unistore with split-table = true: a region per table")
    row = conn.execute(
        text(
            "SELECT @@global.tidb_enable_async_commit, @@global.tidb_enable_1pc, "
            "@@global.tidb_txn_commit_batch_size"
        )
    ).one()
    if _on(row[0]):
        return CrashSafety(False, "unistore with async commit on")
    if not _on(row[1]):
        return CrashSafety(False, "unistore with 1PC off")
    if int(row[2]) < MIN_COMMIT_BATCH:
        return CrashSafety(False, f"unistore with tidb_txn_commit_batch_size {row[2]}")
    database = database or _scalar(conn, "SELECT DATABASE()")
    if not database:
        return CrashSafety(False, "unistore: no database named, table regions not checked")
    try:
        regions = table_regions(conn, str(database))
    except DBAPIError as exc:
        return CrashSafety(False, f"unistore: cannot list regions ({exc.orig})")
    split = sorted(t for t, ids in regions.items() if len(ids) > 1)
    if split:
        return CrashSafety(
            False, f"unistore: table(s) {', '.join(split)} split into several regions"
        )
    if not regions:
        return CrashSafety(
            True,
            f"unistore: one-region layout, async commit off, 1PC on ({database} has no tables "
            "yet; checked again when asked)",
        )
    distinct = set().union(*regions.values())
    if len(distinct) > 1:
        return CrashSafety(
            False, f"unistore: the tables of {database} are in {len(distinct)} regions"
        )
    return CrashSafety(
        True,
        "unistore: one region, async commit off, 1PC on: each transaction is one write "
        "(a process crash keeps or drops it whole; no fsync, so not power-loss safe)",
    )


def check_crash_safety(engine: Engine, database: str | None = None) -> CrashSafety:
    """`crash_safety` on a connection of `engine` (a root engine), logged when unsafe."""
    with engine.connect() as conn:
        version = str(_scalar(conn, "SELECT VERSION()"))
        store = _store(conn) if "TiDB" in version else None
        verdict = crash_safety(conn, store, database)
    if not verdict.crash_safe:
        log.error("database is NOT crash-safe: %s", verdict.reason)
    return verdict


def _store(conn: Connection) -> str | None:
    for line in str(_scalar(conn, "SELECT tidb_version()")).splitlines():
        if line.startswith("Store:"):
            return line.split(":", 1)[1].strip()
    return None


def probe_connection(conn: Connection, database: str | None = None) -> Capabilities:
    version = str(_scalar(conn, "SELECT VERSION()"))
    if "TiDB" not in version:
        return Capabilities(
            "mysql-compatible",
            version,
            None,
            None,
            0,
            0,
            False,
            ["not TiDB: TiFlash, resource groups and placement are unavailable"],
            crash_safe_reason="not TiDB: crash behaviour not established",
        )
    notes: list[str] = []
    tidb_version = str(_scalar(conn, "SELECT tidb_version()"))
    store = _store(conn)
    kinds: dict[str, int] = {}
    try:
        for kind, n in conn.execute(
            text("SELECT LOWER(type), COUNT(*) FROM information_schema.cluster_info GROUP BY 1")
        ):
            kinds[str(kind)] = int(n)
    except DBAPIError as exc:  # pragma: no cover - old servers
        notes.append(f"cluster_info unavailable: {exc.orig}")
    tiflash = kinds.get("tiflash", 0)
    if tiflash == 0 and store != "unistore":
        # On a PD-backed cluster tikv_store_status also lists TiFlash stores by label.
        try:
            tiflash = int(
                _scalar(
                    conn,
                    "SELECT COUNT(*) FROM information_schema.tikv_store_status "
                    "WHERE label LIKE '%tiflash%'",
                )
                or 0
            )
        except DBAPIError:
            notes.append("tikv_store_status unavailable (no PD): TiFlash count from cluster_info")
    if tiflash == 0:
        notes.append("no TiFlash store: analytics run on the row store (TiKV)")
    rc = str(_scalar(conn, "SELECT @@global.tidb_enable_resource_control")).upper() in ("1", "ON")
    if rc and store == "unistore":
        # unistore keeps resource groups in an in-memory stand-in for PD: they vanish on
        # restart, and one query from a user bound to a vanished group marks the store
        # unreachable for every session (error 9005). Treat resource control as absent.
        rc = False
        notes.append("resource groups not durable on unistore: resource control unused")
    safety = crash_safety(conn, store, database)
    return Capabilities(
        server="tidb",
        version=version,
        tidb_version=tidb_version,
        store=store,
        tikv_stores=kinds.get("tikv", 0),
        tiflash_stores=tiflash,
        resource_control=rc,
        notes=notes,
        crash_safe=safety.crash_safe,
        crash_safe_reason=safety.reason,
    )


def probe(engine: Engine, database: str | None = None) -> Capabilities:
    """`database`: whose tables the crash-safety check inspects (default: the engine's)."""
    with engine.connect() as conn:
        caps = probe_connection(conn, database)
    log.info(
        "database: %s %s store=%s tikv=%d tiflash=%d resource_control=%s crash_safe=%s (%s)",
        caps.server,
        caps.version,
        caps.store,
        caps.tikv_stores,
        caps.tiflash_stores,
        caps.resource_control,
        caps.crash_safe,
        caps.crash_safe_reason,
    )
    if not caps.crash_safe:
        log.warning("database is NOT crash-safe: %s", caps.crash_safe_reason)
    for note in caps.notes:
        log.info("database: %s", note)
    return caps
