"""The crash_safe verdict follows what the local store actually is (issue 10.2, 11.2).

Own tidb-servers (never the shared one: a SPLIT there would stay on its data dir forever).
In the launcher's layout the verdict is true; a SPLIT TABLE (the analyst account can, by a
TiDB bug) or async commit turns it false with a reason; the old layout is false.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from medhtap.platform import localdb
from medhtap.platform.capabilities import check_crash_safety
from medhtap.platform.db import make_engine
from medhtap.platform.settings import Settings

DB = "verdict_probe"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server(settings: Settings, tmp: Path, *, crash_safe: bool) -> Iterator[Engine]:
    if settings.dsn:
        pytest.skip("MEDHTAP_DSN points at a cluster; this starts local servers")
    s = settings.model_copy(
        update={
            "port": _free_port(),
            "status_port": _free_port(),
            "data_dir": tmp / "tidb",
            "database": DB,
        }
    )
    localdb.up(s, say=print, crash_safe=crash_safe)
    engine = make_engine(s.server_url(), settings=s, pool_size=1)
    try:
        with engine.begin() as conn:
            conn.execute(text(f"CREATE DATABASE {DB}"))
            conn.execute(text(f"CREATE TABLE {DB}.settlement (id BIGINT PRIMARY KEY, v INT)"))
            conn.execute(text(f"CREATE TABLE {DB}.visit (id BIGINT PRIMARY KEY, v INT)"))
        yield engine
    finally:
        engine.dispose()
        localdb.down(s, say=print)


@pytest.fixture
def one_region(settings: Settings, tmp_path: Path) -> Iterator[Engine]:
    yield from _server(settings, tmp_path, crash_safe=True)


@pytest.fixture
def split_layout(settings: Settings, tmp_path: Path) -> Iterator[Engine]:
    yield from _server(settings, tmp_path, crash_safe=False)


def test_launcher_layout_is_crash_safe_until_a_table_is_split(one_region: Engine) -> None:
    verdict = check_crash_safety(one_region, DB)
    assert verdict.crash_safe, verdict.reason

    with one_region.begin() as conn:
        conn.execute(text("SET GLOBAL tidb_enable_async_commit = ON"))
    verdict = check_crash_safety(one_region, DB)
    assert not verdict.crash_safe and "async commit" in verdict.reason
    with one_region.begin() as conn:
        conn.execute(text("SET GLOBAL tidb_enable_async_commit = OFF"))

    with one_region.begin() as conn:
        conn.execute(text(f"SPLIT TABLE {DB}.visit BETWEEN (0) AND (1000000) REGIONS 4"))
    verdict = check_crash_safety(one_region, DB)
    assert not verdict.crash_safe
    assert "visit" in verdict.reason and "settlement" not in verdict.reason


def test_old_layout_is_not_crash_safe(split_layout: Engine) -> None:
    verdict = check_crash_safety(split_layout, DB)
    assert not verdict.crash_safe and "split-table" in verdict.reason


def test_readyz_states_the_verdict_of_the_running_server(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    """/readyz carries the verdict probed at start. It is not compared with a fresh one: a
    SPLIT by another test in this session may have changed the store since."""
    body = client.get("/readyz").json()["database"]
    assert isinstance(body["crash_safe"], bool)
    store = body["store"]
    assert body["crash_safe_reason"].startswith(f"{store}:" if store == "unistore" else "")
    if store == "unistore" and body["crash_safe"]:
        assert "one region" in body["crash_safe_reason"]
