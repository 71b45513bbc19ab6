"""Read a HIS: one consistent snapshot at a recorded GTID, then its binlog from there.

The binlog is read with python-mysql-replication (`pymysqlreplication`), never parsed here,
in a reader thread that queues whole source transactions (GTID ... XID). The applier takes
everything queued at once (up to MAX_BATCH_ROWS rows) into one TiDB transaction with the last
GTID: at a low rate a batch is one source transaction (lowest lag), under load batches grow
while the previous one commits (group commit), so the statements per row fall as the rate rises.

When the HIS goes away the reader ends and is started again from the stored position; when
TiDB goes away the batch is kept and applied again (a batch that did land is then skipped by
its position), so restarts of either side lose nothing and apply nothing twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

import pymysql
import pymysql.cursors
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.event import HeartbeatLogEvent, MariadbGtidEvent, XidEvent
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from medhtap.platform.errors import ServiceUnavailable
from medhtap.platform.hisdb import HisSettings
from medhtap.platform.tx import is_retryable
from medhtap.services.sync import mapping as m
from medhtap.services.sync import snapload
from medhtap.services.sync.apply import (
    Applied,
    Change,
    Source,
    Txn,
    apply,
    apply_batch,
    pieces,
    position,
)
from medhtap.services.sync.snapload import read_chunks

log = logging.getLogger("medhtap.sync")
# Connections writing snapshot chunks at once: on 2 cores one leaves CPU unused (the
# ingest's LOAD DATA got about twice the rows/s from a second one, bench/README.md).
SNAPSHOT_LANES = 2
ROLE_DONE: list[Change] = []  # between roles in the snapshot queue: wait for the role
Snapshotq = queue.Queue[list[Change] | BaseException | None]
MAX_BATCH_ROWS = 5000  # one TiDB transaction stays far below TiDB's size limits
QUEUED_TXNS = 20_000  # the reader waits when the applier is this far behind
RETRY_S = 1.0  # pause before reconnecting to a HIS or TiDB that went away
Stop = Callable[[], bool]
OnApply = Callable[[Sequence[Txn]], None]


PATHS = {
    "load": "LOAD DATA (first snapshot: no row of the source in TiDB yet)",
    "upsert": "upserts (a re-run, or rows of the source already in TiDB)",
}


@dataclass(frozen=True)
class Snapshot:
    gtid: str
    path: str  # "load" (snapload.py) or "upsert"
    rows: int
    dead: int


def snapshot(
    his: HisSettings, engine: Engine, src: Source, lanes: int = 0, *, load: bool = True
) -> Snapshot:
    """Copy every mapped HIS row as of one consistent snapshot, then store its GTID.

    A source with no row in TiDB yet is loaded with LOAD DATA (snapload.py; `load=False`
    never does). Otherwise rows are upserts of keys derived from source ids, so an
    interrupted snapshot is simply run again. The position (with snapshot_done) is written
    only at the end. `lanes`: connections writing at once (0: SNAPSHOT_LANES)."""
    lanes = lanes or SNAPSHOT_LANES
    path = "load" if load and snapload.fresh(engine, src.source_id) else "upsert"
    log.info("snapshot of %s: %s", src.source_id, PATHS[path])
    try:
        gtid, out = _copy(his, engine, src, lanes, path)
    except snapload.NotFresh as exc:
        path = "upsert"
        log.warning("snapshot of %s: %s; again by %s", src.source_id, exc, PATHS[path])
        gtid, out = _copy(his, engine, src, lanes, path)
    apply(engine, src, [], gtid=gtid or "0-0-0", commit_time=None, snapshot_done=True)
    log.info(
        "snapshot of %s done at GTID %s by %s: %d rows, %d dead letters",
        src.source_id,
        gtid,
        path,
        out.rows,
        out.dead,
    )
    return Snapshot(gtid, path, out.rows, out.dead)


def _copy(
    his: HisSettings, engine: Engine, src: Source, lanes: int, path: str
) -> tuple[str, Applied]:
    conn = his.connect(database=his.database, repl=True)
    try:
        with conn.cursor() as cur:
            cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
            # MariaDB reports the binlog position that matches the snapshot (not @@gtid_binlog_pos,
            # which moves with concurrent commits); BINLOG_GTID_POS turns it into a GTID.
            cur.execute("SHOW STATUS LIKE 'binlog_snapshot_%'")
            status = {str(k).lower(): str(v) for k, v in cur.fetchall()}
            cur.execute(
                "SELECT BINLOG_GTID_POS(%s, %s)",
                (status["binlog_snapshot_file"], int(status["binlog_snapshot_position"])),
            )
            row = cur.fetchone()
            gtid = str(row[0]) if row and row[0] else ""
        if path == "load":
            out = snapload.load(conn, engine, src, lanes)
        else:
            out = _upsert(conn, engine, src, lanes)
        conn.commit()
    finally:
        conn.close()
    return gtid, out


def _upsert(conn: pymysql.Connection, engine: Engine, src: Source, lanes: int) -> Applied:
    # Read the next chunks from the HIS while `lanes` earlier ones are written to TiDB, each
    # in its own transaction. Chunks of one role are independent upserts; a role starts once
    # the one before it is in (charges need their visits).
    chunks: Snapshotq = queue.Queue(maxsize=lanes + 1)
    reading = threading.Thread(target=_read_snapshot, args=(conn, src, chunks), daemon=True)
    reading.start()
    total = Applied()

    def done(fs: list[Future[Applied]]) -> None:
        for f in fs:
            a = f.result()
            total.rows, total.dead = total.rows + a.rows, total.dead + a.dead

    with ThreadPoolExecutor(lanes, thread_name_prefix="snapshot") as pool:
        running: list[Future[Applied]] = []
        while (chunk := chunks.get()) is not None:
            if isinstance(chunk, BaseException):
                raise chunk
            # a visit's main diagnosis is the last one applied: diagnoses go in order
            one = bool(chunk) and src.spec.role_of(chunk[0].table) == "diagnosis"
            if chunk is ROLE_DONE or len(running) >= (1 if one else lanes):
                done(running)
                running = []
            if chunk is not ROLE_DONE:
                running.append(pool.submit(apply, engine, src, chunk, gtid=None, commit_time=None))
        done(running)
    reading.join()
    return total


def _read_snapshot(conn: pymysql.Connection, src: Source, out: Snapshotq) -> None:
    try:
        for role in ("patient", "encounter", "diagnosis", "charge"):
            for chunk in read_chunks(conn, src.spec.table(role)):
                out.put(chunk)
            out.put(ROLE_DONE)
        # Charges of an encounter cancelled before the snapshot came in as active lines: the
        # cancelled encounters, applied again last, revoke them as the stream would have.
        for chunk in read_chunks(conn, src.spec.table("encounter"), _cancelled_filter(src)):
            out.put([Change(c.table, "update", c.row) for c in chunk])
        out.put(None)
    except BaseException as exc:  # the applier raises it
        out.put(exc)


def _cancelled_filter(src: Source) -> tuple[str, list[Any]]:
    status = src.spec.raw["encounter"].get("status")
    if not status:
        return "FALSE", []
    marks = list(status["cancelled"])
    column = src.spec.column("encounter", "status")
    return f"`{column}` IN ({', '.join(['%s'] * len(marks))})", marks


def _changes(event: Any) -> list[Change]:
    if isinstance(event, WriteRowsEvent):
        return [Change(event.table, "insert", r["values"]) for r in event.rows]
    if isinstance(event, UpdateRowsEvent):
        return [Change(event.table, "update", r["after_values"]) for r in event.rows]
    return [Change(event.table, "delete", r["values"]) for r in event.rows]


class _End:
    """The reader stopped: `error` says why when it failed (the HIS went away, ...)."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


class Reader(threading.Thread):
    """Reads the binlog from `gtid` and queues each source transaction whole."""

    def __init__(self, his: HisSettings, src: Source, gtid: str) -> None:
        super().__init__(name=f"binlog-{src.source_id}", daemon=True)
        self.his, self.src, self.gtid = his, src, gtid
        self.out: queue.Queue[Txn | _End] = queue.Queue(maxsize=QUEUED_TXNS)
        self.stopping = threading.Event()

    def _put(self, item: Txn | _End) -> None:
        while not self.stopping.is_set():
            try:
                self.out.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def run(self) -> None:
        end = _End()
        try:
            self._read()
        except Exception as exc:  # reported to the applier, which starts a new reader
            end = _End(exc)
        self._put(end)  # unless the applier has stopped listening

    def _read(self) -> None:
        his = self.his
        reader = BinLogStreamReader(
            connection_settings={
                "host": his.host,
                "port": his.port,
                "user": his.repl_user,
                "passwd": his.repl_password.get_secret_value(),
                "connect_timeout": 5,
            },
            server_id=his.server_id + 100_000,  # our id as a replica: unique per source
            is_mariadb=True,
            auto_position=self.gtid,
            blocking=True,
            slave_heartbeat=1,  # wakes the loop every second when the HIS is idle
            only_schemas=[his.database],
            only_tables=[self.src.spec.table(r) for r in m.ROLES],
            only_events=[
                MariadbGtidEvent,
                XidEvent,
                HeartbeatLogEvent,
                WriteRowsEvent,
                UpdateRowsEvent,
                DeleteRowsEvent,
            ],
        )
        gtid: str | None = None
        commit_time: dt.datetime | None = None
        changes: list[Change] = []
        try:
            for event in reader:
                if self.stopping.is_set():
                    return
                if isinstance(event, MariadbGtidEvent):
                    gtid, changes = event.gtid, []
                    commit_time = dt.datetime.fromtimestamp(event.timestamp)
                elif isinstance(event, XidEvent):
                    if gtid and changes:
                        self._put(Txn(gtid, commit_time, changes))
                    gtid, changes = None, []
                elif isinstance(event, WriteRowsEvent | UpdateRowsEvent | DeleteRowsEvent):
                    changes.extend(_changes(event))
        finally:
            reader.close()


def _take(q: queue.Queue[Txn | _End], max_rows: int) -> tuple[list[Txn], _End | None]:
    """Everything queued now, up to about max_rows rows, waiting briefly for the first."""
    batch: list[Txn] = []
    rows = 0
    try:
        item = q.get(timeout=0.2)
        while True:
            if isinstance(item, _End):
                return batch, item
            batch.append(item)
            rows += len(item.changes)
            if rows >= max_rows:
                return batch, None
            item = q.get_nowait()
    except queue.Empty:
        return batch, None


def _retrying(what: str, stop: Stop, fn: Callable[[], Any]) -> Any:
    """Run `fn` until it succeeds while TiDB is unreachable (a restart); None when stopped."""
    while True:
        try:
            return fn()
        except (ServiceUnavailable, DBAPIError) as exc:
            if isinstance(exc, DBAPIError) and not is_retryable(exc):
                raise
            if stop():
                return None
            log.warning("%s: TiDB unavailable (%s); retrying in %.0f s", what, exc, RETRY_S)
            time.sleep(RETRY_S)


def run(
    his: HisSettings,
    engine: Engine,
    src: Source,
    *,
    stop: Stop,
    on_apply: OnApply | None = None,
    max_batch_rows: int = MAX_BATCH_ROWS,
) -> None:
    """Snapshot if never done, then follow the binlog until `stop()` says so."""
    pos = _retrying("position", stop, lambda: position(engine, src.source_id))
    if pos is None or not pos.snapshot_done:
        if stop():
            return
        snapshot(his, engine, src)
    while not stop():
        pos = _retrying("position", stop, lambda: position(engine, src.source_id))
        if pos is None:
            return
        reader = Reader(his, src, pos.gtid)
        reader.start()
        try:
            end = _follow(reader, engine, src, stop, on_apply, max_batch_rows)
        finally:
            reader.stopping.set()
            reader.join(timeout=5)
        if end is not None and end.error is not None and not stop():
            log.warning(
                "HIS %s binlog: %s; reconnecting from the stored position", src.source_id, end.error
            )
            time.sleep(RETRY_S)


def _follow(
    reader: Reader,
    engine: Engine,
    src: Source,
    stop: Stop,
    on_apply: OnApply | None,
    max_batch_rows: int,
) -> _End | None:
    while not stop():
        batch, end = _take(reader.out, max_batch_rows)
        # a source transaction of more than max_batch_rows rows goes in pieces, each in its
        # own TiDB transaction with the position of its last change (apply.pieces)
        for part in pieces(batch, max_batch_rows):
            done = _retrying("apply", stop, partial(apply_batch, engine, src, part))
            if done is None:
                return None
        if batch and on_apply:
            on_apply(batch)
        if end is not None:
            return end
    return None
