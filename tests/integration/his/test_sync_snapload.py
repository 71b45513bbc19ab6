"""A source's first snapshot goes in by LOAD DATA (services/sync/snapload.py) and gives the
very rows the upserts give; a re-run, or a source with rows in TiDB, takes the upserts; a
kill -9 in the middle of the load, then a restart, still ends with target == source."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from medhtap.platform.hisdb import HisSettings
from medhtap.platform.settings import Settings
from medhtap.services.his.fill import fill_his
from medhtap.services.his.simulate import local_items, seed_local_items, simulate
from medhtap.services.sync import apply, snapload, stream
from medhtap.services.sync.mapping import fee_sn, visit_id

from .conftest import Kit

SOURCE_TABLES = {
    "sync_patient": "SELECT patient_id, psn_no FROM sync_patient WHERE source_id = :s",
    "visit": "SELECT mdtrt_id, psn_no, fixmedins_code, med_type, dept_name, begntime, endtime,"
    " main_diag_code, vis_status, dscg_maindiag_code, dscg_way FROM visit WHERE mdtrt_id LIKE :p",
    "fee_detail": "SELECT mdtrt_id, feedetl_sn, item_code, cnt, pric, det_item_fee_sumamt,"
    " fee_ocur_time, fee_status, setl_id, fulamt_ownpay_amt, overlmt_selfpay, preselfpay_amt,"
    " inscp_scp_amt, ownpay_reason FROM fee_detail WHERE mdtrt_id LIKE :p",
}
DEAD_SQL = (
    "SELECT his_table, op, his_key, gtid, reason, row_data FROM sync_dead_letter"
    " WHERE source_id = :s"
)


def _target(engine: Engine, source: str) -> dict[str, Any]:
    """Every row the source has in TiDB (dead letters counted: a re-run may repeat them)."""
    args = {"s": source, "p": f"{source}-E%"}
    with engine.connect() as conn:
        out: dict[str, Any] = {
            t: {tuple(r) for r in conn.execute(text(sql), args)} for t, sql in SOURCE_TABLES.items()
        }
        out["dead"] = Counter(
            (*r[:5], json.dumps(r[5], sort_keys=True) if isinstance(r[5], dict) else str(r[5]))
            for r in conn.execute(text(DEAD_SQL), args)
        )
    return out


def _same_dead(upserts: Counter[Any], load: Counter[Any], repeated: bool = False) -> bool:
    """The upserts' dead letters are the load's (each once, or again when `repeated`), plus
    one "update" more for each rejected cancelled encounter: the upserts apply cancelled
    encounters again at the end (stream._read_snapshot), the load writes each row once."""
    again = Counter({k: n for k, n in upserts.items() if k[1] == "insert"})
    more = {(t, key, why) for t, op, key, _, why, _ in upserts if op != "insert"}
    first = {(t, key, why) for t, op, key, _, why, _ in load}
    assert set(load) == {k for k in load if k[1] == "insert"}
    if repeated:
        again = Counter({k: n - load[k] for k, n in again.items()})
    return +again == load and more <= first and {t for t, _, _ in more} <= {"encounter"}


def _forget(engine: Engine, source: str) -> None:
    """The source as if never synced (its registration and item codes stay)."""
    args = {"s": source, "p": f"{source}-E%"}
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM fee_detail WHERE mdtrt_id LIKE :p"), args)
        conn.execute(text("DELETE FROM visit WHERE mdtrt_id LIKE :p"), args)
        for t in ("sync_patient", "sync_dead_letter", "sync_position"):
            conn.execute(text(f"DELETE FROM {t} WHERE source_id = :s"), args)


def _edge_rows(his: HisSettings, psn_no: str) -> dict[str, int]:
    """Rows the load must write as the upserts do: a department with a tab and a backslash,
    a cancelled visit's charges, two main diagnoses (the last wins), a time with fractions,
    an uninsured patient's visit, diagnosis and charges, one with a wrong amount."""
    seed_local_items(his)
    code, price = next((loc, p) for loc, nat, _, p in local_items(his.name) if nat)
    ids: dict[str, int] = {}
    with his.connect(database=his.database) as conn, conn.cursor() as cur:

        def one(key: str, sql: str, *args: object) -> int:
            cur.execute(sql, args)
            ids[key] = int(cur.lastrowid)
            return ids[key]

        pat = "INSERT INTO patient (mrn, name, id_card_no, gender, birth_date, insurance_no)"
        pat += " VALUES (%s, '王伟', '110105197001010011', '1', '1970-01-01', %s)"
        enc = "INSERT INTO encounter (patient_id, encounter_type, dept_code, start_time, status)"
        enc += " VALUES (%s, 'O', %s, '2026-11-02 08:00:00.600000', %s)"
        diag = "INSERT INTO encounter_diagnosis (encounter_id, icd10_code, is_main)"
        diag += " VALUES (%s, %s, 1)"
        chg = "INSERT INTO charge_item (encounter_id, local_item_code, item_name, quantity,"
        chg += " unit_price, amount, charged_at) VALUES (%s, %s, 'x', 2, %s, %s,"
        chg += " '2026-11-02 09:00:00.600000')"
        p = one("patient", pat, f"EDGE{uuid.uuid4().hex[:8]}", psn_no)
        e = one("odd_dept", enc, p, "A\tB\\C", "active")
        one("first_diag", diag, e, "I10")
        one("last_diag", diag, e, "e11.9 ")
        one("line", chg, e, code, price, 2 * price)
        c = one("cancelled", enc, p, "IM", "cancelled")
        one("cancelled_line", chg, c, code, price, 2 * price)
        u = one("uninsured", pat, f"EDGE{uuid.uuid4().hex[:8]}", None)
        ue = one("uninsured_visit", enc, u, "IM", "active")
        one("uninsured_diag", diag, ue, "J06.9")
        one("uninsured_line", chg, ue, code, price, 2 * price)
        one("bad_amount", chg, ue, code, price, 2 * price + 1)  # rejected for its amount first
    return ids


class TestFirstSnapshotByLoadData:
    def test_given_a_new_source_when_snapshotted_then_loaded_with_the_rows_the_upserts_give(
        self, engine: Engine, fresh_his: HisSettings, caplog: pytest.LogCaptureFixture
    ) -> None:
        # Given a HIS with live history (corrections, cancellations, unmapped items,
        # uninsured patients) and the edge rows, and a source with nothing in TiDB
        his = fresh_his
        src = Kit.register(engine, his)
        psn_nos = Kit.persons(engine, 20)
        simulate(his, rate=400, seconds=3, psn_nos=psn_nos, seed=3)
        ids = _edge_rows(his, psn_nos[0])
        assert snapload.fresh(engine, src.source_id)
        # When its first snapshot runs
        caplog.set_level(logging.INFO, logger="medhtap.sync")
        snap = stream.snapshot(his, engine, src)
        # Then it went by LOAD DATA, said so, and the target equals the source
        assert snap.path == "load" and snap.dead > 0
        assert f"snapshot of {src.source_id}: LOAD DATA" in caplog.text
        Kit.assert_target_equals_source(engine, his)
        loaded = _target(engine, src.source_id)
        visit = {r[0]: r for r in loaded["visit"]}
        line = {(r[0], r[1]): r for r in loaded["fee_detail"]}
        odd = visit[visit_id(his.name, ids["odd_dept"])]
        assert (odd[4], odd[7], odd[5].microsecond) == ("A\tB\\C", "E11.9", 0)
        assert visit[visit_id(his.name, ids["cancelled"])][8] == "open"
        key = (visit_id(his.name, ids["cancelled"]), fee_sn(ids["cancelled_line"]))
        assert line[key][7] == "revoked"
        ok = line[(visit_id(his.name, ids["odd_dept"]), fee_sn(ids["line"]))]
        assert ok[7:] == ("active", None, *[Decimal("0.00")] * 4, None)
        reasons = {(t, k): r for t, _, k, _, r, _ in loaded["dead"]}
        assert "amount" in reasons[("charge_item", str(ids["bad_amount"]))]
        assert "no insurance number" in reasons[("encounter", str(ids["uninsured_visit"]))]
        assert "not synced" in reasons[("encounter_diagnosis", str(ids["uninsured_visit"]))]
        assert "not synced" in reasons[("charge_item", str(ids["uninsured_line"]))]
        assert {g for _, _, _, g, _, _ in loaded["dead"]} == {"snapshot"}

        # When it runs again (rows there): the upserts, and nothing changes
        assert not snapload.fresh(engine, src.source_id)
        assert stream.snapshot(his, engine, src).path == "upsert"
        again = _target(engine, src.source_id)
        assert {t: again[t] for t in SOURCE_TABLES} == {t: loaded[t] for t in SOURCE_TABLES}
        assert _same_dead(again["dead"], loaded["dead"], repeated=True)

        # When the source is forgotten and snapshotted by the upserts: the same rows
        _forget(engine, src.source_id)
        assert stream.snapshot(his, engine, src, load=False).path == "upsert"
        upserted = _target(engine, src.source_id)
        assert {t: upserted[t] for t in SOURCE_TABLES} == {t: loaded[t] for t in SOURCE_TABLES}
        assert _same_dead(upserted["dead"], loaded["dead"])

    def test_given_rows_appearing_under_the_load_then_the_snapshot_falls_back_to_upserts(
        self, engine: Engine, fresh_his: HisSettings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Given a source whose rows are in TiDB, but that the check takes for new (a race)
        his = fresh_his
        src = Kit.register(engine, his)
        simulate(his, rate=300, seconds=2, psn_nos=Kit.persons(engine, 5), seed=4)
        stream.snapshot(his, engine, src)
        before = _target(engine, src.source_id)
        monkeypatch.setattr(snapload, "fresh", lambda *_: True)
        # When it snapshots again: the load meets its rows and the upserts take over
        assert stream.snapshot(his, engine, src).path == "upsert"
        after = _target(engine, src.source_id)
        assert {t: after[t] for t in SOURCE_TABLES} == {t: before[t] for t in SOURCE_TABLES}
        Kit.assert_target_equals_source(engine, his)


def test_kill_minus_9_during_the_load_then_a_restart_ends_with_target_equal_to_source(
    settings: Settings, engine: Engine, fresh_his: HisSettings, tmp_path: Path
) -> None:
    # Given a HIS of 30,000 rows and a new source
    his = fresh_his
    src = Kit.register(engine, his)
    psn_nos = Kit.persons(engine, 20)
    fill_his(his, 30_000, psn_nos)
    env = {
        **os.environ,
        "MEDHTAP_DATABASE": settings.database,
        "MEDHTAP_HIS_NAME": his.name,
        "MEDHTAP_HIS_PORT": str(his.port),
        "MEDHTAP_HIS_BASE_DIR": str(his.base_dir),
    }
    cmd = [str(Path(sys.executable).with_name("medhtap")), "sync", "run"]
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    # When the sync is killed once its visits are in and before the snapshot is done
    with first_log.open("wb") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)
        try:
            deadline = time.monotonic() + 120
            while not _visits(engine, src.source_id) and time.monotonic() < deadline:
                assert proc.poll() is None, first_log.read_text()
                time.sleep(0.05)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    pos = apply.position(engine, src.source_id)
    assert pos is None or not pos.snapshot_done, "the snapshot ended before the kill"
    assert "LOAD DATA (first snapshot" in first_log.read_text()
    # ... the HIS goes on, and the sync starts again
    simulate(his, rate=300, seconds=2, psn_nos=psn_nos, seed=5)
    with second_log.open("wb") as err:
        final = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)
        try:
            Kit.wait_caught_up(engine, his, Kit.his_gtid(his), lambda: final.poll() is None)
        finally:
            final.terminate()
            final.wait(timeout=30)
    # Then the restart took the upserts (rows were there), and target equals source
    assert "upserts (a re-run" in second_log.read_text()
    Kit.assert_target_equals_source(engine, his)


def _visits(engine: Engine, source: str) -> int:
    with engine.connect() as conn:
        sql = "SELECT COUNT(*) FROM visit WHERE mdtrt_id LIKE :p"
        return int(conn.execute(text(sql), {"p": f"{source}-E%"}).scalar_one())
