"""Apply one source transaction to TiDB, with the source position, in ONE TiDB transaction.

Exactly once: the position moves in the same transaction as the rows it produced, and a
source transaction at or before the stored position is skipped, so a crash anywhere (sync,
HIS, TiDB) followed by a restart applies nothing twice and loses nothing. Keys are derived
from the source's own ids, so re-applying a snapshot row is an upsert of the same row.

Corrections: before settlement a HIS update or delete is applied (the line's quantity and
price change, a deleted line is revoked); after settlement nothing is changed silently, a
data-quality event records what the HIS did.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.dialects.mysql import insert
from sqlalchemy.orm import Session

from medhtap.platform.tx import run_in_transaction
from medhtap.schema.base import table
from medhtap.schema.sync import (
    DataQualityEvent,
    SyncDeadLetter,
    SyncItemMap,
    SyncPatient,
    SyncPosition,
    SyncSource,
)
from medhtap.schema.visit import FeeDetail, Visit
from medhtap.services.settlement.rules import money
from medhtap.services.sync import mapping as m

VISIT, FEE = table(Visit), table(FeeDetail)
POS, ITEMS, PATIENTS = table(SyncPosition), table(SyncItemMap), table(SyncPatient)
DEAD, DQ = table(SyncDeadLetter), table(DataQualityEvent)
UNKNOWN_DIAGNOSIS = "R69"  # ICD-10 "unknown and unspecified causes", until the HIS names one
FEE_BY_VISIT = "/*+ USE_INDEX(fee_detail, uq_fee_detail_mdtrt_id_feedetl_sn) */"


@dataclass(frozen=True)
class Change:
    table: str
    op: str  # insert, update, delete
    row: Mapping[str, Any]  # after image (before image for a delete)


@dataclass(frozen=True)
class Source:
    source_id: str
    fixmedins_code: str
    spec: m.Spec


@dataclass
class Ctx:
    """One TiDB transaction's view: visits and lines locked once, the item map read once."""

    session: Session
    src: Source
    items: dict[str, str]
    visits: dict[str, Any] = field(default_factory=dict)
    lines: dict[tuple[str, str], str | None] = field(default_factory=dict)

    @classmethod
    def open(cls, session: Session, src: Source, changes: Sequence[Change]) -> Ctx:
        rows = session.execute(
            select(ITEMS.c.local_item_code, ITEMS.c.item_code).where(
                ITEMS.c.source_id == src.source_id
            )
        )
        ctx = cls(session, src, {str(a): str(b) for a, b in rows})
        ctx._prefetch_lines(changes)
        return ctx

    def _prefetch_lines(self, changes: Sequence[Change]) -> None:
        """Lock every fee line this transaction may touch in one statement."""
        if "charge" not in self.src.spec.raw:
            return
        table_name = self.src.spec.table("charge")
        enc, key = (
            self.src.spec.column("charge", "encounter"),
            self.src.spec.column("charge", "key"),
        )
        keys = {
            (m.visit_id(self.src.source_id, c.row.get(enc)), m.fee_sn(c.row.get(key)))
            for c in changes
            if c.table == table_name
        }
        if not keys:
            return
        self.lines = dict.fromkeys(keys)
        found = self.session.execute(
            select(FEE.c.mdtrt_id, FEE.c.feedetl_sn, FEE.c.fee_status)
            .prefix_with(FEE_BY_VISIT)
            .where(
                FEE.c.mdtrt_id.in_({k[0] for k in keys}),
                FEE.c.feedetl_sn.in_({k[1] for k in keys}),
            )
            .with_for_update()
        )
        for mdtrt_id, sn, status in found:
            if (mdtrt_id, sn) in self.lines:
                self.lines[(mdtrt_id, sn)] = str(status)

    def visit(self, mdtrt_id: str) -> Any:
        if mdtrt_id not in self.visits:
            self.visits[mdtrt_id] = self.session.execute(
                select(VISIT.c.vis_status, VISIT.c.psn_no)
                .where(VISIT.c.mdtrt_id == mdtrt_id)
                .with_for_update()
            ).first()
        return self.visits[mdtrt_id]


@dataclass
class Applied:
    rows: int = 0
    dead: int = 0
    quality: int = 0
    skipped: bool = False
    notes: list[str] = field(default_factory=list)


def position(engine: Engine, source_id: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(POS).where(POS.c.source_id == source_id)).first()


def apply(
    engine: Engine,
    src: Source,
    changes: Sequence[Change],
    *,
    gtid: str | None,
    commit_time: dt.datetime | None,
    snapshot_done: bool = True,
) -> Applied:
    """Apply `changes` (one source transaction, or a snapshot chunk when gtid is None)."""

    def unit(session: Session) -> Applied:
        pos = session.execute(
            select(POS).where(POS.c.source_id == src.source_id).with_for_update()
        ).first()
        if gtid is not None and pos is not None and m.already_applied(pos.gtid, gtid):
            return Applied(skipped=True)
        out = Applied()
        ctx = Ctx.open(session, src, changes)
        for change in changes:
            _one(ctx, change, gtid or "snapshot", out)
        if gtid is not None:
            new_gtid = m.advance(pos.gtid if pos else "", gtid)
            values = {
                "gtid": new_gtid,
                "source_commit_time": commit_time,
                "snapshot_done": snapshot_done,
                "events": (pos.events if pos else 0) + len(changes),
                "applied_at": dt.datetime.now(),
            }
            session.execute(
                insert(POS)
                .values(source_id=src.source_id, **values)
                .on_duplicate_key_update(values)
            )
        return out

    return run_in_transaction(engine, unit, name="sync_apply", idempotent=True)


def _one(ctx: Ctx, change: Change, where: str, out: Applied) -> None:
    role = ctx.src.spec.role_of(change.table)
    if role is None:
        return
    try:
        _apply_role(ctx, role, change, out)
        out.rows += 1
    except m.Rejected as exc:
        out.dead += 1
        ctx.session.execute(
            insert(DEAD).values(
                source_id=ctx.src.source_id,
                his_table=change.table,
                op=change.op,
                his_key=_key(ctx.src.spec, role, change.row),
                gtid=where,
                reason=str(exc)[:400],
                row_data=_jsonable(change.row),
            )
        )


def _apply_role(ctx: Ctx, role: str, change: Change, out: Applied) -> None:
    if role == "patient":
        _patient(ctx, change)
    elif role == "encounter":
        _encounter(ctx, change, out)
    elif role == "diagnosis":
        _diagnosis(ctx, change, out)
    else:
        _charge(ctx, change, out)


def _key(spec: m.Spec, role: str, row: Mapping[str, Any]) -> str:
    field_name = "key" if "key" in spec.raw[role] else "encounter"
    return str(row.get(spec.column(role, field_name), "?"))[:64]


def _jsonable(row: Mapping[str, Any]) -> dict[str, Any]:
    def plain(v: Any) -> Any:
        if isinstance(v, dt.date):
            return v.isoformat()
        return v if isinstance(v, int | str | None) else str(v)

    return {k: plain(v) for k, v in row.items()}


def _quality(ctx: Ctx, change: Change, mdtrt_id: str, kind: str, out: Applied) -> None:
    out.quality += 1
    ctx.session.execute(
        insert(DQ).values(
            source_id=ctx.src.source_id,
            kind=kind,
            his_table=change.table,
            his_key=str(next(iter(change.row.values()), "?"))[:64],
            mdtrt_id=mdtrt_id,
            detail={"op": change.op, "row": _jsonable(change.row)},
        )
    )


def _patient(ctx: Ctx, change: Change) -> None:
    p = m.patient(ctx.src.spec, change.row)
    if change.op == "delete":
        return  # a HIS never really deletes a patient; keep the insurance number we knew
    values = {"psn_no": p.psn_no}
    ctx.session.execute(
        insert(PATIENTS)
        .values(source_id=ctx.src.source_id, patient_id=p.patient_id, **values)
        .on_duplicate_key_update(values)
    )


def _encounter(ctx: Ctx, change: Change, out: Applied) -> None:
    e = m.encounter(ctx.src.spec, change.row)
    mdtrt_id = m.visit_id(ctx.src.source_id, e.encounter_id)
    visit = ctx.visit(mdtrt_id)
    if visit is not None and visit.vis_status == "settled":
        _quality(ctx, change, mdtrt_id, "correction_after_settlement", out)
        return
    if visit is None and change.op != "delete":
        _insert_visit(ctx, e, mdtrt_id)
    elif visit is not None and change.op != "delete":
        ctx.session.execute(
            update(VISIT)
            .where(VISIT.c.mdtrt_id == mdtrt_id)
            .values(
                med_type=e.med_type, dept_name=e.dept_name, begntime=e.begntime, endtime=e.endtime
            )
        )
    if change.op == "delete" or e.cancelled:  # a cancelled visit keeps no active fee lines
        ctx.session.execute(
            update(FEE)
            .prefix_with(FEE_BY_VISIT)
            .where(FEE.c.mdtrt_id == mdtrt_id, FEE.c.fee_status == "active")
            .values(fee_status="revoked")
        )


def _insert_visit(ctx: Ctx, e: m.EncounterRow, mdtrt_id: str) -> None:
    psn_no = ctx.session.execute(
        select(PATIENTS.c.psn_no).where(
            PATIENTS.c.source_id == ctx.src.source_id, PATIENTS.c.patient_id == e.patient_id
        )
    ).scalar()
    if not psn_no:
        raise m.Rejected(f"patient {e.patient_id} has no insurance number (psn_no)")
    ctx.session.execute(
        insert(VISIT).values(
            mdtrt_id=mdtrt_id,
            psn_no=psn_no,
            fixmedins_code=ctx.src.fixmedins_code,
            med_type=e.med_type,
            dept_name=e.dept_name,
            begntime=e.begntime,
            endtime=e.endtime,
            main_diag_code=UNKNOWN_DIAGNOSIS,
            vis_status="open",
        )
    )
    ctx.visits[mdtrt_id] = Visiting("open", psn_no)


@dataclass(frozen=True)
class Visiting:
    """A visit this transaction inserted (what `Ctx.visit` returns for it)."""

    vis_status: str
    psn_no: str


def _diagnosis(ctx: Ctx, change: Change, out: Applied) -> None:
    d = m.diagnosis(ctx.src.spec, change.row)
    if not d.is_main or change.op == "delete":
        return
    mdtrt_id = m.visit_id(ctx.src.source_id, d.encounter_id)
    visit = ctx.visit(mdtrt_id)
    if visit is None:
        raise m.Rejected(f"encounter {d.encounter_id} was not synced (no visit for its diagnosis)")
    if visit.vis_status == "settled":
        _quality(ctx, change, mdtrt_id, "correction_after_settlement", out)
        return
    ctx.session.execute(
        update(VISIT).where(VISIT.c.mdtrt_id == mdtrt_id).values(main_diag_code=d.code)
    )


def _charge(ctx: Ctx, change: Change, out: Applied) -> None:
    spec = ctx.src.spec
    mdtrt_id = m.visit_id(ctx.src.source_id, change.row.get(spec.column("charge", "encounter")))
    sn = m.fee_sn(change.row.get(spec.column("charge", "key")))
    status = ctx.lines.get((mdtrt_id, sn))
    if status == "settled":
        _quality(ctx, change, mdtrt_id, "correction_after_settlement", out)
        return
    if change.op == "delete":
        if status is not None:
            ctx.session.execute(
                update(FEE)
                .prefix_with(FEE_BY_VISIT)
                .where(FEE.c.mdtrt_id == mdtrt_id, FEE.c.feedetl_sn == sn)
                .values(fee_status="revoked")
            )
            ctx.lines[(mdtrt_id, sn)] = "revoked"
        return
    c = m.charge(spec, change.row, ctx.items.get)
    visit = ctx.visit(mdtrt_id)
    if visit is None:
        raise m.Rejected(f"encounter {c.encounter_id} was not synced (no visit for its charge)")
    if visit.vis_status == "settled":
        _quality(ctx, change, mdtrt_id, "charge_after_settlement", out)
        return
    values = {
        "item_code": c.item_code,
        "cnt": c.cnt,
        "pric": c.pric,
        "det_item_fee_sumamt": money(c.cnt * c.pric),
        "fee_ocur_time": c.fee_ocur_time,
    }
    # A revoked line (deleted charge, cancelled visit) stays revoked when the HIS edits it.
    ctx.session.execute(
        insert(FEE)
        .values(mdtrt_id=mdtrt_id, feedetl_sn=sn, fee_status="active", **values)
        .on_duplicate_key_update(values)
    )
    ctx.lines[(mdtrt_id, sn)] = status or "active"  # a later delete in this txn sees it


def load_source(engine: Engine, source_id: str) -> Source:
    src = table(SyncSource)
    with engine.connect() as conn:
        row = conn.execute(select(src).where(src.c.source_id == source_id)).first()
    if row is None:
        raise LookupError(f"no sync source {source_id!r} (run: medhtap sync register)")
    return Source(row.source_id, row.fixmedins_code, m.Spec(row.mapping))


def register(
    engine: Engine,
    source_id: str,
    fixmedins_code: str,
    spec: dict[str, Any],
    item_map: Sequence[tuple[str, str]],
) -> None:
    """Add or update a source and its unified-coding rows (local code -> national code)."""

    def unit(session: Session) -> None:
        values = {"fixmedins_code": fixmedins_code, "mapping": spec}
        session.execute(
            insert(table(SyncSource))
            .values(source_id=source_id, **values)
            .on_duplicate_key_update(values)
        )
        for local, national in item_map:
            session.execute(
                insert(ITEMS)
                .values(source_id=source_id, local_item_code=local, item_code=national)
                .on_duplicate_key_update(item_code=national)
            )

    run_in_transaction(engine, unit, name="sync_register")


def replay_dead(engine: Engine, src: Source) -> tuple[int, int]:
    """Apply the source's open dead letters whose mapping now exists: (replayed, still dead)."""
    with engine.connect() as conn:
        ids = list(
            conn.execute(
                select(DEAD.c.id).where(
                    DEAD.c.source_id == src.source_id, DEAD.c.replayed_at.is_(None)
                )
            ).scalars()
        )
    replayed = 0
    for dead_id in ids:

        def unit(session: Session, dead_id: int = dead_id) -> bool:
            row = session.execute(
                select(DEAD)
                .where(DEAD.c.id == dead_id, DEAD.c.replayed_at.is_(None))
                .with_for_update()
            ).first()
            if row is None:
                return False
            change = Change(row.his_table, row.op, _revive(row.row_data))
            role = src.spec.role_of(change.table)
            try:
                if role is not None:
                    _apply_role(Ctx.open(session, src, [change]), role, change, Applied())
            except m.Rejected as exc:
                session.execute(
                    update(DEAD).where(DEAD.c.id == dead_id).values(reason=str(exc)[:400])
                )
                return False
            session.execute(
                update(DEAD).where(DEAD.c.id == dead_id).values(replayed_at=dt.datetime.now())
            )
            return True

        replayed += run_in_transaction(engine, unit, name="sync_replay_dead")
    return replayed, len(ids) - replayed


def _revive(data: Mapping[str, Any]) -> dict[str, Any]:
    """Dead-letter rows are stored as JSON: give times back their type."""
    out: dict[str, Any] = {}
    for k, v in data.items():
        if isinstance(v, str) and len(v) >= 19 and v[4] == "-" and v[10] == "T":
            try:
                out[k] = dt.datetime.fromisoformat(v)
                continue
            except ValueError:
                pass
        out[k] = v
    return out
