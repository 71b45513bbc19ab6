"""Apply many HIS row changes in one TiDB transaction with a few multi-row statements.

A batch (several source transactions, or a snapshot chunk) is read once (item codes, the
visits it touches with one SELECT ... FOR UPDATE, its fee lines and patients),
replayed in source order in memory, and written back as one upsert per table. The result is
what applying the changes one by one would give, at a few statements per batch instead of a
few per row.

Corrections: before settlement a HIS update or delete is applied (the line's quantity and
price change, a deleted line is revoked); after settlement nothing is changed silently, a
data-quality event records what the HIS did.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, tuple_, update
from sqlalchemy.dialects.mysql import insert
from sqlalchemy.orm import Session

from medhtap.schema.base import table
from medhtap.schema.sync import DataQualityEvent, SyncDeadLetter, SyncItemMap, SyncPatient
from medhtap.schema.visit import FeeDetail, Visit
from medhtap.services.settlement.rules import money
from medhtap.services.sync import mapping as m

VISIT, FEE = table(Visit), table(FeeDetail)
ITEMS, PATIENTS = table(SyncItemMap), table(SyncPatient)
DEAD, DQ = table(SyncDeadLetter), table(DataQualityEvent)
UNKNOWN_DIAGNOSIS = "R69"  # ICD-10 "unknown and unspecified causes", until the HIS names one
FEE_BY_VISIT = "/*+ USE_INDEX(fee_detail, uq_fee_detail_mdtrt_id_feedetl_sn) */"
VISIT_COLUMNS = (
    "mdtrt_id",
    "psn_no",
    "fixmedins_code",
    "med_type",
    "dept_name",
    "begntime",
    "endtime",
    "main_diag_code",
    "vis_status",
)
VISIT_SYNCED = ("med_type", "dept_name", "begntime", "endtime", "main_diag_code")
LINE_SYNCED = ("item_code", "cnt", "pric", "det_item_fee_sumamt", "fee_ocur_time", "fee_status")


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
class Applied:
    rows: int = 0
    dead: int = 0
    quality: int = 0
    skipped: int = 0  # source transactions at or before the stored position


@dataclass
class _Line:
    status: str
    values: dict[str, Any] | None = None  # the HIS's latest quantity, price, ...
    dirty: bool = False
    known: bool = True  # False: a new charge's line, not read; an existing one keeps its status


@dataclass
class Batch:
    """One TiDB transaction's view of what a batch touches; `flush` writes the end state."""

    session: Session
    src: Source
    items: dict[str, str]
    visits: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    dirty_visits: set[str] = field(default_factory=set)
    lines: dict[tuple[str, str], _Line] = field(default_factory=dict)
    patients: dict[int, str | None] = field(default_factory=dict)
    dirty_patients: set[int] = field(default_factory=set)
    dead: list[dict[str, Any]] = field(default_factory=list)
    quality: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def open(cls, session: Session, src: Source, changes: Sequence[Change]) -> Batch:
        rows = session.execute(
            select(ITEMS.c.local_item_code, ITEMS.c.item_code).where(
                ITEMS.c.source_id == src.source_id
            )
        )
        b = cls(session, src, {str(a): str(b) for a, b in rows})
        b._prefetch(changes)
        return b

    # -- reading: every row the batch may touch, locked once -------------------------------

    def _prefetch(self, changes: Sequence[Change]) -> None:
        spec, sid = self.src.spec, self.src.source_id
        by_role: dict[str, list[Change]] = {}
        for c in changes:
            role = spec.role_of(c.table)
            if role is not None:
                by_role.setdefault(role, []).append(c)
        encs, charges = by_role.get("encounter", []), by_role.get("charge", [])
        visit_ids = {m.visit_id(sid, _get(spec, "encounter", "key", c.row)) for c in encs}
        for role in ("diagnosis", "charge"):
            visit_ids |= {
                m.visit_id(sid, _get(spec, role, "encounter", c.row)) for c in by_role.get(role, [])
            }
        if visit_ids:
            self.visits = dict.fromkeys(visit_ids)
            cols = [VISIT.c[n] for n in VISIT_COLUMNS]
            for r in self.session.execute(
                select(*cols).where(VISIT.c.mdtrt_id.in_(visit_ids)).with_for_update()
            ):
                self.visits[r.mdtrt_id] = dict(r._mapping)
        # A new charge of an open visit needs no read: its line is new (or, when a snapshot
        # runs again, keeps the status it has: see flush). Lines of visits that are not open
        # and lines the HIS updates or deletes are read.
        line_keys = set()
        for c in charges:
            mdtrt_id = m.visit_id(sid, _get(spec, "charge", "encounter", c.row))
            visit = self.visits.get(mdtrt_id)
            if c.op != "insert" or (visit is not None and visit["vis_status"] != "open"):
                line_keys.add((mdtrt_id, m.fee_sn(_get(spec, "charge", "key", c.row))))
        if line_keys:
            # Row-value IN: point ranges (two separate INs would range over their product).
            self._read_lines(tuple_(FEE.c.mdtrt_id, FEE.c.feedetl_sn).in_(sorted(line_keys)))
        # A cancelled or deleted encounter revokes ALL its active lines, also those the batch
        # does not name: read them too.
        ending = {
            m.visit_id(sid, _get(spec, "encounter", "key", c.row)) for c in encs if _ends(spec, c)
        }
        if ending:
            self._read_lines(FEE.c.mdtrt_id.in_(ending))
        patient_ids = {_get(spec, "encounter", "patient", c.row) for c in encs}
        patient_ids.discard(None)
        if patient_ids:
            for pid, psn in self.session.execute(
                select(PATIENTS.c.patient_id, PATIENTS.c.psn_no).where(
                    PATIENTS.c.source_id == sid, PATIENTS.c.patient_id.in_(patient_ids)
                )
            ):
                self.patients[int(pid)] = psn

    def _read_lines(self, *where: Any) -> None:
        # No FOR UPDATE: every line the batch changes is written, so a settlement that
        # touched it since this transaction began fails our commit (optimistic, apply.py);
        # a line read as settled stays settled.
        for mdtrt_id, sn, status in self.session.execute(
            select(FEE.c.mdtrt_id, FEE.c.feedetl_sn, FEE.c.fee_status)
            .prefix_with(FEE_BY_VISIT)
            .where(*where)
        ):
            self.lines.setdefault((mdtrt_id, sn), _Line(str(status)))

    # -- replaying the changes in source order, in memory ----------------------------------

    def add(self, change: Change, where: str, out: Applied) -> None:
        """Apply one change; a row that cannot be mapped becomes a dead letter."""
        role = self.src.spec.role_of(change.table)
        if role is None:
            return
        try:
            self.apply(role, change, out)
            out.rows += 1
        except m.Rejected as exc:
            out.dead += 1
            self.dead.append(dead_letter(self.src, role, change, where, exc))

    def apply(self, role: str, change: Change, out: Applied) -> None:
        """Raises Rejected before changing anything, so a rejected row leaves no trace."""
        if role == "patient":
            self._patient(change)
        elif role == "encounter":
            self._encounter(change, out)
        elif role == "diagnosis":
            self._diagnosis(change, out)
        else:
            self._charge(change, out)

    def _quality(self, change: Change, mdtrt_id: str, kind: str, out: Applied) -> None:
        out.quality += 1
        self.quality.append(
            {
                "source_id": self.src.source_id,
                "kind": kind,
                "his_table": change.table,
                "his_key": str(next(iter(change.row.values()), "?"))[:64],
                "mdtrt_id": mdtrt_id,
                "detail": {"op": change.op, "row": jsonable(change.row)},
            }
        )

    def _patient(self, change: Change) -> None:
        p = m.patient(self.src.spec, change.row)
        if change.op == "delete":
            return  # a HIS never really deletes a patient; keep the insurance number we knew
        self.patients[p.patient_id] = p.psn_no
        self.dirty_patients.add(p.patient_id)

    def _encounter(self, change: Change, out: Applied) -> None:
        e = m.encounter(self.src.spec, change.row)
        mdtrt_id = m.visit_id(self.src.source_id, e.encounter_id)
        visit = self.visits.get(mdtrt_id)
        if visit is not None and visit["vis_status"] == "settled":
            self._quality(change, mdtrt_id, "correction_after_settlement", out)
            return
        if change.op != "delete":
            if visit is None:
                psn_no = self.patients.get(e.patient_id)
                if not psn_no:
                    raise no_insurance_number(e.patient_id)
                visit = {
                    "mdtrt_id": mdtrt_id,
                    "psn_no": psn_no,
                    "fixmedins_code": self.src.fixmedins_code,
                    "main_diag_code": UNKNOWN_DIAGNOSIS,
                    "vis_status": "open",
                }
                self.visits[mdtrt_id] = visit
            visit.update(
                med_type=e.med_type, dept_name=e.dept_name, begntime=e.begntime, endtime=e.endtime
            )
            self.dirty_visits.add(mdtrt_id)
        if change.op == "delete" or e.cancelled:  # a cancelled visit keeps no active fee lines
            for (visit_of, _), line in self.lines.items():
                if visit_of == mdtrt_id and line.status == "active":
                    line.status, line.dirty, line.known = "revoked", True, True

    def _diagnosis(self, change: Change, out: Applied) -> None:
        d = m.diagnosis(self.src.spec, change.row)
        if not d.is_main or change.op == "delete":
            return
        mdtrt_id = m.visit_id(self.src.source_id, d.encounter_id)
        visit = self.visits.get(mdtrt_id)
        if visit is None:
            raise not_synced(d.encounter_id, "diagnosis")
        if visit["vis_status"] == "settled":
            self._quality(change, mdtrt_id, "correction_after_settlement", out)
            return
        visit["main_diag_code"] = d.code
        self.dirty_visits.add(mdtrt_id)

    def _charge(self, change: Change, out: Applied) -> None:
        spec = self.src.spec
        mdtrt_id = m.visit_id(self.src.source_id, spec.get("charge", "encounter", change.row))
        key = (mdtrt_id, m.fee_sn(spec.get("charge", "key", change.row)))
        line = self.lines.get(key)
        if line is not None and line.status == "settled":
            self._quality(change, mdtrt_id, "correction_after_settlement", out)
            return
        if change.op == "delete":
            if line is not None:
                line.status, line.dirty, line.known = "revoked", True, True
            return
        c = m.charge(spec, change.row, self.items.get)
        visit = self.visits.get(mdtrt_id)
        if visit is None:
            raise not_synced(c.encounter_id, "charge")
        if visit["vis_status"] == "settled":
            self._quality(change, mdtrt_id, "charge_after_settlement", out)
            return
        values = {
            "item_code": c.item_code,
            "cnt": c.cnt,
            "pric": c.pric,
            "det_item_fee_sumamt": money(c.cnt * c.pric),
            "fee_ocur_time": c.fee_ocur_time,
        }
        # A revoked line (deleted charge, cancelled visit) stays revoked when the HIS edits it.
        if line is None:
            line = self.lines[key] = _Line("active", known=change.op != "insert")
        line.values, line.dirty = values, True

    # -- writing the end state: one multi-row statement per table --------------------------

    def flush(self) -> None:
        s, sid = self.session, self.src.source_id
        if self.dirty_patients:
            stmt = insert(PATIENTS)
            s.execute(
                stmt.on_duplicate_key_update(psn_no=stmt.inserted.psn_no),
                [
                    {"source_id": sid, "patient_id": p, "psn_no": self.patients[p]}
                    for p in sorted(self.dirty_patients)
                ],
            )
        if self.dirty_visits:
            stmt = insert(VISIT)
            s.execute(
                stmt.on_duplicate_key_update({c: stmt.inserted[c] for c in VISIT_SYNCED}),
                [_visit_row(self.visits[v]) for v in sorted(self.dirty_visits)],
            )
        for known in (True, False):
            upserts = [
                {"mdtrt_id": k[0], "feedetl_sn": k[1], "fee_status": ln.status, **ln.values}
                for k, ln in self.lines.items()
                if ln.dirty and ln.values is not None and ln.known is known
            ]
            if upserts:
                # A line not read keeps its status when it exists (a revoked line stays revoked).
                synced = LINE_SYNCED if known else LINE_SYNCED[:-1]
                stmt = insert(FEE)
                s.execute(
                    stmt.on_duplicate_key_update({c: stmt.inserted[c] for c in synced}), upserts
                )
        revoked = [k for k, ln in self.lines.items() if ln.dirty and ln.values is None]
        if revoked:
            s.execute(
                update(FEE)
                .prefix_with(FEE_BY_VISIT)
                .where(tuple_(FEE.c.mdtrt_id, FEE.c.feedetl_sn).in_(revoked))
                .values(fee_status="revoked")
            )
        if self.dead:
            s.execute(insert(DEAD), self.dead)
        if self.quality:
            s.execute(insert(DQ), self.quality)


def no_insurance_number(patient_id: object) -> m.Rejected:
    return m.Rejected(f"patient {patient_id} has no insurance number (psn_no)")


def not_synced(encounter_id: object, what: str) -> m.Rejected:
    return m.Rejected(f"encounter {encounter_id} was not synced (no visit for its {what})")


def dead_letter(
    src: Source, role: str, change: Change, where: str, exc: m.Rejected
) -> dict[str, Any]:
    """The dead-letter row of a change that could not be mapped: why, and where it came from
    (`where`: its GTID, or "snapshot")."""
    return {
        "source_id": src.source_id,
        "his_table": change.table,
        "op": change.op,
        "his_key": _key(src.spec, role, change.row),
        "gtid": where,
        "reason": str(exc)[:400],
        "row_data": jsonable(change.row),
    }


def _visit_row(visit: Mapping[str, Any] | None) -> dict[str, Any]:
    assert visit is not None  # only visits the batch wrote are dirty
    return {c: visit.get(c) for c in VISIT_COLUMNS}


def _get(spec: m.Spec, role: str, field_name: str, row: Mapping[str, Any]) -> Any:
    """A column for look-ups ahead of the replay (which rejects a row that lacks it)."""
    try:
        return row.get(spec.column(role, field_name))
    except KeyError:
        return None


def _ends(spec: m.Spec, c: Change) -> bool:
    status = spec.raw["encounter"].get("status")
    if c.op == "delete":
        return True
    return bool(status) and _get(spec, "encounter", "status", c.row) in set(status["cancelled"])


def _key(spec: m.Spec, role: str, row: Mapping[str, Any]) -> str:
    field_name = "key" if "key" in spec.raw[role] else "encounter"
    return str(row.get(spec.column(role, field_name), "?"))[:64]


def jsonable(row: Mapping[str, Any]) -> dict[str, Any]:
    def plain(v: Any) -> Any:
        if isinstance(v, dt.date):
            return v.isoformat()
        return v if isinstance(v, int | str | None) else str(v)

    return {k: plain(v) for k, v in row.items()}
