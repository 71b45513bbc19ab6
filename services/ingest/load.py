"""The write path: each batch of good rows goes in with LOAD DATA LOCAL INFILE ... IGNORE
inside one transaction with its checkpoint. IGNORE skips a row whose natural key is there
(a re-run, an overlapping export); every other server warning is a checker bug and fails."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pymysql
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from medhtap.platform import bulk
from medhtap.platform.db import bulk_connection
from medhtap.platform.settings import Settings
from medhtap.platform.tx import RETRYABLE_CODES, error_code, is_region_error
from medhtap.schema.base import table
from medhtap.schema.facts import SettlementFact, SettlementItemFact

from . import facts
from .errors import IngestError
from .spec import TableSpec

DUPLICATE_KEY = 1062


def connect(settings: Settings) -> pymysql.connections.Connection[Any]:
    return bulk_connection(
        settings.url(),
        autocommit=False,
        read_timeout=600,
        write_timeout=600,
        # Optimistic: a batch locks no keys one by one (about twice the rows/s of the
        # pessimistic default here); a conflict at commit re-runs the batch (`retrying`).
        init_command="SET SESSION tidb_txn_mode = 'optimistic'",
    )


# A batch re-runs whole after these: nothing of it was committed. 1062 at COMMIT is an
# optimistic transaction meeting a row another writer committed meanwhile: the re-run's
# IGNORE skips it.
RETRY_CODES = RETRYABLE_CODES | {1062}


def _retryable(exc: BaseException) -> bool:
    return error_code(exc) in RETRY_CODES or is_region_error(exc)


retrying = Retrying(
    retry=retry_if_exception(_retryable),
    stop=stop_after_attempt(5),
    wait=wait_random_exponential(multiplier=0.2, max=5),
    reraise=True,
)


def keys_per_row(spec: TableSpec) -> int:
    """The keys one row of `spec` writes in its batch's transaction: its own and, for a
    settlement, those of the facts and item facts it gets (facts.py)."""
    keys = bulk.keys_per_row(spec.table)
    if spec.name == "settlement":
        keys += facts.FACTS_PER_ROW * bulk.keys_per_row(table(SettlementFact))
        keys += (
            facts.FACTS_PER_ROW * facts.ITEMS_PER_ROW * bulk.keys_per_row(table(SettlementItemFact))
        )
    return keys


def rows_per_txn(spec: TableSpec) -> int:
    """At most this many rows a batch: one transaction stays under bulk.MAX_TXN_KEYS (a
    batch of 8 MiB of fee lines was ~50,000 rows, 150,000 keys: a region split)."""
    return max(1, (bulk.MAX_TXN_KEYS - 100) // keys_per_row(spec))  # 100: the checkpoint


def load_statement(spec: TableSpec, columns: list[str], path: str, crlf: bool) -> str:
    """Columns in file order; an empty field of a nullable column is NULL."""
    names, sets = [], []
    for i, name in enumerate(columns):
        if spec.column(name).required:
            names.append(f"`{name}`")
        else:
            names.append(f"@v{i}")
            sets.append(f"`{name}` = NULLIF(@v{i}, '')")
    eol = "\\r\\n" if crlf else "\\n"
    sql = (
        f"LOAD DATA LOCAL INFILE '{path}' IGNORE INTO TABLE `{spec.name}` CHARACTER SET utf8mb4 "
        f"FIELDS TERMINATED BY ',' ENCLOSED BY '\"' ESCAPED BY '' LINES TERMINATED BY '{eol}' "
        f"({', '.join(names)})"
    )
    return sql + (" SET " + ", ".join(sets) if sets else "")


class Loader:
    """LOAD DATA of in-memory bytes through a file in tmpfs (pymysql reads LOCAL files
    by name)."""

    def __init__(self, cur: Any, spec: TableSpec, columns: list[str], crlf: bool) -> None:
        shm = Path("/dev/shm")
        self.dir = tempfile.TemporaryDirectory(
            prefix="medhtap-ingest-", dir=shm if shm.is_dir() else None
        )
        self.path = os.path.join(self.dir.name, "batch.csv")
        self.sql = load_statement(spec, columns, self.path, crlf)
        self.cur = cur

    def load(self, data: bytes) -> int:
        """Rows inserted (rows already there are skipped)."""
        with open(self.path, "wb") as f:
            f.write(data)
        inserted = int(self.cur.execute(self.sql))
        if self.cur.connection._result.warning_count:  # noqa: SLF001 - pymysql's only handle
            self.cur.execute("SHOW WARNINGS")
            other = [w for w in self.cur.fetchall() if int(w[1]) != DUPLICATE_KEY]
            if other:
                raise IngestError(
                    f"the server changed or refused a checked value: {other[:3]}",
                    code="INGEST_SERVER_WARNING",
                )
        return inserted

    def close(self) -> None:
        self.dir.cleanup()


def store(cur: Any) -> str:
    """The storage engine the server reports (unistore, tikv, ...), or 'mysql'."""
    cur.execute("SELECT VERSION()")
    if "TiDB" not in str(cur.fetchone()[0]):
        return "mysql"
    cur.execute("SELECT tidb_version()")
    line = next((x for x in str(cur.fetchone()[0]).splitlines() if x.startswith("Store:")), "")
    return line.removeprefix("Store:").strip() or "unknown"


def write_path(settings: Settings, lanes: int) -> str:
    """Which write path this store gets, said before the import starts."""
    conn = connect(settings)
    try:
        kind = store(conn.cursor())
    finally:
        conn.close()
    base = (
        f"LOAD DATA LOCAL INFILE ... IGNORE on {lanes} connection(s), one optimistic "
        "transaction per batch with its checkpoint, committed in file order"
    )
    if kind == "tikv":
        return (
            f"{base} (store tikv: IMPORT INTO / TiDB Lightning physical import exist on this "
            "cluster, but need an empty table and server-readable storage and commit no "
            "checkpoint with the rows: not used)"
        )
    return f"{base} (store {kind}: IMPORT INTO needs PD and TiKV's import service)"
