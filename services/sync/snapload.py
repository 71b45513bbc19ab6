"""A source's first snapshot through LOAD DATA, when TiDB holds no row of it yet.

The upsert path (batch.py) reads what each chunk touches and writes multi-row upserts. A
source with no row in TiDB has nothing to read and nothing to update, so its first snapshot
maps the same rows with the same pure functions (mapping.py, the money rules) and loads them
with LOAD DATA LOCAL INFILE on two connections while the next rows are mapped
(analytics/bulkload.py), each part one autocommit transaction under the keys at which TiDB
splits a region (platform/bulk.py).

The roles are read from the one consistent snapshot in an order that writes every row once,
in its final state: patients (their insurance numbers, kept in memory), diagnoses (each
visit's main one, kept in memory), encounters (visits, with their main diagnosis), charges
(fee lines, revoked when their encounter is cancelled). What the upsert path would
dead-letter is dead-lettered here, with the same reason (batch.dead_letter).

Not idempotent by itself, so used only on a source with no row in TiDB (`fresh`): a re-run
takes a new snapshot, whose rows may differ from what an interrupted run loaded (a corrected
quantity, a deleted charge, a line settled meanwhile), so LOAD DATA ... IGNORE would keep
stale rows and ... REPLACE would overwrite settled lines. A re-run, or a load that meets a row
already there or any server warning (`NotFresh`), takes the upsert path (stream.snapshot).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pymysql
import pymysql.cursors
from sqlalchemy import Engine, Table, insert, select
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from medhtap.analytics import bulkload
from medhtap.platform import bulk
from medhtap.platform.db import bulk_connection
from medhtap.services.settlement.rules import money
from medhtap.services.sync import mapping as m
from medhtap.services.sync.apply import position
from medhtap.services.sync.batch import (
    DEAD,
    FEE,
    ITEMS,
    PATIENTS,
    UNKNOWN_DIAGNOSIS,
    VISIT,
    VISIT_COLUMNS,
    Applied,
    Change,
    Source,
    dead_letter,
    no_insurance_number,
    not_synced,
)

log = logging.getLogger("medhtap.sync")
READ_ROWS = 4000  # rows fetched from the HIS at a time
DEAD_ROWS = 2000  # dead letters written at a time (a few keys each)
WHERE = "snapshot"  # the position a snapshot's dead letters name, as on the upsert path
NULL = "\\N"
ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
FEE_COLUMNS = (
    "mdtrt_id",
    "feedetl_sn",
    "item_code",
    "cnt",
    "pric",
    "det_item_fee_sumamt",
    "fee_ocur_time",
    "fee_status",
)
COLUMNS: dict[str, tuple[Table, tuple[str, ...]]] = {
    PATIENTS.name: (PATIENTS, ("source_id", "patient_id", "psn_no")),
    VISIT.name: (VISIT, VISIT_COLUMNS),
    FEE.name: (FEE, FEE_COLUMNS),
}

# one part is one transaction: under the keys at which TiDB splits a region
PART_ROWS = {name: bulk.rows_per_txn(t) for name, (t, _) in COLUMNS.items()}


class NotFresh(Exception):
    """The load met a row that is already there, or the server changed a value: the
    snapshot goes the upsert path instead."""


def fresh(engine: Engine, source_id: str) -> bool:
    """No completed snapshot and no row of the source in TiDB: its first snapshot can load."""
    pos = position(engine, source_id)
    if pos is not None and pos.snapshot_done:
        return False
    prefix = m.visit_id(source_id, "")
    probes = [
        select(PATIENTS.c.patient_id).where(PATIENTS.c.source_id == source_id),
        select(VISIT.c.mdtrt_id).where(VISIT.c.mdtrt_id.startswith(prefix, autoescape=True)),
        select(FEE.c.mdtrt_id).where(FEE.c.mdtrt_id.startswith(prefix, autoescape=True)),
        select(DEAD.c.id).where(DEAD.c.source_id == source_id),
    ]
    with engine.connect() as conn:
        return all(conn.execute(q.limit(1)).first() is None for q in probes)


def read_chunks(
    conn: pymysql.Connection, table: str, where: tuple[str, list[Any]] = ("TRUE", [])
) -> Iterator[list[Change]]:
    """A HIS table's rows (in the caller's snapshot) as insert changes, READ_ROWS at a time."""
    with conn.cursor(pymysql.cursors.SSDictCursor) as cur:
        # Names come from the mapping document, values are parameters.
        cur.execute(f"SELECT * FROM `{table}` WHERE {where[0]}", where[1])
        while rows := cur.fetchmany(READ_ROWS):
            yield [Change(table, "insert", r) for r in rows]


@dataclass
class _State:
    """What the snapshot keeps between roles, and what it found."""

    engine: Engine
    src: Source
    items: dict[str, str]
    psn: dict[int, str | None] = field(default_factory=dict)  # patient id -> psn_no
    main: dict[str, str] = field(default_factory=dict)  # mdtrt_id -> main diagnosis
    synced: set[str] = field(default_factory=set)  # mdtrt_ids of the visits loaded
    cancelled: set[str] = field(default_factory=set)
    dead: list[dict[str, Any]] = field(default_factory=list)
    out: Applied = field(default_factory=Applied)
    buffers: dict[str, list[str]] = field(default_factory=dict)

    def reject(self, role: str, change: Change, exc: m.Rejected) -> None:
        self.out.dead += 1
        self.dead.append(dead_letter(self.src, role, change, WHERE, exc))
        if len(self.dead) >= DEAD_ROWS:
            self.write_dead()

    def write_dead(self) -> None:
        if self.dead:
            with self.engine.begin() as conn:
                conn.execute(insert(DEAD), self.dead)
            self.dead = []

    def row(self, table: str, *values: Any) -> Iterator[bulkload.Part]:
        """Add one row of `table`; a part when it is full."""
        self.out.rows += 1
        rows = self.buffers.setdefault(table, [])
        rows.append("\t".join(_field(v) for v in values))
        if len(rows) >= PART_ROWS[table]:
            yield bulkload.Part(table, rows)
            self.buffers[table] = []

    def rest(self) -> Iterator[bulkload.Part]:
        for table, rows in self.buffers.items():
            if rows:
                yield bulkload.Part(table, rows)
        self.buffers = {}


def load(conn: pymysql.Connection, engine: Engine, src: Source, lanes: int) -> Applied:
    """Load every mapped row of the HIS snapshot open on `conn` (the caller writes the
    position afterwards). Raises NotFresh when the load meets a row already there."""
    with engine.connect() as db:
        rows = db.execute(
            select(ITEMS.c.local_item_code, ITEMS.c.item_code).where(
                ITEMS.c.source_id == src.source_id
            )
        )
        st = _State(engine, src, {str(a): str(b) for a, b in rows})
    parts = _parts(conn, st)
    try:
        timing = bulkload.load_pipelined(
            lambda: _connect(engine), parts, _load_file, lanes or bulkload.default_lanes()
        )
    finally:
        parts.close()  # a failed load leaves it reading: end its HIS cursor now
    st.write_dead()
    log.info(
        "snapshot of %s loaded: %s rows, %d dead letters, %.1f s (mapping %.1f s)",
        src.source_id,
        ", ".join(f"{t} {n}" for t, n in timing.rows.items()),
        st.out.dead,
        timing.wall_s,
        timing.produce_s,
    )
    return st.out


def _parts(conn: pymysql.Connection, st: _State) -> Generator[bulkload.Part, None, None]:
    spec, sid = st.src.spec, st.src.source_id
    for chunk in read_chunks(conn, spec.table("patient")):
        for c in chunk:
            try:
                p = m.patient(spec, c.row)
            except m.Rejected as exc:
                st.reject("patient", c, exc)
                continue
            st.psn[p.patient_id] = p.psn_no
            yield from st.row(PATIENTS.name, sid, p.patient_id, p.psn_no)
    yield from st.rest()  # each role's last part goes while the next role is read
    # Main diagnoses before their visits, so each visit is written once; the last one read
    # wins, as on the upsert path (diagnoses applied in the same order).
    for chunk in read_chunks(conn, spec.table("diagnosis")):
        for c in chunk:
            try:
                d = m.diagnosis(spec, c.row)
            except m.Rejected as exc:
                st.reject("diagnosis", c, exc)
                continue
            if d.is_main:
                st.main[m.visit_id(sid, d.encounter_id)] = d.code
    for chunk in read_chunks(conn, spec.table("encounter")):
        for c in chunk:
            try:
                e = m.encounter(spec, c.row)
                psn_no = st.psn.get(e.patient_id)
                if not psn_no:
                    raise no_insurance_number(e.patient_id)
            except m.Rejected as exc:
                st.reject("encounter", c, exc)
                continue
            mdtrt_id = m.visit_id(sid, e.encounter_id)
            st.synced.add(mdtrt_id)
            if e.cancelled:
                st.cancelled.add(mdtrt_id)
            diag = st.main.get(mdtrt_id, UNKNOWN_DIAGNOSIS)
            visit = (e.med_type, e.dept_name, e.begntime, e.endtime, diag, "open")
            yield from st.row(VISIT.name, mdtrt_id, psn_no, st.src.fixmedins_code, *visit)
    yield from st.rest()
    _dead_diagnoses(conn, st)
    for chunk in read_chunks(conn, spec.table("charge")):
        for c in chunk:
            try:
                # keys as batch._charge makes them: from the HIS's own values
                mdtrt_id = m.visit_id(sid, spec.get("charge", "encounter", c.row))
                sn = m.fee_sn(spec.get("charge", "key", c.row))
                ch = m.charge(spec, c.row, st.items.get)
                if mdtrt_id not in st.synced:
                    raise not_synced(ch.encounter_id, "charge")
            except m.Rejected as exc:
                st.reject("charge", c, exc)
                continue
            # the upsert path revokes a cancelled encounter's lines after the charges
            status = "revoked" if mdtrt_id in st.cancelled else "active"
            amount = money(ch.cnt * ch.pric)
            line = (ch.item_code, ch.cnt, ch.pric, amount, ch.fee_ocur_time, status)
            yield from st.row(FEE.name, mdtrt_id, sn, *line)
    yield from st.rest()


def _dead_diagnoses(conn: pymysql.Connection, st: _State) -> None:
    """Main diagnoses of encounters that were not synced are dead letters (read again, by
    encounter: they are few, most encounters have a visit)."""
    spec, sid = st.src.spec, st.src.source_id
    missing = sorted({k for k in st.main if k not in st.synced})
    column = spec.column("diagnosis", "encounter")
    for start in range(0, len(missing), 1000):
        some = missing[start : start + 1000]
        ids = [_raw_encounter(sid, k) for k in some]
        where = f"`{column}` IN ({', '.join(['%s'] * len(ids))})"
        for chunk in read_chunks(conn, spec.table("diagnosis"), (where, ids)):
            for c in chunk:
                try:
                    d = m.diagnosis(spec, c.row)
                except m.Rejected:
                    continue  # dead-lettered when first read
                if d.is_main and m.visit_id(sid, d.encounter_id) not in st.synced:
                    st.reject("diagnosis", c, not_synced(d.encounter_id, "diagnosis"))


def _raw_encounter(source_id: str, mdtrt_id: str) -> str:
    return mdtrt_id.removeprefix(m.visit_id(source_id, ""))


def _field(v: Any) -> str:
    """One TSV field for LOAD DATA's default escaping (\\N is NULL)."""
    if v is None:
        return NULL
    if isinstance(v, Decimal):
        return format(v, "f")
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ")
    return str(v).translate(ESCAPES)


def _connect(engine: Engine) -> pymysql.connections.Connection[Any]:
    return bulk_connection(
        engine.url,
        autocommit=True,
        read_timeout=600,
        write_timeout=600,
        # optimistic: a part locks no keys one by one (the ingest's choice, ingest/load.py)
        init_command="SET SESSION tidb_txn_mode = 'optimistic'",
    )


def _statement(name: str) -> tuple[str, list[Any]]:
    """LOAD DATA of `name`'s columns in file order; the other columns with a default get it
    as an INSERT through SQLAlchemy would (the money split of a fee line: 0.00)."""
    table, columns = COLUMNS[name]
    defaults = [
        (c.name, c.default.arg)
        for c in table.columns
        if c.name not in columns and isinstance(c.default, ScalarElementColumnDefault)
    ]
    sets = ", ".join(f"`{n}` = %s" for n, _ in defaults)
    sql = (
        f"LOAD DATA LOCAL INFILE %s INTO TABLE `{name}` CHARACTER SET utf8mb4 "
        f"FIELDS TERMINATED BY '\\t' LINES TERMINATED BY '\\n' ({', '.join(columns)})"
    )
    return sql + (f" SET {sets}" if sets else ""), [v for _, v in defaults]


STATEMENTS = {name: _statement(name) for name in COLUMNS}


def _load_file(cur: Any, name: str, path: Path) -> None:
    sql, args = STATEMENTS[name]
    cur.execute(sql, (str(path), *args))
    # LOAD DATA LOCAL skips a duplicate key with a warning, and turns what an INSERT would
    # refuse into warnings: either means the upsert path must do this snapshot.
    if cur.connection._result.warning_count:  # noqa: SLF001 - pymysql's only handle
        cur.execute("SHOW WARNINGS")
        raise NotFresh(f"LOAD DATA of {name}: {list(cur.fetchall())[:3]}")
