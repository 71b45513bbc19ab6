"""One import run: files in load order, each checked in a background thread while the
previous batch loads, each batch committed with its checkpoint; stats per table."""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pymysql

from medhtap.platform.settings import Settings

from . import checkpoint, facts, lanes, load, validate
from .errors import IngestError
from .rejects import RejectFile, default_path
from .source import Source, content_hash, open_source
from .spec import CATALOGS, TABLES, TableSpec, table_for

Progress = Callable[[str, int, int, int], None]  # file, done, total (source units), rows


@dataclass
class TableStats:
    loaded: int = 0
    present: int = 0
    rejected: int = 0
    seconds: float = 0.0
    files: int = 0
    skipped_files: int = 0

    @property
    def rows_per_s(self) -> float:
        return (self.loaded + self.present + self.rejected) / self.seconds if self.seconds else 0.0


@dataclass
class RunStats:
    tables: dict[str, TableStats] = field(default_factory=dict)
    rejects: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class Options:
    rejects_dir: Path | None = None
    table: str | None = None
    batch_rows: int = 50_000  # Parquet
    batch_bytes: int = 8 << 20  # CSV (~50k fee lines)
    pause_s: float = 0.0  # between batches: leave a busy cluster room
    lanes: int = 2  # connections loading at once (commits stay in file order)


def _settlement_facts(cur: Any, c: validate.Checked) -> None:
    facts.record(cur, c.good_values("setl_id"))


# What else a batch of a table writes in its transaction: imported settlements get their
# analytic facts, as settled ones do (services/ingest/facts.py).
AFTER_LOAD: dict[str, Callable[[Any, validate.Checked], None]] = {"settlement": _settlement_facts}


def plan(paths: list[Path], table: str | None) -> list[tuple[Path, TableSpec]]:
    """Files with their tables, persons first, then visits, fee lines, settlements."""
    pairs = [(p, table_for(p.stem, table)) for p in paths]
    order = list(TABLES)
    return sorted(pairs, key=lambda x: order.index(x[1].name))


def read_catalogs(cur: Any) -> dict[str, pa.Array]:
    out = {}
    for name, (tbl, col) in CATALOGS.items():
        cur.execute(f"SELECT {col} FROM {tbl}")
        out[name] = pa.array([r[0] for r in cur.fetchall()], pa.string())
    return out


def _check_header(spec: TableSpec, src: Source) -> None:
    known = {c.name for c in spec.columns}
    unknown = [c for c in src.columns if c not in known]
    missing = [c.name for c in spec.columns if c.required and c.name not in src.columns]
    doubled = sorted({c for c in src.columns if src.columns.count(c) > 1})
    if unknown or missing or doubled:
        raise IngestError(
            f"{src.path.name} -> {spec.name}: unknown columns {unknown}, missing {missing}, "
            f"repeated {doubled} (see docs/ingest-columns.md)",
            code="INGEST_BAD_HEADER",
            unknown=unknown,
            missing=missing,
        )


def _checked(
    spec: TableSpec, src: Source, cp: checkpoint.Checkpoint, catalogs: dict[str, pa.Array]
) -> Iterator[validate.Checked]:
    """Batches checked one ahead in a thread (pyarrow releases the GIL; so does the wait
    for the server), at most two waiting."""
    q: queue.Queue[Any] = queue.Queue(maxsize=2)
    stop = threading.Event()
    name = str(src.path)

    def produce() -> None:
        try:
            for b in src.batches(cp.byte_offset, cp.line_no):
                item = validate.check(spec, name, b, catalogs)
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(None)
        except BaseException as e:  # handed to the consumer, raised there
            q.put(e)

    t = threading.Thread(target=produce, name="ingest-check", daemon=True)
    t.start()
    try:
        while (item := q.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def ingest_file(
    conns: list[Any],
    path: Path,
    spec: TableSpec,
    catalogs: dict[str, pa.Array],
    opts: Options,
    stats: TableStats,
    progress: Progress,
) -> Path:
    src = open_source(path, opts.batch_rows, opts.batch_bytes, load.rows_per_txn(spec))
    _check_header(spec, src)
    sha = content_hash(path)
    cur = conns[0].cursor()
    stored = checkpoint.read(cur, sha, spec.name)
    conns[0].commit()
    rejects_path = default_path(path, opts.rejects_dir)
    if any(c.done for c in stored):
        stats.skipped_files += 1
        progress(str(path), src.size, src.size, 0)
        return rejects_path
    new = checkpoint.Checkpoint(sha, spec.name, 0, str(path)[-512:], src.size)
    at = checkpoint.position(stored) or new
    rejects = RejectFile(rejects_path, at.reject_offset)
    turns = lanes.Turns()
    by_lane = {c.lane: c for c in stored}
    workers = [
        lanes.Lane(
            conn,
            load.Loader(conn.cursor(), spec, src.columns, src.crlf),
            by_lane.get(k, replace(new, lane=k)),
            rejects,
            turns,
            AFTER_LOAD.get(spec.name),
        )
        for k, conn in enumerate(conns)
    ]
    started = time.perf_counter()
    pool = ThreadPoolExecutor(len(workers), thread_name_prefix="ingest-lane")
    pending: deque[tuple[validate.Checked, Future[int]]] = deque()
    rows_done = [0]

    def finish_one() -> None:
        c, f = pending.popleft()
        inserted = f.result()
        stats.loaded += inserted
        stats.present += c.good - inserted
        stats.rejected += len(c.rejects)
        rows_done[0] += c.batch.size
        progress(str(path), c.batch.end_offset, src.size, rows_done[0])
        if opts.pause_s:
            time.sleep(opts.pause_s)

    try:
        progress(str(path), at.byte_offset, src.size, 0)
        for i, c in enumerate(_checked(spec, src, at, catalogs)):
            if len(pending) == len(workers):
                finish_one()  # the lane of batch i is free again
            pending.append((c, pool.submit(workers[i % len(workers)].run, i, c)))
        while pending:
            finish_one()
        last = max(workers, key=lambda w: w.cp.byte_offset)
        conns[0].begin()
        checkpoint.save(cur, replace(last.cp, done=True))
        conns[0].commit()
    except BaseException:
        turns.fail()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        stats.seconds += time.perf_counter() - started
        stats.files += 1
        for w in workers:
            w.loader.close()
        rejects.close()
    return rejects_path


def run(settings: Settings, paths: list[Path], opts: Options, progress: Progress) -> RunStats:
    work = plan(paths, opts.table)
    out = RunStats()
    conns = [load.connect(settings) for _ in range(max(1, opts.lanes))]
    try:
        cur = conns[0].cursor()
        try:
            cur.execute("SELECT 1 FROM ingest_checkpoint LIMIT 1")
        except pymysql.err.ProgrammingError as e:
            raise IngestError(
                f"{settings.database} is not migrated for imports ({e.args[1]}): "
                "run `medhtap db migrate` and `medhtap db seed`",
                code="INGEST_NOT_MIGRATED",
            ) from None
        catalogs = read_catalogs(cur)
        conns[0].commit()
        for path, spec in work:
            st = out.tables.setdefault(spec.name, TableStats())
            out.rejects.append(ingest_file(conns, path, spec, catalogs, opts, st, progress))
    finally:
        for conn in conns:
            conn.close()
    return out
