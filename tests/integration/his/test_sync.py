"""Live sync from a real MariaDB HIS into the real TiDB: snapshot + binlog agree with the
source after a mixed workload; a kill -9 of the sync process loses and doubles nothing;
an unmapped row is dead-lettered and applied once its mapping is added."""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from medhtap.platform.hisdb import HisSettings
from medhtap.platform.settings import Settings
from medhtap.services.his.simulate import local_items, simulate
from medhtap.services.settlement.identity import next_certno
from medhtap.services.settlement.rules import money
from medhtap.services.sync import apply, stream
from medhtap.services.sync.mapping import already_applied, default_mapping, fee_sn, visit_id

INSTITUTION = "H11010000001"


def _persons(engine: Engine, n: int) -> list[str]:
    psn_nos = [f"SYNC{uuid.uuid4().hex[:12]}" for _ in range(n)]
    with engine.begin() as conn:
        for p in psn_nos:
            conn.execute(
                text(
                    "INSERT INTO insured_person (psn_no, certno, psn_name, gend, brdy, insutype,"
                    " admdvs, acct_balc, psn_status) VALUES (:p, :c, 'Sync Test', '1',"
                    " '1970-01-01', '390', '110105', 0, 'active')"
                ),
                {"p": p, "c": next_certno(dt.date(1970, 1, 1), "1")},
            )
    return psn_nos


def _register(engine: Engine, his: HisSettings) -> apply.Source:
    items = [(loc, nat) for loc, nat, _, _ in local_items(his.name) if nat]
    apply.register(engine, his.name, INSTITUTION, default_mapping(), items)
    return apply.load_source(engine, his.name)


def _his_gtid(his: HisSettings) -> str:
    with his.connect() as conn, conn.cursor() as cur:
        # A last mapped write, so the stream has a transaction to reach at the current end.
        cur.execute(
            f"INSERT INTO `{his.database}`.patient (mrn, name, id_card_no, gender, birth_date)"
            " VALUES (%s, 'marker', '110105197001010011', '1', '1970-01-01')",
            (f"MARK{uuid.uuid4().hex[:12]}",),
        )
        cur.execute("SELECT @@gtid_binlog_pos")
        row = cur.fetchone()
        assert row is not None
        return str(row[0])


def _wait_caught_up(
    engine: Engine, his: HisSettings, gtid: str, alive: Callable[[], bool], bound: float = 180
) -> None:
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        assert alive(), "the sync stopped before reaching the end of the source"
        pos = apply.position(engine, his.name)
        if pos is not None and pos.snapshot_done and already_applied(pos.gtid, gtid):
            return
        time.sleep(0.5)
    raise AssertionError(f"sync did not reach {gtid} within {bound:.0f} s")


def assert_target_equals_source(engine: Engine, his: HisSettings) -> None:
    """Every insured encounter is a visit; every live charge of it with a national code is an
    active line with the same quantity and price; every other line of it is revoked."""
    mapped = {loc: nat for loc, nat, _, _ in local_items(his.name) if nat}
    with his.connect(database=his.database) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT e.encounter_id, e.status FROM encounter e JOIN patient p"
            " ON p.patient_id = e.patient_id WHERE p.insurance_no IS NOT NULL"
        )
        encounters = {int(a): str(b) for a, b in cur.fetchall()}
        cur.execute(
            "SELECT charge_id, encounter_id, local_item_code, quantity, unit_price FROM charge_item"
        )
        charges = cur.fetchall()
    with engine.connect() as conn:
        visits = {
            r[0]
            for r in conn.execute(
                text("SELECT mdtrt_id FROM visit WHERE mdtrt_id LIKE :p"), {"p": f"{his.name}-E%"}
            )
        }
        lines = {
            (r[0], r[1]): (r[2], Decimal(r[3]), Decimal(r[4]), Decimal(r[5]))
            for r in conn.execute(
                text(
                    "SELECT mdtrt_id, feedetl_sn, fee_status, cnt, pric, det_item_fee_sumamt"
                    " FROM fee_detail WHERE mdtrt_id LIKE :p"
                ),
                {"p": f"{his.name}-E%"},
            )
        }
    assert visits == {visit_id(his.name, e) for e in encounters}
    live: set[tuple[str, str]] = set()
    for charge_id, enc, local, qty, price in charges:
        key = (visit_id(his.name, enc), fee_sn(charge_id))
        if int(enc) not in encounters or local not in mapped:
            assert key not in lines
            continue
        live.add(key)
        status, cnt, pric, amount = lines[key]
        assert (cnt, pric, amount) == (Decimal(qty), Decimal(price), money(qty * price))
        assert status == ("revoked" if encounters[int(enc)] == "cancelled" else "active"), key
    for key in set(lines) - live:  # deleted in the HIS before settlement
        assert lines[key][0] == "revoked", key


@pytest.fixture()
def source(
    settings: Settings, engine: Engine, fresh_his: HisSettings
) -> tuple[HisSettings, apply.Source, list[str]]:
    return fresh_his, _register(engine, fresh_his), _persons(engine, 20)


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
        _wait_caught_up(engine, his, _his_gtid(his), worker.is_alive)
    finally:
        stopping.set()
        worker.join(timeout=30)
    assert not worker.is_alive()
    assert_target_equals_source(engine, his)
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
    writer = threading.Thread(
        target=simulate, args=(his,), kwargs={"rate": 300, "seconds": 12, "psn_nos": psn_nos}
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
            _wait_caught_up(engine, his, _his_gtid(his), lambda: final.poll() is None)
        finally:
            final.terminate()
            final.wait(timeout=30)
    finally:
        writer.join()
    assert kills == 4
    assert_target_equals_source(engine, his)


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
        _wait_caught_up(engine, his, _his_gtid(his), worker.is_alive)
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
