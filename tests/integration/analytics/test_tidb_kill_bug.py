"""Why the watchdog never KILLs an analyst session that holds locks (a tripwire).

At our TiDB pin, `KILL TIDB <id>` of a session sitting in a transaction with pessimistic
locks panics tidb-server (memory tracker: `Consume` sees the kill signal while the session
rolls back on close) and the whole server exits. Any account may kill its own sessions, so a
direct analyst can do this to themselves. If this test starts failing after the pin moves,
the bug is fixed: the watchdog may then end lock-holding analyst sessions itself.

Runs on its own tidb-server (own ports and data dir), never on the shared one.
"""

from __future__ import annotations

import contextlib
import socket
import time
from pathlib import Path

import pymysql
import pytest

from medhtap.platform import localdb
from medhtap.platform.settings import Settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        pymysql.connect(host="127.0.0.1", port=port, user="root", connect_timeout=2).close()
        return True
    except pymysql.err.OperationalError:
        return False


def test_killing_a_lock_holding_session_stops_tidb_server(
    settings: Settings, tmp_path: Path
) -> None:
    if settings.dsn:
        pytest.skip("MEDHTAP_DSN points at a cluster; this crashes a local server")
    s = settings.model_copy(
        update={
            "port": _free_port(),
            "status_port": _free_port(),
            "data_dir": tmp_path / "tidb",
            "database": "kill_probe",
        }
    )
    localdb.up(s, say=print)
    try:
        db = dict(host="127.0.0.1", port=s.port, charset="utf8mb4")
        root = pymysql.connect(user="root", autocommit=True, **db)
        for stmt in (
            "CREATE DATABASE kill_probe",
            "CREATE TABLE kill_probe.t (id INT PRIMARY KEY, v INT)",
            "INSERT INTO kill_probe.t VALUES (1, 1)",
            "CREATE SQL SECURITY DEFINER VIEW kill_probe.v_t AS SELECT * FROM kill_probe.t",
            "CREATE USER probe_analyst IDENTIFIED BY 'pw'",
            "GRANT SELECT ON kill_probe.v_t TO probe_analyst",
        ):
            root.cursor().execute(stmt)
        holder = pymysql.connect(user="probe_analyst", password="pw", database="kill_probe", **db)
        cur = holder.cursor()
        cur.execute("BEGIN")
        cur.execute("SELECT * FROM v_t WHERE id = 1 FOR UPDATE")  # TiDB #60468: locks t
        cur.execute("SELECT CONNECTION_ID()")
        (cid,) = cur.fetchone()
        killer = pymysql.connect(user="probe_analyst", password="pw", **db)
        # its own session: no privilege needed; the server may die before it answers
        with contextlib.suppress(pymysql.err.OperationalError):
            killer.cursor().execute(f"KILL TIDB {int(cid)}")
        deadline = time.monotonic() + 20
        while _answers(s.port) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not _answers(s.port), "the KILL panic is fixed: let the watchdog end lock holders"
    finally:
        with contextlib.suppress(ProcessLookupError):  # it is gone already
            localdb.down(s, say=print)
