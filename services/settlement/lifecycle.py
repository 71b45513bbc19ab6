"""The visit lifecycle besides fees and money: 2402 discharge, 2202/2404 cancel of a
registration or an admission. Both lock the visit first, like every writer of a visit, so
they are ordered against uploads, settlements and cancels of the same visit."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Row, update

from medhtap.platform.db import WriteSession
from medhtap.services.settlement import errors, rules
from medhtap.services.settlement import repository as repo
from medhtap.services.settlement.lifecycle_schemas import DischargeIn, VisitRecordOut
from medhtap.services.settlement.units import Caller, Entry
from medhtap.services.settlement.visits import normalise_icd10


def check_settleable(visit: Any, *, final: bool) -> None:
    """A cancelled visit never settles; an inpatient visit settles (2207, `final`) only once
    discharged. A pre-settlement (2206) during the stay is allowed: it stores nothing."""
    if visit.vis_status == "cancelled":
        raise errors.VisitCancelled("the visit was cancelled")
    if final and rules.is_inpatient(visit.med_type) and visit.endtime is None:
        raise errors.NotDischarged("record the discharge (2402) before settling the stay")


def record_out(row: Row[Any]) -> VisitRecordOut:
    return VisitRecordOut.model_validate(row._mapping, from_attributes=False)


def _locked_visit(session: WriteSession, caller: Caller, mdtrt_id: str) -> Row[Any]:
    visit = repo.get_visit(session, mdtrt_id, lock=True)
    if visit is None:
        raise errors.VisitNotFound(f"no visit {mdtrt_id!r}")
    caller.principal.check_institution(visit.fixmedins_code)
    if visit.vis_status == "cancelled":
        raise errors.VisitCancelled("the visit was cancelled")
    return visit


def discharge_unit(
    session: WriteSession, caller: Caller, mdtrt_id: str, body: DischargeIn
) -> VisitRecordOut:
    """2402: end time, discharge diagnosis and disposition of an open admission."""
    visit = _locked_visit(session, caller, mdtrt_id)
    if not rules.is_inpatient(visit.med_type):
        raise errors.NotInpatient("only an admission has a discharge")
    if visit.endtime is not None:
        raise errors.AlreadyDischarged("the discharge is already recorded")
    if visit.vis_status != "open":  # settled without a discharge: data from before 2402
        raise errors.VisitNotOpen("the visit is settled; cancel the settlement first")
    # DATETIME keeps whole seconds and rounds, as it did begntime: compare what is stored.
    end = (body.endtime + dt.timedelta(microseconds=500_000)).replace(microsecond=0)
    if end < visit.begntime:
        raise errors.DischargeBeforeAdmission(
            "endtime is before the admission", begntime=visit.begntime.isoformat()
        )
    diag = normalise_icd10(body.dscg_maindiag_code)
    if not repo.diagnosis_exists(session, diag):
        raise errors.UnknownDiagnosis(f"{body.dscg_maindiag_code!r} is not a known ICD-10 code")
    session.execute(
        update(repo.VISIT)
        .where(repo.VISIT.c.mdtrt_id == mdtrt_id)
        .values(endtime=end, dscg_maindiag_code=diag, dscg_way=body.dscg_way)
    )
    repo.audit(
        session,
        caller.actor,
        "discharge",
        "visit",
        mdtrt_id,
        {"endtime": end.isoformat(), "dscg_way": body.dscg_way},
        caller.request_id,
    )
    row = repo.get_visit(session, mdtrt_id)
    assert row is not None
    return record_out(row)


def cancel_visit_unit(session: WriteSession, caller: Caller, mdtrt_id: str) -> VisitRecordOut:
    """2202/2404: cancel a registration or an admission with no settled fees. Its active fee
    lines are revoked with it; a settled visit needs its settlement cancelled (2208) first."""
    visit = _locked_visit(session, caller, mdtrt_id)
    if visit.vis_status != "open":
        raise errors.VisitHasSettlement("the visit is settled; cancel the settlement first")
    revoked = session.execute(
        update(repo.FEE)
        .prefix_with(repo.FEE_BY_VISIT)
        .where(repo.FEE.c.mdtrt_id == mdtrt_id, repo.FEE.c.fee_status == "active")
        .values(fee_status="revoked")
    ).rowcount  # type: ignore[attr-defined]
    repo.set_visit_status(session, mdtrt_id, "cancelled")
    repo.audit(
        session,
        caller.actor,
        "visit_cancel",
        "visit",
        mdtrt_id,
        {"med_type": visit.med_type, "revoked_lines": int(revoked)},
        caller.request_id,
    )
    row = repo.get_visit(session, mdtrt_id)
    assert row is not None
    return record_out(row)


discharge = Entry(discharge_unit, name="discharge")
cancel_visit = Entry(cancel_visit_unit, name="visit_cancel")
