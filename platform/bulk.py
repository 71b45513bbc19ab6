"""Bulk writes sized so that TiDB never splits a region in the middle of them.

TiDB's transaction client pre-splits a region during a commit that puts at least 100,000
keys and 32 MiB into it (client-go txnkv/transaction/2pc.go, `preSplitDetectThreshold` and
`preSplitSizeThreshold`). On a TiKV cluster that is harmless. On the local store it ends
the crash-safe layout for good (README "Crash safety"): a second region makes later
transactions commit in two phases, and unistore loses the second phase on kill -9. A 1M-row
LOAD DATA, or one chunk of 20,000 synthetic visits' fee lines, was enough. So every bulk
writer keeps each transaction under the key limit: each row writes its record and one key
per index.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

from sqlalchemy import Table, UniqueConstraint

T = TypeVar("T")

# client-go pre-splits from 100,000 keys in one region (with 32 MiB); stay well below it
MAX_TXN_KEYS = 80_000


def keys_per_row(table: Table) -> int:
    """The keys one row writes: its record and an entry in every index, a unique
    constraint's too (`Column(unique=True)` is a constraint, not in `table.indexes`)."""
    unique = [c for c in table.constraints if isinstance(c, UniqueConstraint)]
    return 1 + len(table.indexes) + len(unique)


def rows_per_txn(table: Table, max_keys: int = MAX_TXN_KEYS) -> int:
    return max(1, max_keys // keys_per_row(table))


def batches(rows: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]
