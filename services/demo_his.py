"""The demo's live HIS step: a charge written in a hospital's own MariaDB reaches the platform
through the binlog, is settled at checkout, and is in the cost report, with the seconds each
hop took. Skipped, saying so, where mariadb-server is not installed."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable
from decimal import Decimal

import httpx
import pymysql
from rich.console import Console
from sqlalchemy import Engine

from medhtap.platform import hisdb
from medhtap.services.his.simulate import local_items, seed_local_items
from medhtap.services.settlement.identity import next_certno
from medhtap.services.sync import apply, stream
from medhtap.services.sync.mapping import already_applied, default_mapping, visit_id

console = Console()
ADMIN = {"X-API-Key": "dev-admin-key"}
HIS_KEY = {"X-API-Key": "dev-his-key"}


def _wait(what: str, done: Callable[[], bool], bound: float = 60) -> float:
    t = time.monotonic()
    while not done():
        if time.monotonic() - t > bound:
            raise TimeoutError(f"{what} did not happen within {bound:.0f} s")
        time.sleep(0.05)
    return time.monotonic() - t


def _insured_person(base: str) -> str:
    brdy = dt.date(1950, 1, 1) + dt.timedelta(days=uuid.uuid4().int % 18_000)
    r = httpx.post(
        f"{base}/v1/persons",
        headers=ADMIN,
        timeout=30,
        json={
            "certno": next_certno(brdy, "2"),
            "psn_name": "HIS Patient",
            "gend": "2",
            "brdy": brdy.isoformat(),
            "insutype": "390",
            "admdvs": "110100",
            "acct_balc": "0.00",
        },
    )
    r.raise_for_status()
    return str(r.json()["psn_no"])


def _his_visit(his: hisdb.HisSettings, psn_no: str) -> int:
    """One HIS transaction: a patient, an outpatient encounter, its diagnosis, two charges."""
    seed_local_items(his)
    items = [(loc, name, price) for loc, nat, name, price in local_items(his.name) if nat][:2]
    with his.connect(database=his.database) as conn, conn.cursor() as cur:
        conn.begin()
        cur.execute(
            "INSERT INTO patient (mrn, name, id_card_no, gender, birth_date, insurance_no)"
            " VALUES (%s, '张敏', '110105197001010027', '2', '1970-01-01', %s)",
            (f"MRN{uuid.uuid4().hex[:12].upper()}", psn_no),
        )
        cur.execute(
            "INSERT INTO encounter (patient_id, encounter_type, dept_code, start_time)"
            " VALUES (%s, 'O', 'IM', NOW(6))",
            (cur.lastrowid,),
        )
        enc = int(cur.lastrowid)
        cur.execute(
            "INSERT INTO encounter_diagnosis (encounter_id, icd10_code, is_main)"
            " VALUES (%s, 'I10', 1)",
            (enc,),
        )
        for loc, name, price in items:
            cur.execute(
                "INSERT INTO charge_item (encounter_id, local_item_code, item_name, quantity,"
                " unit_price, amount, charged_at) VALUES (%s, %s, %s, 1, %s, %s, NOW(6))",
                (enc, loc, name, price, Decimal(price).quantize(Decimal("0.01"))),
            )
        conn.commit()
    return enc


def live_his_step(
    base: str,
    engine: Engine,
    institution: str,
    visits_now: Callable[[], int],
) -> None:
    """`visits_now()`: the institution's visits in the cost report, read over HTTP."""
    if hisdb.mariadb_binaries() is None:
        console.print(
            "  [yellow]mariadb-server is not installed here: skipping the live HIS step[/] "
            "(Debian: apt-get install mariadb-server; ./run test installs it as root)"
        )
        return
    his = hisdb.HisSettings()  # the one `medhtap his up` starts (MEDHTAP_HIS_*)
    started = not _answers(his)
    hisdb.up(his, say=lambda m: console.print(f"  {m}"))
    items = [(loc, nat) for loc, nat, _, _ in local_items(his.name) if nat]
    apply.register(engine, his.name, institution, default_mapping(), items)
    src = apply.load_source(engine, his.name)
    stopping = threading.Event()
    sync = threading.Thread(
        target=stream.run, args=(his, engine, src), kwargs={"stop": stopping.is_set}, daemon=True
    )
    sync.start()
    try:
        _wait("the HIS snapshot", lambda: _snapshot_done(engine, his.name), bound=120)
        psn_no = _insured_person(base)
        before = visits_now()
        enc = _his_visit(his, psn_no)
        committed = time.monotonic()
        with his.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT @@gtid_binlog_pos")
            gtid = str(cur.fetchone()[0])  # type: ignore[index]
        mdtrt_id = visit_id(his.name, enc)
        console.print(f"  HIS {his.name}: encounter {enc} with 2 charges committed (GTID {gtid})")
        _wait("the sync", lambda: _applied(engine, his.name, gtid))
        synced = time.monotonic() - committed
        console.print(f"  in TiDB as visit {mdtrt_id} after [bold]{synced:.2f} s[/] (binlog)")
        r = httpx.post(
            f"{base}/v1/visits/{mdtrt_id}/settlement",
            headers={**HIS_KEY, "Idempotency-Key": f"demo-his-{uuid.uuid4().hex}"},
            json={"use_account": False},
            timeout=30,
        )
        r.raise_for_status()
        setl = r.json()
        console.print(
            f"  settled at checkout: {setl['setl_id']} medfee_sumamt {setl['medfee_sumamt']}"
        )
        _wait("the cost report", lambda: visits_now() > before)
        seen = time.monotonic() - committed
        console.print(
            f"  {institution} visits in the cost report: {before} -> {before + 1}: "
            f"[bold]{seen:.2f} s[/] from the HIS commit (sync, settlement, report)"
        )
    finally:
        stopping.set()
        sync.join(timeout=10)
        if started:
            hisdb.down(his, say=lambda m: console.print(f"  {m}"))


def _snapshot_done(engine: Engine, source: str) -> bool:
    pos = apply.position(engine, source)
    return pos is not None and bool(pos.snapshot_done)


def _applied(engine: Engine, source: str, gtid: str) -> bool:
    pos = apply.position(engine, source)
    return pos is not None and already_applied(pos.gtid, gtid)


def _answers(his: hisdb.HisSettings) -> bool:
    try:
        his.connect().close()
    except (pymysql.err.OperationalError, OSError):
        return False
    return True
