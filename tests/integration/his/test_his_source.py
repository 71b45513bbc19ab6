"""The development HIS is a sync source as a hospital's would be: row binlog, GTIDs, a
least-privilege replication account, and a simulator that writes live, correctable data."""

from __future__ import annotations

import time

import pymysql
import pytest
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.event import MariadbGtidEvent, XidEvent
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent
from stdnum.cn import ric

from medhtap.platform import hisdb
from medhtap.services.his.simulate import simulate


def _one(h: hisdb.HisSettings, sql: str) -> tuple:  # type: ignore[type-arg]
    with h.connect(database=h.database) as conn, conn.cursor() as cur:
        cur.execute(sql)
        row = cur.fetchone()
        assert row is not None
        return row


def test_binlog_is_row_based_with_full_metadata_and_gtids(his: hisdb.HisSettings) -> None:
    fmt, image, meta, log_bin = _one(
        his, "SELECT @@binlog_format, @@binlog_row_image, @@binlog_row_metadata, @@log_bin"
    )
    assert (fmt, image, meta, log_bin) == ("ROW", "FULL", "FULL", 1)
    (gtid,) = _one(his, "SELECT @@gtid_binlog_pos")
    assert gtid.count("-") == 2  # domain-server-sequence


def test_replication_account_reads_but_cannot_write(his: hisdb.HisSettings) -> None:
    with his.connect(database=his.database, repl=True) as conn, conn.cursor() as cur:
        cur.execute("SHOW GRANTS")
        grants = " ".join(r[0] for r in cur.fetchall())
        assert "REPLICATION SLAVE" in grants and "BINLOG MONITOR" in grants
        assert "ALL PRIVILEGES" not in grants and "INSERT" not in grants
        cur.execute("SELECT COUNT(*) FROM patient")
        with pytest.raises(pymysql.err.OperationalError) as denied:
            cur.execute("DELETE FROM patient")
        assert denied.value.args[0] == 1142


def test_simulator_writes_valid_patients_and_corrections_the_binlog_carries(
    his: hisdb.HisSettings,
) -> None:
    (start_gtid,) = _one(his, "SELECT @@gtid_binlog_pos")
    out = simulate(his, rate=800, seconds=3, psn_nos=["P-TEST-1", "P-TEST-2"], seed=11)
    assert out.rows >= 800  # well under the asked rate would mean the loop stalls
    for kind in ("patient", "registration", "charge", "charge_update", "charge_delete"):
        assert out.actions.get(kind, 0) > 0, kind
    with his.connect(database=his.database) as conn, conn.cursor() as cur:
        cur.execute("SELECT id_card_no, birth_date, gender FROM patient")
        for certno, birth, gender in cur.fetchall():
            assert ric.is_valid(certno)
            assert ric.get_birth_date(certno) == birth
            assert int(certno[16]) % 2 == (1 if gender == "1" else 0)
    (end_gtid,) = _one(his, "SELECT @@gtid_binlog_pos")
    # Blocking mode: this library replays from the start position when MariaDB ends a
    # non-blocking dump (it reconnects on the closed socket), so read up to a known GTID.
    stream = BinLogStreamReader(
        connection_settings={
            "host": his.host,
            "port": his.port,
            "user": his.repl_user,
            "passwd": his.repl_password.get_secret_value(),
        },
        server_id=his.server_id + 1,
        is_mariadb=True,
        auto_position=start_gtid,
        blocking=True,
        slave_heartbeat=1,
        only_events=[MariadbGtidEvent, XidEvent, WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent],
    )
    seen: dict[str, set[str]] = {}
    gtid = None
    deadline = time.monotonic() + 120
    try:
        for event in stream:
            assert time.monotonic() < deadline, "binlog stream did not reach the end GTID"
            if isinstance(event, MariadbGtidEvent):
                gtid = event.gtid
            elif isinstance(event, XidEvent):
                if gtid == end_gtid:
                    break
            else:
                seen.setdefault(event.table, set()).add(type(event).__name__)
    finally:
        stream.close()
    assert seen["charge_item"] == {"WriteRowsEvent", "UpdateRowsEvent", "DeleteRowsEvent"}
    assert "WriteRowsEvent" in seen["patient"] and "WriteRowsEvent" in seen["encounter"]
