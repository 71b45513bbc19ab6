"""Where an import of one file stands, stored in TiDB and written in the same transaction
as the batch it covers: a kill at any moment leaves the rows and the position in step.

Two connections (lanes) load batches at once and commit them in file order, each writing
only its own row (no write conflict between them); so the committed batches are always a
prefix of the file, and the lane row with the highest offset says where it ends."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

COLUMNS = (
    "content_sha256",
    "target_table",
    "lane",
    "file_name",
    "file_size",
    "byte_offset",
    "line_no",
    "rows_loaded",
    "rows_present",
    "rows_rejected",
    "reject_offset",
    "done",
)


@dataclass
class Checkpoint:
    content_sha256: str  # the file's identity: the same content is the same import
    target_table: str
    lane: int
    file_name: str
    file_size: int
    byte_offset: int = 0  # CSV: bytes consumed; Parquet: rows consumed
    line_no: int = 0  # last line (row) consumed
    rows_loaded: int = 0  # counts: this lane's batches
    rows_present: int = 0  # good rows whose natural key was already there
    rows_rejected: int = 0
    reject_offset: int = 0  # length of the reject file when this was committed
    done: bool = False


def read(cur: Any, sha: str, target: str) -> list[Checkpoint]:
    cur.execute(
        f"SELECT {', '.join(COLUMNS)} FROM ingest_checkpoint "
        "WHERE content_sha256 = %s AND target_table = %s ORDER BY lane",
        (sha, target),
    )
    out = []
    for row in cur.fetchall():
        values = dict(zip(COLUMNS, row, strict=True))
        values["done"] = bool(values["done"])
        out.append(Checkpoint(**values))
    return out


def position(lanes: list[Checkpoint]) -> Checkpoint | None:
    """The lane that committed last: where the file stands."""
    return max(lanes, key=lambda c: c.byte_offset, default=None)


def save(cur: Any, cp: Checkpoint) -> None:
    """Upsert; the caller's transaction commits it together with the batch."""
    values = asdict(cp)
    updates = ", ".join(f"{c} = VALUES({c})" for c in COLUMNS[3:])
    cur.execute(
        f"INSERT INTO ingest_checkpoint ({', '.join(COLUMNS)}, updated_at) "
        f"VALUES ({', '.join(['%s'] * len(COLUMNS))}, NOW(6)) "
        f"ON DUPLICATE KEY UPDATE {updates}, updated_at = NOW(6)",
        tuple(values[c] for c in COLUMNS),
    )
