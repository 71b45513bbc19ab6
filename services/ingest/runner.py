"""One import run: files in load order, each checked in a background thread while the
previous batch loads, each batch committed with its checkpoint; stats per table."""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow as pa

from medhtap.platform.settings import Settings

from . import checkpoint, load, validate
from .errors import IngestError
from .rejects import RejectFile, default_path
from .source import Source, content_hash, open_source
from .spec import CATALOGS, TABLES, TableSpec, table_for

Progress = Callable[[str, int, int], None]  # (file, done, total) in the source's units


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


def _commit_batch(
    conn: Any, loader: load.Loader, c: validate.Checked, cp: checkpoint.Checkpoint, rejects: int
) -> int:
    """The batch's rows and the checkpoint after it, in one transaction (re-run whole on a
    retryable error); `cp` moves on only once it committed. Rows inserted."""
    for attempt in load.retrying:
        with attempt:
            try:
                conn.begin()
                inserted = loader.load(c.data) if c.good else 0
                after = replace(
                    cp,
                    byte_offset=c.batch.end_offset,
                    line_no=c.batch.end_line,
                    rows_loaded=cp.rows_loaded + inserted,
                    rows_present=cp.rows_present + c.good - inserted,
                    rows_rejected=cp.rows_rejected + len(c.rejects),
                    reject_offset=rejects,
                )
                checkpoint.save(loader.cur, after)
                conn.commit()
            except BaseException:
                with contextlib.suppress(Exception):  # a Ctrl-C may leave no connection
                    conn.rollback()
                raise
    for k, v in asdict(after).items():
        setattr(cp, k, v)
    return inserted


def ingest_file(
    conn: Any,
    path: Path,
    spec: TableSpec,
    catalogs: dict[str, pa.Array],
    opts: Options,
    stats: TableStats,
    progress: Progress,
) -> Path:
    src = open_source(path, opts.batch_rows, opts.batch_bytes)
    _check_header(spec, src)
    sha = content_hash(path)
    cur = conn.cursor()
    cp = checkpoint.read(cur, sha, spec.name)
    conn.commit()
    rejects_path = default_path(path, opts.rejects_dir)
    if cp and cp.done:
        stats.skipped_files += 1
        progress(str(path), src.size, src.size)
        return rejects_path
    cp = cp or checkpoint.Checkpoint(sha, spec.name, str(path)[-512:], src.size)
    rejects = RejectFile(rejects_path, cp.reject_offset)
    loader = load.Loader(cur, spec, src.columns, src.crlf)
    started = time.perf_counter()
    try:
        progress(str(path), cp.byte_offset, src.size)
        for c in _checked(spec, src, cp, catalogs):
            reject_offset = rejects.write(c.rejects)
            inserted = _commit_batch(conn, loader, c, cp, reject_offset)
            stats.loaded += inserted
            stats.present += c.good - inserted
            stats.rejected += len(c.rejects)
            progress(str(path), cp.byte_offset, src.size)
            if opts.pause_s:
                time.sleep(opts.pause_s)
        cp.done = True
        conn.begin()
        checkpoint.save(cur, cp)
        conn.commit()
    finally:
        stats.seconds += time.perf_counter() - started
        stats.files += 1
        loader.close()
        rejects.close()
    return rejects_path


def run(settings: Settings, paths: list[Path], opts: Options, progress: Progress) -> RunStats:
    work = plan(paths, opts.table)
    out = RunStats()
    conn = load.connect(settings)
    try:
        cur = conn.cursor()
        catalogs = read_catalogs(cur)
        conn.commit()
        for path, spec in work:
            st = out.tables.setdefault(spec.name, TableStats())
            out.rejects.append(ingest_file(conn, path, spec, catalogs, opts, st, progress))
    finally:
        conn.close()
    return out
