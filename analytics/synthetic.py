"""Seeded synthetic data: persons, visits, fee lines and settlements, bulk-loaded.

    from medhtap.analytics.synthetic import load_synthetic
    load_synthetic(engine, visits=2000, seed=1)   # engine: a write engine (root/app account)

Deterministic for a seed; a second call with the same seed on the same database finds the
rows already there and loads nothing. Ids carry the seed (psn_no 'SY<seed>P...', certno
starting '99'), so several seeds can share a database.

Invariants kept (the money rules' own, so reports and risk rules see plausible data):
- a line's split fulamt_ownpay_amt + overlmt_selfpay + preselfpay_amt + inscp_scp_amt equals
  det_item_fee_sumamt = cnt x pric; class C -> wholly self-paid ('class_c'); gender and age
  restrictions broken -> wholly self-paid ('gender' / 'age'); above the price cap ->
  overlmt; class B -> selfpay_prop of the rest first; the remainder is in scope;
- a settlement's medfee_sumamt and split columns are the sums of its lines;
  hifp_pay = (inscp - deductible) x pool_prop of the seeded policy (per admission for
  inpatients; the yearly outpatient deductible is not tracked across visits);
  psn_part_amt = medfee - hifp_pay = acct_pay + psn_cash_pay;
- 2 % of visits are cancelled the way the settlement service does it: the settlement row
  turns 'cancelled', a 'reversal' row with negated amounts is added, the fee lines go back
  to 'active' without setl_id or split, the visit is 'open' again.
Not generated: account ledger rows, yearly accumulators, idempotency records.

Everything is integer fen internally (exact and fast) and loaded with LOAD DATA LOCAL
INFILE in chunks, so one chunk is one modest transaction.
"""

from __future__ import annotations

import datetime as dt
import random
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymysql
from sqlalchemy import Engine, bindparam, text

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚"
DEPTS_OUT = ["General medicine", "Internal medicine", "Paediatrics", "Gynaecology", "ENT"]
DEPTS_IN = ["Cardiology", "Orthopaedics", "General surgery", "Respiratory", "Oncology"]
DIAG_CANDIDATES = [
    "E11.9",
    "I10",
    "J06.9",
    "K29.7",
    "M54.5",
    "N39.0",
    "I25.1",
    "J44.9",
    "J18.9",
    "K80.2",
    "S72.0",
    "C50.9",
    "I63.9",
    "E78.5",
    "F32.9",
    "N18.9",
    "K35.8",
    "A09.9",
    "R51",
    "J45.9",
    "I21.9",
    "K21.9",
    "H10.9",
    "L30.9",
    "B34.9",
    "O80.0",
    "N40",
    "M17.9",
    "I50.9",
    "E03.9",
]
TABLE_COLUMNS = {
    "insured_person": "psn_no,certno,psn_name,gend,brdy,insutype,admdvs,acct_balc,psn_status",
    "visit": "mdtrt_id,psn_no,fixmedins_code,med_type,dept_name,begntime,endtime,"
    "main_diag_code,vis_status",
    "fee_detail": "mdtrt_id,feedetl_sn,item_code,cnt,pric,det_item_fee_sumamt,fee_ocur_time,"
    "fee_status,setl_id,fulamt_ownpay_amt,overlmt_selfpay,preselfpay_amt,inscp_scp_amt,"
    "ownpay_reason",
    "settlement": "setl_id,setl_type,setl_status,orig_setl_id,mdtrt_id,psn_no,fixmedins_code,"
    "insutype,med_type,hosp_lv,setl_time,cancel_time,medfee_sumamt,fulamt_ownpay_amt,"
    "overlmt_selfpay,preselfpay_amt,inscp_scp_amt,act_pay_dedc,hifp_pay,pool_prop_selfpay,"
    "psn_part_amt,acct_pay,psn_cash_pay,acct_balc_after,idempotency_key,policy_id",
}
NULL = "\\N"


# ---- the money rules in integer fen (pure, unit-tested) ------------------------------------


@dataclass(frozen=True)
class CatItem:
    item_code: str
    item_kind: str
    chrgitm_lv: str
    selfpay_bp: int  # selfpay_prop in basis points (1/10000)
    cap_fen: int | None  # price cap per unit
    gend_lmt: str | None
    age_min: int | None
    age_max: int | None
    max_qty: int


@dataclass(frozen=True)
class Split:
    amount: int
    fulamt: int
    overlmt: int
    preself: int
    inscp: int
    reason: str | None


def half_up_div(numerator: int, denominator: int) -> int:
    """Round numerator/denominator half up (both >= 0): the money rules' ROUND_HALF_UP."""
    return (2 * numerator + denominator) // (2 * denominator)


def split_line(item: CatItem, cnt: int, pric_fen: int, gend: str, age: int) -> Split:
    amount = cnt * pric_fen
    reason = None
    if item.chrgitm_lv == "C":
        reason = "class_c"
    elif item.gend_lmt and item.gend_lmt != gend:
        reason = "gender"
    elif (item.age_min is not None and age < item.age_min) or (
        item.age_max is not None and age > item.age_max
    ):
        reason = "age"
    if reason:
        return Split(amount, amount, 0, 0, 0, reason)
    overlmt = max(0, pric_fen - item.cap_fen) * cnt if item.cap_fen is not None else 0
    rest = amount - overlmt
    preself = half_up_div(rest * item.selfpay_bp, 10_000)
    return Split(amount, 0, overlmt, preself, rest - preself, None)


@dataclass(frozen=True)
class Money:
    medfee: int
    fulamt: int
    overlmt: int
    preself: int
    inscp: int
    dedc: int
    hifp: int
    psn_part: int
    acct: int
    cash: int


def settle_amounts(splits: Sequence[Split], dedc_fen: int, pool_bp: int, acct_fen: int) -> Money:
    medfee = sum(s.amount for s in splits)
    inscp = sum(s.inscp for s in splits)
    dedc = min(inscp, dedc_fen)
    hifp = half_up_div((inscp - dedc) * pool_bp, 10_000)
    part = medfee - hifp
    acct = min(part, acct_fen)
    return Money(
        medfee,
        sum(s.fulamt for s in splits),
        sum(s.overlmt for s in splits),
        sum(s.preself for s in splits),
        inscp,
        dedc,
        hifp,
        part,
        acct,
        part - acct,
    )


def fen(v: int) -> str:
    sign = "-" if v < 0 else ""
    v = abs(v)
    return f"{sign}{v // 100}.{v % 100:02d}"


# ---- generation ---------------------------------------------------------------------------


@dataclass
class Chunk:
    rows: dict[str, list[str]] = field(default_factory=lambda: {t: [] for t in TABLE_COLUMNS})

    def add(self, table: str, values: Sequence[Any]) -> None:
        self.rows[table].append("\t".join(NULL if v is None else str(v) for v in values))


@dataclass(frozen=True)
class Reference:
    items: list[CatItem]
    institutions: list[tuple[str, int, str, str]]  # code, level, type, admdvs
    diagnoses: list[str]
    policy: dict[tuple[str, str, int], tuple[int, int, int]]  # -> dedc fen, pool bp, id


def read_reference(engine: Engine) -> Reference:
    with engine.connect() as conn:
        items = [
            CatItem(
                r.item_code,
                r.item_kind,
                r.chrgitm_lv,
                int(r.selfpay_prop * 10_000),
                int(r.pric_uplmt_amt * 100) if r.pric_uplmt_amt is not None else None,
                r.gend_lmt,
                r.age_min,
                r.age_max,
                int(r.max_qty_per_day or 1),
            )
            for r in conn.execute(text("SELECT * FROM catalog_item ORDER BY item_code"))
        ]
        inst = [
            (r[0], int(r[1]), r[2], r[3])
            for r in conn.execute(
                text(
                    "SELECT fixmedins_code, hosp_lv, fixmedins_type, admdvs FROM institution "
                    "ORDER BY fixmedins_code"
                )
            )
        ]
        diags = list(
            conn.execute(
                text(
                    "SELECT diag_code FROM diagnosis WHERE diag_code IN :codes ORDER BY 1"
                ).bindparams(bindparam("codes", expanding=True)),
                {"codes": DIAG_CANDIDATES},
            ).scalars()
        )
        policy = {
            (r.insutype, r.med_type, int(r.hosp_lv)): (
                int(r.dedc_amt * 100),
                int(r.pool_prop * 10_000),
                int(r.policy_id),
            )
            for r in conn.execute(
                text("SELECT * FROM policy WHERE admdvs = '000000' AND enddate IS NULL")
            )
        }
    if not items or not inst or not diags or not policy:
        raise RuntimeError("reference data missing: run migrations and `medhtap db seed` first")
    return Reference(items, inst, diags, policy)


KIND_WEIGHT = {"drug": 6, "service": 3, "material": 1}


def _base_price(item: CatItem, rng: random.Random) -> int:
    if item.cap_fen is not None:
        # mostly below the cap, sometimes above it (overlmt_selfpay)
        return max(100, int(item.cap_fen * rng.choice((0.6, 0.8, 0.95, 1.0, 1.0, 1.2))))
    base = {"drug": 3000, "service": 8000, "material": 5000}[item.item_kind]
    return rng.randint(base // 4, base * 2)


def generate(
    ref: Reference,
    *,
    visits: int,
    seed: int,
    start: dt.date,
    days: int,
    persons: int,
    chunk_visits: int = 20_000,
    cancel_share: float = 0.02,
) -> Iterator[Chunk]:
    rng = random.Random(seed)
    hospitals = [i for i in ref.institutions if i[2] == "hospital"]
    weights = [KIND_WEIGHT[i.item_kind] for i in ref.items]
    # implants and other costly items only in hospital stays
    cheap = [i for i in ref.items if i.cap_fen is None or i.cap_fen <= 100_000]
    cheap_w = [KIND_WEIGHT[i.item_kind] for i in cheap]
    ppl: list[tuple[str, str, int, str, int]] = []  # psn_no, gend, birth year, insutype, acct
    chunk = Chunk()
    for p in range(persons):
        psn_no = f"SY{seed:03d}P{p:09d}"
        gend = rng.choice("12")
        brdy = dt.date(rng.randint(1940, 2022), rng.randint(1, 12), rng.randint(1, 28))
        insutype = "310" if rng.random() < 0.6 else "390"
        acct = rng.randint(0, 500_000) if insutype == "310" else 0
        certno = f"99{seed % 1000:03d}{p:012d}X"
        name = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
        admdvs = rng.choice(ref.institutions)[3]
        chunk.add(
            "insured_person",
            (psn_no, certno, name, gend, brdy, insutype, admdvs, fen(acct), "active"),
        )
        ppl.append((psn_no, gend, brdy.year, insutype, acct))
    t0 = dt.datetime.combine(start, dt.time(8))
    span = days * 86_400
    for v in range(visits):
        if v and v % chunk_visits == 0:
            yield chunk
            chunk = Chunk()
        psn_no, gend, byear, insutype, acct_balc = ppl[rng.randrange(persons)]
        inpatient = rng.random() < 0.15
        inst = rng.choice(hospitals) if inpatient else rng.choice(ref.institutions)
        code, lv = inst[0], inst[1]
        med_type = "inpatient" if inpatient else "outpatient"
        begin = t0 + dt.timedelta(seconds=rng.randrange(span))
        begin = begin.replace(microsecond=0)
        los = rng.randint(1, 20) if inpatient else 0
        end = begin + (dt.timedelta(days=los) if inpatient else dt.timedelta(hours=1))
        age = begin.year - byear
        mdtrt_id = f"{rng.getrandbits(48):012x}S{seed:03d}V{v:010d}"
        cancelled = rng.random() < cancel_share
        dept = rng.choice(DEPTS_IN if inpatient else DEPTS_OUT)
        chunk.add(
            "visit",
            (
                mdtrt_id,
                psn_no,
                code,
                med_type,
                dept,
                begin,
                end,
                rng.choice(ref.diagnoses),
                "open" if cancelled else "settled",
            ),
        )
        setl_id = f"SE{mdtrt_id}"
        n_lines = rng.randint(6, 16) if inpatient else rng.randint(2, 5)
        splits = []
        items = (
            rng.choices(ref.items, weights, k=n_lines)
            if inpatient
            else rng.choices(cheap, cheap_w, k=n_lines)
        )
        for n, item in enumerate(items):
            cnt = rng.randint(1, item.max_qty)
            pric = _base_price(item, rng)
            s = split_line(item, cnt, pric, gend, age)
            splits.append(s)
            when = begin + dt.timedelta(seconds=rng.randrange(max(1, los * 86_400 or 3_000)))
            # A cancelled visit's lines are back to active with no split, as the service
            # leaves them after 2208; settled lines carry their split and setl_id.
            state: tuple[object, ...] = (
                ("active", None, "0.00", "0.00", "0.00", "0.00", None)
                if cancelled
                else (
                    "settled",
                    setl_id,
                    fen(s.fulamt),
                    fen(s.overlmt),
                    fen(s.preself),
                    fen(s.inscp),
                    s.reason,
                )
            )
            chunk.add(
                "fee_detail",
                (mdtrt_id, f"{n + 1:04d}", item.item_code, cnt, fen(pric), fen(s.amount), when)
                + state,
            )
        dedc, pool_bp, policy_id = ref.policy[(insutype, med_type, lv)]
        m = settle_amounts(
            splits, dedc if inpatient else 0, pool_bp, acct_balc if insutype == "310" else 0
        )
        setl_time = end + dt.timedelta(minutes=rng.randint(1, 30))
        pool = f"{pool_bp / 10_000:.4f}"

        visit_cols = (mdtrt_id, psn_no, code, insutype, med_type, lv)
        tail = (fen(acct_balc - m.acct), policy_id)

        def setl(
            sid: str,
            kind: str,
            status: str,
            orig: str | None,
            when: dt.datetime,
            cancel: dt.datetime | None,
            sign: int,
            idem: str,
            visit_cols: tuple[Any, ...] = visit_cols,
            m: Money = m,
            pool: str = pool,
            tail: tuple[str, int] = tail,
        ) -> tuple[Any, ...]:
            amounts = [
                fen(sign * x)
                for x in (m.medfee, m.fulamt, m.overlmt, m.preself, m.inscp, m.dedc, m.hifp)
            ]
            person = [fen(sign * x) for x in (m.psn_part, m.acct, m.cash)]
            return (
                sid,
                kind,
                status,
                orig,
                *visit_cols,
                when,
                cancel,
                *amounts,
                pool,
                *person,
                tail[0],
                idem,
                tail[1],
            )

        if cancelled:
            cancel_at = setl_time + dt.timedelta(hours=2)
            chunk.add(
                "settlement",
                setl(
                    setl_id,
                    "normal",
                    "cancelled",
                    None,
                    setl_time,
                    cancel_at,
                    1,
                    f"synthetic:{seed}:{v}",
                ),
            )
            chunk.add(
                "settlement",
                setl(
                    f"RV{mdtrt_id}",
                    "reversal",
                    "reversal",
                    setl_id,
                    cancel_at,
                    None,
                    -1,
                    f"synthetic:{seed}:{v}:cancel",
                ),
            )
        else:
            chunk.add(
                "settlement",
                setl(
                    setl_id, "normal", "settled", None, setl_time, None, 1, f"synthetic:{seed}:{v}"
                ),
            )
    yield chunk


# ---- loading ------------------------------------------------------------------------------


@dataclass
class LoadStats:
    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLE_COLUMNS, 0))
    generate_s: float = 0.0
    load_s: float = 0.0
    analyze_s: float = 0.0
    skipped: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "generate_s": round(self.generate_s, 2),
            "load_s": round(self.load_s, 2),
            "analyze_s": round(self.analyze_s, 2),
            "skipped": self.skipped,
        }


def _connect(engine: Engine) -> pymysql.connections.Connection[Any]:
    u = engine.url
    return pymysql.connect(
        host=u.host or "127.0.0.1",
        port=u.port or 4000,
        user=u.username or "root",
        password=u.password or "",
        database=u.database,
        local_infile=True,
        charset="utf8mb4",
        autocommit=True,
    )


def load_file(cur: Any, table: str, path: Path) -> None:
    cur.execute(
        f"LOAD DATA LOCAL INFILE %s INTO TABLE {table} CHARACTER SET utf8mb4 "
        f"FIELDS TERMINATED BY '\\t' LINES TERMINATED BY '\\n' ({TABLE_COLUMNS[table]})",
        (str(path),),
    )


def load_synthetic(
    engine: Engine,
    visits: int = 2000,
    seed: int = 1,
    *,
    persons: int | None = None,
    start: dt.date | None = None,
    days: int = 365,
    chunk_visits: int = 20_000,
    analyze: bool = False,
) -> LoadStats:
    """Load `visits` settled visits (with persons, fee lines, settlements) for `seed`.

    Visits begin within `days` days from `start` (default: so that every visit is settled
    before today), so a report over the last year sees them. `analyze=True` runs ANALYZE
    TABLE afterwards (the benchmark does; it takes ~40 s even for small tables, because
    every monthly partition is analysed). Returns row counts and generate/load seconds.
    """
    stats = LoadStats()
    first = f"SY{seed:03d}P{0:09d}"
    with engine.connect() as conn:
        if conn.execute(
            text("SELECT 1 FROM insured_person WHERE psn_no = :p"), {"p": first}
        ).first():
            stats.skipped = True
            return stats
    ref = read_reference(engine)
    # the longest stay (20 days) still ends before today
    start = start or (dt.date.today() - dt.timedelta(days=days + 21))
    n_persons = persons or max(10, visits // 5)
    conn_raw = _connect(engine)
    try:
        with (
            tempfile.TemporaryDirectory(prefix="medhtap-synthetic-") as tmp,
            conn_raw.cursor() as cur,
        ):
            gen = generate(
                ref,
                visits=visits,
                seed=seed,
                start=start,
                days=days,
                persons=n_persons,
                chunk_visits=chunk_visits,
            )
            while True:
                t = time.perf_counter()
                chunk = next(gen, None)
                stats.generate_s += time.perf_counter() - t
                if chunk is None:
                    break
                t = time.perf_counter()
                for table, rows in chunk.rows.items():
                    if not rows:
                        continue
                    path = Path(tmp) / f"{table}.tsv"
                    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
                    load_file(cur, table, path)
                    stats.rows[table] += len(rows)
                stats.load_s += time.perf_counter() - t
            if analyze:
                # fresh statistics, as auto-analyze would give later: plans depend on them
                t = time.perf_counter()
                cur.execute("ANALYZE TABLE " + ", ".join(TABLE_COLUMNS))
                stats.analyze_s = time.perf_counter() - t
    finally:
        conn_raw.close()
    return stats
