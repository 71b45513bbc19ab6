"""Live sync from a real MariaDB HIS into the real TiDB: snapshot + binlog agree with the
source after a mixed workload; a kill -9 of the sync process loses and doubles nothing;
an unmapped row is dead-lettered and applied once its mapping is added."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from medhtap.platform.hisdb import HisSettings
from medhtap.platform.settings import Settings
from medhtap.services.his.simulate import simulate
from medhtap.services.sync import apply, stream
from medhtap.services.sync.mapping import default_mapping, fee_sn, visit_id

from .conftest import INSTITUTION, Kit


@pytest.fixture()
def source(
    settings: Settings, engine: Engine, fresh_his: HisSettings
) -> tuple[HisSettings, apply.Source, list[str]]:
    return fresh_his, Kit.register(engine, fresh_his), Kit.persons(engine, 20)


def test_snapshot_then_stream_agree_with_the_source(
    engine: Engine, source: tuple[HisSettings, apply.Source, list[str]]
) -> None:
    his, src, psn_nos = source
    simulate(his, rate=400, seconds=2, psn_nos=psn_nos, seed=1)  # before sync: the snapshot
    stopping = threading.Event()
    worker = threading.Thread(
        target=stream.run, args=(his, engine, src), kwargs={"stop": stopping.is_set}
    )
    worker.start()
    try:
        simulate(his, rate=400, seconds=3, psn_nos=psn_nos, seed=2)  # while it streams
        Kit.wait_caught_up(engine, his, Kit.his_gtid(his), worker.is_alive)
    finally:
        stopping.set()
        worker.join(timeout=30)
    assert not worker.is_alive()
    Kit.assert_target_equals_source(engine, his)
    with engine.connect() as conn:
        reasons = [
            r[0]
            for r in conn.execute(
                text("SELECT reason FROM sync_dead_letter WHERE source_id = :s"), {"s": his.name}
            )
        ]
    # Unmapped local items and uninsured patients' visits are dead letters, nothing else.
    assert reasons and all(
        "has no national code" in r or "no insurance number" in r or "was not synced" in r
        for r in reasons
    ), set(reasons)


def test_kill_minus_9_of_the_sync_process_loses_and_doubles_nothing(
    settings: Settings, engine: Engine, source: tuple[HisSettings, apply.Source, list[str]]
) -> None:
    his, _, psn_nos = source
    env = {
        **os.environ,
        "MEDHTAP_DATABASE": settings.database,
        "MEDHTAP_HIS_NAME": his.name,
        "MEDHTAP_HIS_PORT": str(his.port),
        "MEDHTAP_HIS_BASE_DIR": str(his.base_dir),
    }
    cmd = [str(Path(sys.executable).with_name("medhtap")), "sync", "run"]
    # Fast enough that batches hold several source transactions when a kill lands.
    writer = threading.Thread(
        target=simulate, args=(his,), kwargs={"rate": 800, "seconds": 12, "psn_nos": psn_nos}
    )
    writer.start()
    kills = 0
    try:
        for _ in range(4):
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(random.uniform(1.5, 3.0))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
        writer.join()
        final = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
        try:
            Kit.wait_caught_up(engine, his, Kit.his_gtid(his), lambda: final.poll() is None)
        finally:
            final.terminate()
            final.wait(timeout=30)
    finally:
        writer.join()
    assert kills == 4
    Kit.assert_target_equals_source(engine, his)


def test_dead_letter_applies_once_its_mapping_exists(
    engine: Engine, source: tuple[HisSettings, apply.Source, list[str]]
) -> None:
    his, src, psn_nos = source
    with his.connect(database=his.database) as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO patient (mrn, name, id_card_no, gender, birth_date, insurance_no)"
            " VALUES ('MRN-DL', '王伟', '110105197001010011', '1', '1970-01-01', %s)",
            (psn_nos[0],),
        )
        patient = cur.lastrowid
        cur.execute(
            "INSERT INTO encounter (patient_id, encounter_type, dept_code, start_time)"
            " VALUES (%s, 'O', 'IM', NOW(6))",
            (patient,),
        )
        enc = cur.lastrowid
        cur.execute(
            "INSERT INTO charge_item (encounter_id, local_item_code, item_name, quantity,"
            " unit_price, amount, charged_at) VALUES (%s, 'NEW-LOCAL-1', 'new drug', 2, 10.5,"
            " 21.00, NOW(6))",
            (enc,),
        )
        charge = cur.lastrowid
    stopping = threading.Event()
    worker = threading.Thread(
        target=stream.run, args=(his, engine, src), kwargs={"stop": stopping.is_set}
    )
    worker.start()
    try:
        Kit.wait_caught_up(engine, his, Kit.his_gtid(his), worker.is_alive)
    finally:
        stopping.set()
        worker.join(timeout=30)
    key = {"m": visit_id(his.name, enc), "s": fee_sn(charge)}
    line_sql = (
        "SELECT fee_status, item_code FROM fee_detail WHERE mdtrt_id = :m AND feedetl_sn = :s"
    )
    with engine.connect() as conn:
        assert conn.execute(text(line_sql), key).first() is None
        dead = conn.execute(
            text("SELECT reason FROM sync_dead_letter WHERE source_id = :s AND his_key = :k"),
            {"s": his.name, "k": str(charge)},
        ).scalar_one()
    assert "NEW-LOCAL-1" in dead and "no national code" in dead
    assert apply.replay_dead(engine, src)[0] == 0  # still unmapped: nothing applied
    apply.register(
        engine, his.name, INSTITUTION, default_mapping(), [("NEW-LOCAL-1", "XA01BAA001")]
    )
    replayed, _ = apply.replay_dead(engine, src)
    assert replayed >= 1
    with engine.connect() as conn:
        assert tuple(conn.execute(text(line_sql), key).one()) == ("active", "XA01BAA001")
    assert apply.replay_dead(engine, src)[0] == 0  # applied once, not again
