"""Visit lifecycle (2402 discharge, 2202/2404 cancel) and read-backs (a settlement; a
person's visits and settlements, a page at a time). Routes validate and delegate."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from medhtap.platform.errors import responses
from medhtap.services.deps import RuntimeDep
from medhtap.services.settlement import errors, lifecycle, readback
from medhtap.services.settlement.lifecycle_schemas import (
    CURSOR_DOC,
    LIMIT_MAX,
    DischargeIn,
    SettlementPage,
    SettlementRecordOut,
    VisitPage,
    VisitRecordOut,
)
from medhtap.services.settlement.routes import AUTH, HisOrAdmin, MdtrtId, RequestId, _caller

router = APIRouter(prefix="/v1", tags=["settlement"])

PsnNo = Annotated[str, Path(min_length=1, max_length=32)]
Cursor = Annotated[str | None, Query(min_length=1, max_length=200, description=CURSOR_DOC)]
Limit = Annotated[int, Query(ge=1, le=LIMIT_MAX, description="rows per page")]


@router.post(
    "/visits/{mdtrt_id}/discharge",
    summary="2402 discharge: end time, discharge diagnosis, disposition",
    description="An inpatient visit settles (2207) only after its discharge is recorded.",
    responses=responses(
        *AUTH,
        errors.VisitNotFound,
        errors.VisitCancelled,
        errors.NotInpatient,
        errors.AlreadyDischarged,
        errors.VisitNotOpen,
        errors.DischargeBeforeAdmission,
        errors.UnknownDiagnosis,
        body=True,
    ),
)
def discharge(
    mdtrt_id: MdtrtId,
    body: DischargeIn,
    runtime: RuntimeDep,
    principal: HisOrAdmin,
    request_id: RequestId = None,
) -> VisitRecordOut:
    return lifecycle.discharge(runtime.write_engine, _caller(principal, request_id), mdtrt_id, body)


@router.post(
    "/visits/{mdtrt_id}/cancel",
    summary="2202 registration cancel / 2404 admission cancel (no settled fees)",
    description="Revokes the visit's active fee lines with it. A settled visit: cancel its "
    "settlement (2208) first.",
    responses=responses(
        *AUTH, errors.VisitNotFound, errors.VisitCancelled, errors.VisitHasSettlement
    ),
)
def cancel_visit(
    mdtrt_id: MdtrtId, runtime: RuntimeDep, principal: HisOrAdmin, request_id: RequestId = None
) -> VisitRecordOut:
    return lifecycle.cancel_visit(runtime.write_engine, _caller(principal, request_id), mdtrt_id)


@router.get(
    "/settlements/{setl_id}",
    summary="A settlement or reversal as stored, with its fee lines",
    responses=responses(*AUTH, errors.SettlementNotFound),
)
def get_settlement(
    setl_id: Annotated[str, Path(min_length=1, max_length=40)],
    runtime: RuntimeDep,
    principal: HisOrAdmin,
) -> SettlementRecordOut:
    return readback.get_settlement(runtime.write_engine, _caller(principal, None), setl_id)


@router.get(
    "/persons/{psn_no}/visits",
    summary="A person's visits, newest first (an institution's key: its own visits)",
    responses=responses(*AUTH, errors.PersonNotFound, errors.InvalidCursor),
)
def person_visits(
    psn_no: PsnNo,
    runtime: RuntimeDep,
    principal: HisOrAdmin,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> VisitPage:
    caller = _caller(principal, None)
    return readback.person_visits(runtime.write_engine, caller, psn_no, cursor, limit)


@router.get(
    "/persons/{psn_no}/settlements",
    summary="A person's settlements and reversals, newest first",
    responses=responses(*AUTH, errors.PersonNotFound, errors.InvalidCursor),
)
def person_settlements(
    psn_no: PsnNo,
    runtime: RuntimeDep,
    principal: HisOrAdmin,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> SettlementPage:
    caller = _caller(principal, None)
    return readback.person_settlements(runtime.write_engine, caller, psn_no, cursor, limit)
