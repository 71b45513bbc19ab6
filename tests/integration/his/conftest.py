"""A real MariaDB HIS for the sync tests (own data dir and port, stopped afterwards), and the
checks every sync test shares (`kit`): the target equals the source, nothing applied twice."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from medhtap.platform import hisdb
from medhtap.platform.hisdb import HisSettings
from medhtap.services.his.simulate import local_items
from medhtap.services.settlement.identity import next_certno
from medhtap.services.settlement.rules import money
from medhtap.services.sync import apply, stream
from medhtap.services.sync.mapping import already_applied, default_mapping, fee_sn, visit_id

INSTITUTION = "H11010000001"


# The HIS's encounter types as the national platform codes them (services/his/mapping.json).
NATIONAL_MED_TYPE = {"O": "11", "I": "21"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_his(base: Path, name: str) -> hisdb.HisSettings:
    if hisdb.mariadb_binaries() is None:
        pytest.skip("mariadb-server is not installed here (./run installs it as root)")
    h = hisdb.HisSettings(name=name, port=free_port(), base_dir=base)
    hisdb.up(h, say=lambda m: print(f"[his] {m}"))
    return h


@pytest.fixture(scope="module")
def his(tmp_path_factory: pytest.TempPathFactory) -> Iterator[hisdb.HisSettings]:
    h = start_his(tmp_path_factory.mktemp("his"), "hisa")
    yield h
    hisdb.down(h, say=print)


@pytest.fixture()
def fresh_his(tmp_path: Path) -> Iterator[hisdb.HisSettings]:
    """A HIS of its own for one test (a sync test owns its source's whole history)."""
    h = start_his(tmp_path, f"s{uuid.uuid4().hex[:6]}")
    yield h
    hisdb.down(h, say=print)


@pytest.fixture()
def second_his(tmp_path: Path) -> Iterator[hisdb.HisSettings]:
    """Another hospital's HIS beside `fresh_his`: its own MariaDB, port and data dir."""
    h = start_his(tmp_path / "second", f"t{uuid.uuid4().hex[:6]}")
    yield h
    hisdb.down(h, say=print)


class Kit:
    """What sync tests do to a source and check of the target."""

    @staticmethod
    def persons(engine: Engine, n: int) -> list[str]:
        psn_nos = [f"SYNC{uuid.uuid4().hex[:12]}" for _ in range(n)]
        with engine.begin() as conn:
            for p in psn_nos:
                conn.execute(
                    text(
                        "INSERT INTO insured_person (psn_no, certno, psn_name, gend, brdy,"
                        " insutype, admdvs, acct_balc, psn_status) VALUES (:p, :c, 'Sync Test',"
                        " '1', '1970-01-01', '390', '110105', 0, 'active')"
                    ),
                    {"p": p, "c": next_certno(dt.date(1970, 1, 1), "1")},
                )
        return psn_nos

    @staticmethod
    def register(engine: Engine, his: HisSettings, institution: str = INSTITUTION) -> apply.Source:
        items = [(loc, nat) for loc, nat, _, _ in local_items(his.name) if nat]
        apply.register(engine, his.name, institution, default_mapping(), items)
        return apply.load_source(engine, his.name)

    @staticmethod
    def his_gtid(his: HisSettings) -> str:
        with his.connect() as conn, conn.cursor() as cur:
            # A last mapped write, so the stream has a transaction to reach at the current end.
            cur.execute(
                f"INSERT INTO `{his.database}`.patient (mrn, name, id_card_no, gender,"
                " birth_date) VALUES (%s, 'marker', '110105197001010011', '1', '1970-01-01')",
                (f"MARK{uuid.uuid4().hex[:12]}",),
            )
            cur.execute("SELECT @@gtid_binlog_pos")
            row = cur.fetchone()
            assert row is not None
            return str(row[0])

    @staticmethod
    def wait_caught_up(
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

    @staticmethod
    @contextmanager
    def streaming(
        his: HisSettings, engine: Engine, src: apply.Source
    ) -> Iterator[threading.Thread]:
        """`stream.run` in a thread for the block; stopped and joined after it."""
        stopping = threading.Event()
        worker = threading.Thread(
            target=stream.run, args=(his, engine, src), kwargs={"stop": stopping.is_set}
        )
        worker.start()
        try:
            yield worker
        finally:
            stopping.set()
            worker.join(timeout=30)
        assert not worker.is_alive()

    @staticmethod
    def assert_target_equals_source(
        engine: Engine, his: HisSettings, institution: str = INSTITUTION
    ) -> None:
        """Every insured encounter is a visit of the source's institution; every live charge of
        it with a national code is an active line with the same quantity and price; every
        other line of it is revoked; no source row was dead-lettered twice."""
        mapped = {loc: nat for loc, nat, _, _ in local_items(his.name) if nat}
        with his.connect(database=his.database) as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT e.encounter_id, e.status, e.encounter_type FROM encounter e JOIN patient p"
                " ON p.patient_id = e.patient_id WHERE p.insurance_no IS NOT NULL"
            )
            found = cur.fetchall()
            encounters = {int(a): str(b) for a, b, _ in found}
            kinds = {visit_id(his.name, a): NATIONAL_MED_TYPE[str(c)] for a, _, c in found}
            cur.execute(
                "SELECT charge_id, encounter_id, local_item_code, quantity, unit_price"
                " FROM charge_item"
            )
            charges = cur.fetchall()
        like = {"p": f"{his.name}-E%"}
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT mdtrt_id, fixmedins_code, med_type FROM visit WHERE mdtrt_id LIKE :p"),
                like,
            ).all()
            visits = {r[0]: r[1] for r in rows}
            lines = {
                (r[0], r[1]): (r[2], Decimal(r[3]), Decimal(r[4]), Decimal(r[5]))
                for r in conn.execute(
                    text(
                        "SELECT mdtrt_id, feedetl_sn, fee_status, cnt, pric, det_item_fee_sumamt"
                        " FROM fee_detail WHERE mdtrt_id LIKE :p"
                    ),
                    like,
                )
            }
            dead = conn.execute(
                text(
                    "SELECT his_table, his_key, op, gtid, row_data FROM sync_dead_letter"
                    " WHERE source_id = :s"
                ),
                {"s": his.name},
            ).all()
        assert set(visits) == {visit_id(his.name, e) for e in encounters}
        assert set(visits.values()) <= {institution}
        assert {r[0]: r[2] for r in rows} == kinds  # the national med_type codes
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
        # A source transaction applied twice would dead-letter its bad rows twice (each row
        # image is distinct: the simulator's corrections change the quantity every time). An
        # interrupted snapshot is re-run whole, so its dead letters may repeat.
        images = Counter(
            (t, k, op, g, json.dumps(d, sort_keys=True) if isinstance(d, dict) else str(d))
            for t, k, op, g, d in dead
            if g != "snapshot"
        )
        assert [i for i, n in images.items() if n > 1] == []
