"""Seeded synthetic data: persons, visits, fee lines and settlements, bulk-loaded.

    from medhtap.analytics.synthetic import load_synthetic
    load_synthetic(engine, visits=2000, seed=1)   # engine: a write engine (root/app account)

Deterministic for a seed; a second call with the same seed on the same database finds the
rows already there and loads nothing. Ids carry the seed (psn_no 'SY<seed>P...'; certno is
a valid id-card number whose district is chosen by the seed, `_certno`), so several seeds
can share a database.

Money comes from the settlement service's own rules (`rules.settle`, Decimal), so lines and
settlements are exactly what 2207 would have stored for them: line splits, sums, deductible
(per admission for inpatients; the yearly outpatient deductible is taken as met, since
visits are generated out of time order), fund share, account and cash. Every settlement
gets its analytic fact from `facts.settlement_fact` and its item facts from
`facts.item_facts`, the functions 2207 uses.

2 % of visits are cancelled the way the settlement service does it: the settlement row
turns 'cancelled', a 'reversal' row with negated amounts is added, the fee lines go back
to 'active' without setl_id or split, the visit is 'open' again, and the fact and the item
facts (`facts.item_facts`, one row per item of the settlement) gain their negated rows.
Not generated: account ledger rows, yearly accumulators, idempotency records; so the fund
split pays from the basic fund only (no secondary fund or assistance in synthetic history).

Loaded with LOAD DATA LOCAL INFILE in parts, each one transaction under TiDB's region-split
size, on two connections while the next rows are made (analytics/bulkload.py).
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pymysql
from sqlalchemy import Engine, bindparam, text

from medhtap.analytics import bulkload
from medhtap.platform import bulk
from medhtap.platform.db import bulk_connection
from medhtap.schema.base import table as core_table
from medhtap.schema.facts import SettlementFact, SettlementItemFact
from medhtap.schema.person import InsuredPerson
from medhtap.schema.settlement import Settlement
from medhtap.schema.visit import FeeDetail, Visit
from medhtap.services.settlement import facts, funds, rules
from medhtap.services.settlement.identity import ORDER_CODES, REGIONS, make_certno
from medhtap.services.settlement.rules import ZERO

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
    "psn_part_amt,acct_pay,psn_cash_pay,acct_balc_after,idempotency_key,policy_id,"
    + ",".join(rules.FUND_AMOUNTS),
    "setl_fact": ",".join(SettlementFact.__table__.columns.keys()),
    "setl_item_fact": ",".join(SettlementItemFact.__table__.columns.keys()),
}
COLUMN_LISTS = {t: cols.split(",") for t, cols in TABLE_COLUMNS.items()}
TABLES = {
    core_table(m).name: core_table(m)
    for m in (InsuredPerson, Visit, FeeDetail, Settlement, SettlementFact, SettlementItemFact)
}
NULL = "\\N"


# ---- reference data the generator draws from ------------------------------------------------


@dataclass(frozen=True)
class CatItem:
    item: rules.Item  # what the money rules need
    max_qty: int

    @property
    def item_code(self) -> str:
        return self.item.item_code

    @property
    def item_kind(self) -> str:
        return self.item.item_kind


def fen(v: int) -> Decimal:
    """Integer fen -> yuan (exact)."""
    return Decimal(v).scaleb(-2)


# ---- generation ---------------------------------------------------------------------------


@dataclass
class Chunk:
    rows: dict[str, list[str]] = field(default_factory=lambda: {t: [] for t in TABLE_COLUMNS})

    def add(self, table: str, values: Sequence[Any]) -> None:
        self.rows[table].append("\t".join(NULL if v is None else str(v) for v in values))

    def add_row(self, table: str, row: dict[str, Any]) -> None:
        self.add(table, [row[c] for c in COLUMN_LISTS[table]])


@dataclass(frozen=True)
class Reference:
    items: list[CatItem]
    institutions: list[tuple[str, int, str, str]]  # code, level, type, admdvs
    diagnoses: list[tuple[str, facts.Diag]]
    policy: dict[tuple[str, str, int], tuple[rules.Benefit, int]]  # -> benefit, policy_id


def read_reference(engine: Engine) -> Reference:
    with engine.connect() as conn:
        items = [
            CatItem(rules.Item.from_row(r), int(r.max_qty_per_day or 1))
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
        diags = [
            (r.diag_code, facts.Diag(r.block, r.chapter))
            for r in conn.execute(
                text(
                    "SELECT diag_code, block, chapter FROM diagnosis WHERE diag_code IN :codes "
                    "ORDER BY 1"
                ).bindparams(bindparam("codes", expanding=True)),
                {"codes": DIAG_CANDIDATES},
            )
        ]
        policy = {
            (r.insutype, r.med_type, int(r.hosp_lv)): (
                rules.Benefit(r.dedc_amt, r.dedc_scope, r.pool_prop, r.annual_cap),
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


def _certno(seed: int, brdy: dt.date, gend: str, born: Counter[tuple[dt.date, str]]) -> str:
    """A valid id-card number: the seed picks the district, persons of one birth date and
    gender are numbered by the order code. Unique for seeds that differ modulo 20, with up
    to 500 persons of a seed per birth date and gender (10M persons: about 170)."""
    n = born[brdy, gend]
    if n >= ORDER_CODES:
        raise ValueError(f"more than {ORDER_CODES} synthetic persons born {brdy}, gender {gend}")
    born[brdy, gend] += 1
    return make_certno(brdy, gend, (seed % len(REGIONS)) * ORDER_CODES + n)


def _cap_fen(item: CatItem) -> int | None:
    cap = item.item.pric_uplmt_amt
    return int(cap * 100) if cap is not None else None


def _base_price(item: CatItem, rng: random.Random) -> int:
    cap = _cap_fen(item)
    if cap is not None:
        # mostly below the cap, sometimes above it (overlmt_selfpay)
        return max(100, int(cap * rng.choice((0.6, 0.8, 0.95, 1.0, 1.0, 1.2))))
    base = {"drug": 3000, "service": 8000, "material": 5000}[item.item_kind]
    return rng.randint(base // 4, base * 2)


def used_before(benefit: rules.Benefit) -> rules.Used:
    """What the person used this year before the visit. Visits are generated out of time
    order, so the yearly outpatient deductible is taken as met (it is not tracked across
    visits); an inpatient deductible applies to every admission anyway."""
    return rules.Used(dedc_used=benefit.dedc_amt if benefit.dedc_scope == "year" else ZERO)


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
    cheap = [i for i in ref.items if (_cap_fen(i) or 0) <= 100_000]
    cheap_w = [KIND_WEIGHT[i.item_kind] for i in cheap]
    ppl: list[dict[str, Any]] = []
    born: Counter[tuple[dt.date, str]] = Counter()
    chunk = Chunk()
    for p in range(persons):
        psn_no = f"SY{seed:03d}P{p:09d}"
        gend = rng.choice("12")
        brdy = dt.date(rng.randint(1940, 2022), rng.randint(1, 12), rng.randint(1, 28))
        insutype = "310" if rng.random() < 0.6 else "390"
        acct = fen(rng.randint(0, 500_000) if insutype == "310" else 0)
        certno = _certno(seed, brdy, gend, born)
        name = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
        admdvs = rng.choice(ref.institutions)[3]
        chunk.add(
            "insured_person",
            (psn_no, certno, name, gend, brdy, insutype, admdvs, acct, "active"),
        )
        known: dict[str, Any] = {"psn_no": psn_no, "gend": gend, "brdy": brdy, "admdvs": admdvs}
        ppl.append(known | {"rules": rules.Person(insutype, gend, brdy, acct)})
    t0 = dt.datetime.combine(start, dt.time(8))
    span = days * 86_400
    for v in range(visits):
        if v and v % chunk_visits == 0:
            yield chunk
            chunk = Chunk()
        person = ppl[rng.randrange(persons)]
        psn: rules.Person = person["rules"]
        inpatient = rng.random() < 0.15
        inst = rng.choice(hospitals) if inpatient else rng.choice(ref.institutions)
        code, lv = inst[0], inst[1]
        med_type = "21" if inpatient else "11"  # national codes (rules.MED_TYPES)
        begin = t0 + dt.timedelta(seconds=rng.randrange(span))
        begin = begin.replace(microsecond=0)
        los = rng.randint(1, 20) if inpatient else 0
        end = begin + (dt.timedelta(days=los) if inpatient else dt.timedelta(hours=1))
        mdtrt_id = f"{rng.getrandbits(48):012x}S{seed:03d}V{v:010d}"
        cancelled = rng.random() < cancel_share
        diag_code, diag = rng.choice(ref.diagnoses)
        visit = {
            "mdtrt_id": mdtrt_id,
            "dept_name": rng.choice(DEPTS_IN if inpatient else DEPTS_OUT),
            "begntime": begin,
            "endtime": end,
            "main_diag_code": diag_code,
        }
        chunk.add(
            "visit",
            (
                mdtrt_id,
                person["psn_no"],
                code,
                med_type,
                visit["dept_name"],
                begin,
                end,
                diag_code,
                "open" if cancelled else "settled",
            ),
        )
        setl_id = f"SE{mdtrt_id}"
        n_lines = rng.randint(6, 16) if inpatient else rng.randint(2, 5)
        picked = (
            rng.choices(ref.items, weights, k=n_lines)
            if inpatient
            else rng.choices(cheap, cheap_w, k=n_lines)
        )
        lines = [
            rules.Line(
                f"{n + 1:04d}",
                item.item,
                Decimal(rng.randint(1, item.max_qty)),
                fen(_base_price(item, rng)),
            )
            for n, item in enumerate(picked)
        ]
        benefit, policy_id = ref.policy[(psn.insutype, rules.med_type(med_type).benefit, lv)]
        m = rules.settle(lines, psn, begin.date(), benefit, used_before(benefit), use_account=True)
        for line, split in zip(lines, m.lines, strict=True):
            when = begin + dt.timedelta(seconds=rng.randrange(max(1, los * 86_400 or 3_000)))
            # A cancelled visit's lines are back to active with no split, as the service
            # leaves them after 2208; settled lines carry their split and setl_id.
            state: tuple[object, ...] = (
                ("active", None, ZERO, ZERO, ZERO, ZERO, None)
                if cancelled
                else (
                    "settled",
                    setl_id,
                    split.fulamt_ownpay_amt,
                    split.overlmt_selfpay,
                    split.preselfpay_amt,
                    split.inscp_scp_amt,
                    split.ownpay_reason,
                )
            )
            chunk.add(
                "fee_detail",
                (mdtrt_id, line.feedetl_sn, line.item.item_code, line.cnt, line.pric)
                + (split.amount, when)
                + state,
            )
        setl_time = end + dt.timedelta(minutes=rng.randint(1, 30))
        setl = {
            "setl_id": setl_id,
            "setl_type": "normal",
            "setl_status": "cancelled" if cancelled else "settled",
            "orig_setl_id": None,
            "mdtrt_id": mdtrt_id,
            "psn_no": person["psn_no"],
            "fixmedins_code": code,
            "insutype": psn.insutype,
            "med_type": med_type,
            "hosp_lv": lv,
            "setl_time": setl_time,
            "cancel_time": None,
            **{k: getattr(m, k) for k in (*rules.AMOUNTS, "pool_prop_selfpay")},
            # the basic fund only: no year accumulators are generated, which the secondary
            # fund and assistance are computed from
            **funds.fund_amounts({"hifp_pay": m.hifp_pay}),
            "acct_balc_after": psn.acct_balc - m.acct_pay,
            "idempotency_key": f"synthetic:{seed}:{v}",
            "policy_id": policy_id,
        }
        fact = facts.settlement_fact(
            setl,
            visit,
            person,
            diag,
            ((ln.item.item_kind, sp.amount) for ln, sp in zip(lines, m.lines, strict=True)),
        )
        chunk.add_row("setl_fact", facts.cancelled_fact(fact) if cancelled else fact)
        items = facts.item_facts(
            fact,
            ((ln.item.item_code, sp.amount, ln.cnt) for ln, sp in zip(lines, m.lines, strict=True)),
        )
        for item in items:
            chunk.add_row("setl_item_fact", item)
        if cancelled:
            # as 2208 does: the row stays (cancelled), a reversal row negates it, and the
            # fact gains its -1 row
            cancel_at = setl_time + dt.timedelta(hours=2)
            chunk.add_row("settlement", setl | {"cancel_time": cancel_at})
            chunk.add_row(
                "settlement",
                setl
                | {k: -setl[k] for k in rules.SETTLEMENT_AMOUNTS}
                | {
                    "setl_id": f"RV{mdtrt_id}",
                    "setl_type": "reversal",
                    "setl_status": "reversal",
                    "orig_setl_id": setl_id,
                    "setl_time": cancel_at,
                    "idempotency_key": f"synthetic:{seed}:{v}:cancel",
                },
            )
            chunk.add_row("setl_fact", facts.reversal_fact(fact, f"RV{mdtrt_id}", cancel_at))
            for item in facts.reversal_items(items):
                chunk.add_row("setl_item_fact", item)
        else:
            chunk.add_row("settlement", setl)
    yield chunk


# ---- loading ------------------------------------------------------------------------------


@dataclass
class LoadStats:
    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLE_COLUMNS, 0))
    generate_s: float = 0.0  # making the rows (Python), beside the loading
    load_s: float = 0.0  # the whole load's wall time, generation included (pipelined)
    busy_s: list[float] = field(default_factory=list)  # each connection's time in LOAD DATA
    analyze_s: float = 0.0
    skipped: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "generate_s": round(self.generate_s, 2),
            "load_s": round(self.load_s, 2),
            "busy_s": [round(b, 2) for b in self.busy_s],
            "analyze_s": round(self.analyze_s, 2),
            "skipped": self.skipped,
        }


def _connect(engine: Engine) -> pymysql.connections.Connection[Any]:
    return bulk_connection(engine.url, autocommit=True)


# A fact's recorded_at is when it reached the platform, never earlier than the transaction
# that writes it: the rollups' watermark relies on it (analytics/rollup.py). History loaded
# now is recorded now; the generated value is read into a variable and dropped.
RECORDED_NOW = {"setl_fact": ("recorded_at", "SET recorded_at = NOW(6)")}


def load_file(cur: Any, table: str, path: Path) -> None:
    columns, set_clause = TABLE_COLUMNS[table], ""
    if table in RECORDED_NOW:
        column, set_clause = RECORDED_NOW[table]
        columns = ",".join(f"@{c}" if c == column else c for c in COLUMN_LISTS[table])
    cur.execute(
        f"LOAD DATA LOCAL INFILE %s INTO TABLE {table} CHARACTER SET utf8mb4 "
        f"FIELDS TERMINATED BY '\\t' LINES TERMINATED BY '\\n' ({columns}) {set_clause}",
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
    lanes: int = 0,
    tables: Collection[str] | None = None,
) -> LoadStats:
    """Load `visits` settled visits (with persons, fee lines, settlements) for `seed`.

    Visits begin within `days` days from `start` (default: so that every visit is settled
    before today), so a report over the last year sees them. `analyze=True` runs ANALYZE
    TABLE afterwards (the benchmark does; it takes ~40 s even for small tables, because
    every monthly partition is analysed). `lanes`: connections loading at once (0: the
    default, bulkload.default_lanes). `tables`: load only these of the generated tables
    (the benchmark's facts-only scale run: every row is still made, money included, so the
    facts are the ones a full load would give). Returns row counts and generate/load seconds.
    """
    wanted = set(tables or TABLE_COLUMNS)
    if unknown := wanted - set(TABLE_COLUMNS):
        raise ValueError(f"not a generated table: {sorted(unknown)}")
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
    gen = generate(
        ref,
        visits=visits,
        seed=seed,
        start=start,
        days=days,
        persons=n_persons,
        chunk_visits=chunk_visits,
    )
    # one LOAD DATA is one transaction: each stays under the keys at which TiDB would split
    # the region (platform/bulk.py); rows are made while the lanes load the parts before
    parts = (
        part
        for chunk in gen
        for table, rows in chunk.rows.items()
        if table in wanted
        for part in bulkload.parts_of(table, rows, bulk.keys_per_row(TABLES[table]))
    )
    timing = bulkload.load_pipelined(
        lambda: _connect(engine), parts, load_file, lanes or bulkload.default_lanes()
    )
    stats.rows |= timing.rows
    stats.generate_s, stats.load_s, stats.busy_s = timing.produce_s, timing.wall_s, timing.busy_s
    if analyze:
        # fresh statistics, as auto-analyze would give later: plans depend on them
        conn_raw = _connect(engine)
        try:
            with conn_raw.cursor() as cur:
                t = time.perf_counter()
                cur.execute("ANALYZE TABLE " + ", ".join(t for t in TABLE_COLUMNS if t in wanted))
                stats.analyze_s = time.perf_counter() - t
        finally:
            conn_raw.close()
    return stats
