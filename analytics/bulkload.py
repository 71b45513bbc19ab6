"""LOAD DATA of generated rows, pipelined: the caller's thread makes the rows (Python, one
core) while `lanes` connections load the parts made before (the server, the other core).

Each part is one LOAD DATA in autocommit, so one transaction: parts are cut to stay under
the keys at which TiDB splits a region (platform/bulk.py). Parts are independent (no
foreign keys; the natural keys are the generator's), so lanes take them in any order.
On this 2-core host, one connection's LOAD DATA leaves CPU unused; two about doubled the
rows/s of fee lines (bench/README.md, "Load costs").
"""

from __future__ import annotations

import os
import queue
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymysql

from medhtap.platform import bulk

SWITCH_S = 0.0005
LoadFile = Callable[[Any, str, Path], None]  # cursor, table, path of the part


@dataclass
class Part:
    table: str
    rows: list[str]  # lines of the part, without their line ends


@dataclass
class Timing:
    produce_s: float = 0.0  # the caller's thread making parts
    wall_s: float = 0.0  # the whole load, first part made to last part loaded
    busy_s: list[float] = field(default_factory=list)  # each lane's time in LOAD DATA
    rows: dict[str, int] = field(default_factory=dict)


def parts_of(table: str, rows: list[str], keys_per_row: int) -> Iterable[Part]:
    size = max(1, bulk.MAX_TXN_KEYS // keys_per_row)
    for part in bulk.batches(rows, size):
        yield Part(table, list(part))


def load_pipelined(
    connect: Callable[[], pymysql.connections.Connection[Any]],
    parts: Iterable[Part],
    load_file: LoadFile,
    lanes: int = 2,
    queued: int = 4,
) -> Timing:
    """Load every part of `parts` (made lazily, in this thread) on `lanes` connections."""
    timing = Timing(busy_s=[0.0] * lanes)
    q: queue.Queue[Part | None] = queue.Queue(maxsize=queued)
    failed: list[BaseException] = []
    shm = Path("/dev/shm")
    tmp = tempfile.TemporaryDirectory(prefix="medhtap-bulkload-", dir=shm if shm.is_dir() else None)

    conns = [connect() for _ in range(lanes)]

    def lane(k: int) -> None:
        path = Path(tmp.name) / f"lane{k}.tsv"
        try:
            with conns[k].cursor() as cur:
                while (part := q.get()) is not None:
                    if failed:
                        continue  # drain: the producer stops at its next part
                    path.write_text("\n".join(part.rows) + "\n", encoding="utf-8")
                    t = time.perf_counter()
                    load_file(cur, part.table, path)
                    timing.busy_s[k] += time.perf_counter() - t
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            failed.append(e)
            while q.get() is not None:  # take what the producer still puts
                pass
        finally:
            conns[k].close()

    # The lanes send each part in 16 KiB packets, taking the GIL for each from the thread
    # that makes rows: a short switch interval keeps them from waiting 5 ms a packet.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(min(interval, SWITCH_S))
    start = time.perf_counter()
    workers = [threading.Thread(target=lane, args=(k,), daemon=True) for k in range(lanes)]
    for w in workers:
        w.start()
    try:
        it = iter(parts)
        while not failed:
            t = time.perf_counter()
            part = next(it, None)
            timing.produce_s += time.perf_counter() - t
            if part is None:
                break
            q.put(part)
            timing.rows[part.table] = timing.rows.get(part.table, 0) + len(part.rows)
    finally:
        for _ in workers:
            q.put(None)
        for w in workers:
            w.join()
        tmp.cleanup()
        sys.setswitchinterval(interval)
    timing.wall_s = time.perf_counter() - start
    if failed:
        raise failed[0]
    return timing


def default_lanes() -> int:
    """Two connections: one per core of this host's kind (MEDHTAP_LOAD_LANES overrides)."""
    return max(1, int(os.environ.get("MEDHTAP_LOAD_LANES", "2")))
