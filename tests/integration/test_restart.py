"""A restart of the local TiDB keeps every account working (unistore resource-group trap).

unistore forgets resource groups on restart; a user still bound to one then makes the store
unreachable for every session (9005). The migrations must never bind accounts there.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from sqlalchemy import text

from medhtap.platform import localdb, migrate
from medhtap.platform.db import make_engine
from medhtap.platform.settings import Settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _reads(s: Settings) -> tuple[int, int]:
    root = make_engine(s.url(), settings=s, pool_size=1)
    analyst = make_engine(s.analyst_url(), settings=s, pool_size=1, read_timeout=20)
    try:
        with root.connect() as c:
            a = c.execute(text("SELECT COUNT(*) FROM policy")).scalar_one()
        with analyst.connect() as c:
            b = c.execute(text("SELECT COUNT(*) FROM v_policy")).scalar_one()
        return int(a), int(b)
    finally:
        root.dispose()
        analyst.dispose()


def test_analyst_account_and_server_survive_a_restart(settings: Settings, tmp_path: Path) -> None:
    if settings.dsn:
        pytest.skip("MEDHTAP_DSN points at a cluster; this restarts a local server")
    s = settings.model_copy(
        update={
            "port": _free_port(),
            "status_port": _free_port(),
            "data_dir": tmp_path / "tidb",
            "database": "restart_probe",
        }
    )
    localdb.up(s, say=print)
    try:
        migrate.upgrade(s)
        assert _reads(s) == (12, 12)
        localdb.down(s, say=print)
        localdb.up(s, say=print)
        assert _reads(s) == (12, 12)
    finally:
        localdb.down(s, say=print)
