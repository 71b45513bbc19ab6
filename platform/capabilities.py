"""What the connected cluster can do, probed at start-up and shown on /readyz.

The same code runs against the local unistore server and a production cluster; features
that only a real cluster has (TiFlash, PD, multiple TiKV stores) are detected, never assumed.
"""

from __future__ import annotations

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


def probe_connection(conn: Connection) -> Capabilities:
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
        )
    notes: list[str] = []
    tidb_version = str(_scalar(conn, "SELECT tidb_version()"))
    store = None
    for line in tidb_version.splitlines():
        if line.startswith("Store:"):
            store = line.split(":", 1)[1].strip()
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
    return Capabilities(
        server="tidb",
        version=version,
        tidb_version=tidb_version,
        store=store,
        tikv_stores=kinds.get("tikv", 0),
        tiflash_stores=tiflash,
        resource_control=rc,
        notes=notes,
    )


def probe(engine: Engine) -> Capabilities:
    with engine.connect() as conn:
        caps = probe_connection(conn)
    log.info(
        "database: %s %s store=%s tikv=%d tiflash=%d resource_control=%s",
        caps.server,
        caps.version,
        caps.store,
        caps.tikv_stores,
        caps.tiflash_stores,
        caps.resource_control,
    )
    for note in caps.notes:
        log.info("database: %s", note)
    return caps
