"""Two hospitals' databases followed at once, each with its own position; the HIS and TiDB
restarting under a live sync lose nothing and apply nothing twice."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from medhtap.platform import hisdb, localdb, migrate
from medhtap.platform.db import write_engine
from medhtap.platform.hisdb import HisSettings
from medhtap.platform.settings import Settings
from medhtap.schema.seed import seed_reference
from medhtap.services.his.simulate import simulate
from medhtap.services.sync import apply

from .conftest import INSTITUTION, Kit, free_port

SECOND_INSTITUTION = "H11010000002"


def test_two_sources_at_once_keep_their_positions_and_their_institution(
    engine: Engine, fresh_his: HisSettings, second_his: HisSettings
) -> None:
    sources = [
        (fresh_his, Kit.register(engine, fresh_his, INSTITUTION)),
        (second_his, Kit.register(engine, second_his, SECOND_INSTITUTION)),
    ]
    psn_nos = Kit.persons(engine, 20)
    simulate(second_his, rate=300, seconds=1, psn_nos=psn_nos, seed=5)  # one has a history
    writers = [
        threading.Thread(
            target=simulate,
            args=(his,),
            kwargs={"rate": 400, "seconds": 4, "psn_nos": psn_nos, "seed": i},
        )
        for i, (his, _) in enumerate(sources)
    ]
    (his_a, src_a), (his_b, src_b) = sources
    with (
        Kit.streaming(his_a, engine, src_a) as first,
        Kit.streaming(his_b, engine, src_b) as second,
    ):
        for w in writers:
            w.start()
        for w in writers:
            w.join()
        for (his, _), worker in zip(sources, (first, second), strict=True):
            Kit.wait_caught_up(engine, his, Kit.his_gtid(his), worker.is_alive)
    Kit.assert_target_equals_source(engine, fresh_his, INSTITUTION)
    Kit.assert_target_equals_source(engine, second_his, SECOND_INSTITUTION)
    positions = {h.name: apply.position(engine, h.name) for h, _ in sources}
    # Each source has its own position, in its own server's GTIDs (both use domain 0).
    for his, _ in sources:
        server_ids = {int(p.split("-")[1]) for p in positions[his.name].gtid.split(",")}
        assert server_ids == {his.server_id}, positions[his.name].gtid


def test_his_crash_and_restart_under_a_live_sync(engine: Engine, fresh_his: HisSettings) -> None:
    his = fresh_his
    src, psn_nos = Kit.register(engine, his), Kit.persons(engine, 20)
    with Kit.streaming(his, engine, src) as worker:
        simulate(his, rate=500, seconds=3, psn_nos=psn_nos, seed=3)
        hisdb.crash(his)  # kill -9 of mariadbd: the stream's connection dies mid-read
        hisdb.up(his, say=print)
        simulate(his, rate=500, seconds=3, psn_nos=psn_nos, seed=4)
        hisdb.down(his, say=print)  # and a clean restart
        hisdb.up(his, say=print)
        simulate(his, rate=500, seconds=2, psn_nos=psn_nos, seed=6)
        Kit.wait_caught_up(engine, his, Kit.his_gtid(his), worker.is_alive)
    Kit.assert_target_equals_source(engine, his)


@pytest.fixture()
def own_tidb(settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """A tidb-server of this test's own (ports, data dir): the test kills it."""
    if settings.dsn:
        pytest.skip("MEDHTAP_DSN points at a cluster; this kills a local server")
    s = settings.model_copy(
        update={
            "port": free_port(),
            "status_port": free_port(),
            "data_dir": tmp_path / "tidb",
            "database": "sync_restart",
            "analyst_user": "sync_restart_analyst",
        }
    )
    localdb.up(s, say=print)
    try:
        migrate.upgrade(s)
        e = write_engine(s)
        with e.begin() as conn:
            seed_reference(conn)
        e.dispose()
        yield s
    finally:
        localdb.down(s, say=print)


def test_tidb_crash_and_restart_under_a_live_sync(
    own_tidb: Settings, fresh_his: HisSettings
) -> None:
    his, s = fresh_his, own_tidb
    engine = write_engine(s)
    try:
        Kit.register(engine, his)
        psn_nos = Kit.persons(engine, 20)
        env = {
            **os.environ,
            "MEDHTAP_PORT": str(s.port),
            "MEDHTAP_STATUS_PORT": str(s.status_port),
            "MEDHTAP_DATABASE": s.database,
            "MEDHTAP_HIS_NAME": his.name,
            "MEDHTAP_HIS_PORT": str(his.port),
            "MEDHTAP_HIS_BASE_DIR": str(his.base_dir),
        }
        cmd = [str(Path(sys.executable).with_name("medhtap")), "sync", "run"]
        sync = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
        try:
            Kit.wait_caught_up(engine, his, Kit.his_gtid(his), lambda: sync.poll() is None)
            simulate(his, rate=500, seconds=3, psn_nos=psn_nos, seed=7)
            localdb.crash(s)  # kill -9: the sync's batch in flight fails, or lands unacknowledged
            simulate(his, rate=500, seconds=2, psn_nos=psn_nos, seed=8)  # TiDB is down
            localdb.up(s, say=print)
            engine.dispose()
            simulate(his, rate=500, seconds=2, psn_nos=psn_nos, seed=9)
            Kit.wait_caught_up(engine, his, Kit.his_gtid(his), lambda: sync.poll() is None)
        finally:
            sync.terminate()
            sync.wait(timeout=30)
        Kit.assert_target_equals_source(engine, his)
        with engine.connect() as conn:
            conn.execute(text("ADMIN CHECK TABLE fee_detail, visit"))  # raises when damaged
    finally:
        engine.dispose()
