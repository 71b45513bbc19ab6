"""Read a HIS: one consistent snapshot at a recorded GTID, then its binlog from there.

The binlog is read with python-mysql-replication (`pymysqlreplication`), never parsed here.
Each source transaction (GTID ... XID) is applied to TiDB as one transaction with its GTID.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pymysql
import pymysql.cursors
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.event import HeartbeatLogEvent, MariadbGtidEvent, XidEvent
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent
from sqlalchemy import Engine

from medhtap.platform.hisdb import HisSettings
from medhtap.services.sync import mapping as m
from medhtap.services.sync.apply import Change, Source, apply, position

log = logging.getLogger("medhtap.sync")
SNAPSHOT_CHUNK = 2000
Stop = Callable[[], bool]


def snapshot(his: HisSettings, engine: Engine, src: Source) -> str:
    """Copy every mapped HIS row as of one consistent snapshot; return the snapshot's GTID.

    Rows are upserts of keys derived from source ids, so an interrupted snapshot is simply
    run again. The position (with snapshot_done) is written only at the end."""
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
        for role in ("patient", "encounter", "diagnosis", "charge"):
            for chunk in _chunks(conn, src.spec.table(role)):
                apply(engine, src, chunk, gtid=None, commit_time=None)
        # Charges of an encounter cancelled before the snapshot came in as active lines: the
        # cancelled encounters, applied again last, revoke them as the stream would have.
        for chunk in _chunks(conn, src.spec.table("encounter"), _cancelled_filter(src)):
            apply(
                engine,
                src,
                [Change(c.table, "update", c.row) for c in chunk],
                gtid=None,
                commit_time=None,
            )
        conn.commit()
    finally:
        conn.close()
    apply(engine, src, [], gtid=gtid or "0-0-0", commit_time=None, snapshot_done=True)
    log.info("snapshot of %s done at GTID %s", src.source_id, gtid)
    return gtid


def _cancelled_filter(src: Source) -> tuple[str, list[Any]]:
    status = src.spec.raw["encounter"].get("status")
    if not status:
        return "FALSE", []
    marks = list(status["cancelled"])
    column = src.spec.column("encounter", "status")
    return f"`{column}` IN ({', '.join(['%s'] * len(marks))})", marks


def _chunks(
    conn: pymysql.Connection, table: str, where: tuple[str, list[Any]] = ("TRUE", [])
) -> Iterator[list[Change]]:
    with conn.cursor(pymysql.cursors.SSDictCursor) as cur:
        # Names come from the mapping document, values are parameters.
        cur.execute(f"SELECT * FROM `{table}` WHERE {where[0]}", where[1])
        while rows := cur.fetchmany(SNAPSHOT_CHUNK):
            yield [Change(table, "insert", r) for r in rows]


def _changes(event: Any) -> list[Change]:
    if isinstance(event, WriteRowsEvent):
        return [Change(event.table, "insert", r["values"]) for r in event.rows]
    if isinstance(event, UpdateRowsEvent):
        return [Change(event.table, "update", r["after_values"]) for r in event.rows]
    return [Change(event.table, "delete", r["values"]) for r in event.rows]


def run(
    his: HisSettings,
    engine: Engine,
    src: Source,
    *,
    stop: Stop,
    on_apply: Callable[[str, float], None] | None = None,
) -> None:
    """Snapshot if never done, then follow the binlog until `stop()` says so."""
    pos = position(engine, src.source_id)
    if pos is None or not pos.snapshot_done:
        snapshot(his, engine, src)
        pos = position(engine, src.source_id)
    tables = [src.spec.table(r) for r in m.ROLES]
    reader = BinLogStreamReader(
        connection_settings={
            "host": his.host,
            "port": his.port,
            "user": his.repl_user,
            "passwd": his.repl_password.get_secret_value(),
        },
        server_id=his.server_id + 100_000,  # our id as a replica: unique per source
        is_mariadb=True,
        auto_position=pos.gtid,
        blocking=True,
        slave_heartbeat=1,
        only_schemas=[his.database],
        only_tables=tables,
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
            if isinstance(event, MariadbGtidEvent):
                gtid, changes = event.gtid, []
                commit_time = dt.datetime.fromtimestamp(event.timestamp)
            elif isinstance(event, XidEvent):
                if gtid and changes:
                    apply(engine, src, changes, gtid=gtid, commit_time=commit_time)
                    if on_apply and commit_time:
                        on_apply(gtid, time.time() - commit_time.timestamp())
                gtid, changes = None, []
            elif isinstance(event, WriteRowsEvent | UpdateRowsEvent | DeleteRowsEvent):
                changes.extend(_changes(event))
            if stop() and gtid is None:
                break
    finally:
        reader.close()
