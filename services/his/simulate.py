"""Live activity in a hospital's own database: `medhtap his simulate --rate N`.

Writes what a busy hospital writes, at about N rows per second for a bounded time: new
patients, outpatient visits and admissions with diagnoses, charge lines priced with the
hospital's local item codes, discharges, and the corrections a sync must cope with (charge
lines updated and deleted, visits cancelled). Each action is one HIS transaction.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import pymysql
from stdnum.cn import ric

from medhtap.platform.hisdb import HisSettings
from medhtap.schema.seed import DATA

UNMAPPED_SHARE = 0.02  # local items the platform has no national code for (dead letters)
DEPTS = ("IM", "SURG", "PED", "OBGYN", "ENT", "DERM", "CARD", "ORTH")
DIAGNOSES = ("E11.9", "I10", "J06.9", "K29.7", "M54.5", "N39.0", "J18.9", "I25.1")
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英"
MAX_SECONDS = 3600
BATCH_ROWS = 50


def local_items(source: str) -> list[tuple[str, str, str, Decimal]]:
    """(local code, national code or '' when unmapped, name, price), derived from the national
    catalog in a stable order, plus a few local-only items no national code maps to."""
    with open(DATA / "catalog.csv", newline="") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: r["item_code"])
    rng = random.Random(f"items-{source}")
    out = []
    for i, r in enumerate(rows):
        price = Decimal(r["pric_uplmt_amt"] or str(rng.choice((8, 15, 36, 120, 480)))).quantize(
            Decimal("0.01")
        )
        out.append((f"{source.upper()}-L{i:05d}", r["item_code"], r["item_name"], price))
    for j in range(max(1, int(len(rows) * UNMAPPED_SHARE))):
        out.append((f"{source.upper()}-X{j:05d}", "", f"local-only item {j}", Decimal("20.00")))
    return out


def seed_local_items(h: HisSettings) -> int:
    items = local_items(h.name)
    with h.connect(database=h.database) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT IGNORE INTO local_item (local_item_code, item_name, unit_price) "
            "VALUES (%s, %s, %s)",
            [(code, name, price) for code, _, name, price in items],
        )
    return len(items)


def fake_certno(rng: random.Random, birth: dt.date, gender: str) -> str:
    """A valid 18-digit resident id-card number (region, birth date, sequence, checksum)."""
    seq = rng.randrange(0, 500) * 2 + (1 if gender == "1" else 0)  # odd: male
    body = f"110105{birth:%Y%m%d}{seq:03d}"
    return body + ric.calc_check_digit(body + "0")  # stdnum wants a placeholder check digit


@dataclass
class State:
    patients: list[int] = field(default_factory=list)
    open_encounters: list[tuple[int, str]] = field(default_factory=list)  # (id, type)
    charges: list[int] = field(default_factory=list)
    items: list[tuple[str, Decimal]] = field(default_factory=list)
    rows: int = 0


@dataclass(frozen=True)
class Outcome:
    rows: int
    seconds: float
    actions: dict[str, int]


def simulate(
    h: HisSettings,
    *,
    rate: float,
    seconds: float,
    psn_nos: Sequence[str],
    seed: int = 7,
    on_tick: Callable[[int], None] | None = None,
    on_commit: Callable[[str, float], None] | None = None,
) -> Outcome:
    """Write about `rate` rows/s for `seconds` (bounded by MAX_SECONDS); returns what was done.

    `on_commit(gtid, unix time)` hears of each HIS transaction right after its COMMIT returns
    (the lag benchmark's clock start)."""
    if rate <= 0 or not 0 < seconds <= MAX_SECONDS:
        raise ValueError(f"rate must be > 0 and seconds in (0, {MAX_SECONDS}]")
    rng = random.Random(seed)
    seed_local_items(h)
    conn = h.connect(database=h.database)
    st = State()
    with conn.cursor() as cur:
        cur.execute("SELECT local_item_code, unit_price FROM local_item")
        st.items = [(str(c), Decimal(p)) for c, p in cur.fetchall()]
        cur.execute("SELECT patient_id FROM patient ORDER BY patient_id DESC LIMIT 1000")
        st.patients = [int(r[0]) for r in cur.fetchall()]
        cur.execute(
            "SELECT encounter_id, encounter_type FROM encounter WHERE status = 'active' "
            "ORDER BY encounter_id DESC LIMIT 500"
        )
        st.open_encounters = [(int(a), str(b)) for a, b in cur.fetchall()]
    actions: dict[str, int] = {}
    started = time.monotonic()
    try:
        while (elapsed := time.monotonic() - started) < seconds:
            ahead = st.rows - elapsed * rate
            if ahead > 0:
                time.sleep(min(ahead / rate, 0.5))
                continue
            # Behind schedule: several actions per HIS transaction (a durable commit costs an
            # fsync, so one action per commit caps out near 200 rows/s).
            conn.begin()
            goal = min(st.rows + BATCH_ROWS, int(elapsed * rate) + 1)
            while st.rows < goal:
                name = _step(conn, rng, st, psn_nos)
                actions[name] = actions.get(name, 0) + 1
            conn.commit()
            if on_commit:
                committed = time.time()
                with conn.cursor() as cur:
                    cur.execute("SELECT @@last_gtid")
                    row = cur.fetchone()
                on_commit(str(row[0]) if row else "", committed)
            if on_tick:
                on_tick(st.rows)
    finally:
        conn.close()
    return Outcome(st.rows, time.monotonic() - started, actions)


def _step(conn: pymysql.Connection, rng: random.Random, st: State, psn_nos: Sequence[str]) -> str:
    roll = rng.random()
    if not st.patients or roll < 0.04:
        return _new_patient(conn, rng, st, psn_nos)
    if not st.open_encounters or roll < 0.14:
        return _new_encounter(conn, rng, st)
    with conn.cursor() as cur:
        if roll < 0.80:
            enc, _ = rng.choice(st.open_encounters)
            code, price = rng.choice(st.items)
            qty = Decimal(rng.choice((1, 1, 1, 2, 3)))
            cur.execute(
                "INSERT INTO charge_item (encounter_id, local_item_code, item_name, quantity, "
                "unit_price, amount, charged_at) SELECT %s, local_item_code, item_name, %s, %s, "
                "%s, NOW(6) FROM local_item WHERE local_item_code = %s",
                (enc, qty, price, (qty * price).quantize(Decimal("0.01")), code),
            )
            st.charges.append(int(cur.lastrowid))
            st.rows += 1
            return "charge"
        if roll < 0.86 and st.charges:
            charge = rng.choice(st.charges)
            cur.execute(
                # MariaDB assigns left to right: `quantity` below is already the new one.
                "UPDATE charge_item SET quantity = quantity + 1, amount = "
                "ROUND(quantity * unit_price, 2) WHERE charge_id = %s",
                (charge,),
            )
            st.rows += 1
            return "charge_update"
        if roll < 0.90 and st.charges:
            charge = st.charges.pop(rng.randrange(len(st.charges)))
            cur.execute("DELETE FROM charge_item WHERE charge_id = %s", (charge,))
            st.rows += 1
            return "charge_delete"
        if roll < 0.91:
            enc, _ = st.open_encounters.pop(rng.randrange(len(st.open_encounters)))
            cur.execute("UPDATE encounter SET status = 'cancelled' WHERE encounter_id = %s", (enc,))
            st.rows += 1
            return "encounter_cancel"
        enc, kind = st.open_encounters.pop(rng.randrange(len(st.open_encounters)))
        cur.execute(
            "UPDATE encounter SET status = 'discharged', end_time = NOW(6) WHERE encounter_id = %s",
            (enc,),
        )
        st.rows += 1
        return "discharge" if kind == "I" else "visit_end"


def _new_patient(
    conn: pymysql.Connection, rng: random.Random, st: State, psn_nos: Sequence[str]
) -> str:
    gender = rng.choice("12")
    birth = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 80))
    name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
    insured = rng.choice(psn_nos) if psn_nos and rng.random() < 0.9 else None
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO patient (mrn, name, id_card_no, gender, birth_date, insurance_no) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (
                f"MRN{uuid.uuid4().hex[:16].upper()}",  # unique across runs
                name,
                fake_certno(rng, birth, gender),
                gender,
                birth,
                insured,
            ),
        )
        st.patients.append(int(cur.lastrowid))
    st.rows += 1
    return "patient"


def _new_encounter(conn: pymysql.Connection, rng: random.Random, st: State) -> str:
    patient = rng.choice(st.patients)
    kind = "I" if rng.random() < 0.15 else "O"
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO encounter (patient_id, encounter_type, dept_code, doctor_code, "
            "start_time) VALUES (%s, %s, %s, %s, NOW(6))",
            (patient, kind, rng.choice(DEPTS), f"D{rng.randrange(1000):04d}"),
        )
        enc = int(cur.lastrowid)
        cur.execute(
            "INSERT INTO encounter_diagnosis (encounter_id, icd10_code, is_main) "
            "VALUES (%s, %s, 1)",
            (enc, rng.choice(DIAGNOSES)),
        )
    st.open_encounters.append((enc, kind))
    st.rows += 2
    return "admission" if kind == "I" else "registration"
