"""Settlement service: the transactional API an HIS calls during a visit.

Routes validate and delegate; every rule and every write lives in the unit modules
(persons, visits, settling, reconciliation).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request, Response, status

from medhtap.platform.errors import Forbidden, ServiceUnavailable, Unauthorized, responses
from medhtap.services import privacy
from medhtap.services.auth import Principal, require
from medhtap.services.deps import RuntimeDep
from medhtap.services.middleware import request_id_of
from medhtap.services.review.errors import ReviewBlocked
from medhtap.services.settlement import errors, identity, persons, reconciliation, settling, visits
from medhtap.services.settlement.schemas import (
    FeeBatchIn,
    FeeBatchOut,
    FeeRevokeOut,
    PersonIn,
    PersonOut,
    PersonUpdateIn,
    ReconcileDetailIn,
    ReconcileDetailOut,
    ReconcileIn,
    ReconcileOut,
    SettleIn,
    SettlementOut,
    VisitIn,
    VisitOut,
)
from medhtap.services.settlement.units import Caller

router = APIRouter(prefix="/v1", tags=["settlement"])

HisOrAdmin = Annotated[Principal, Depends(require("his"))]
PersonReader = Annotated[Principal, Depends(require("his", "manager"))]
AdminOnly = Annotated[Principal, Depends(require())]


def _request_id(request: Request) -> str | None:
    # The id the middleware settled on (the client's if well-formed, else generated): the
    # one the answer carries, so audit rows and answers always name the same request.
    return request_id_of(request)


RequestId = Annotated[str | None, Depends(_request_id)]
# Printable ASCII without space. Documented, checked by `_idem_key` (400 with its own code).
IDEM_PATTERN = r"^[!-~]{1,128}$"
IdemHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="required: 1-128 printable ASCII characters (no space); repeat it to "
        "retry safely",
        json_schema_extra={"pattern": IDEM_PATTERN, "minLength": 1, "maxLength": 128},
    ),
]
MdtrtId = Annotated[str, Path(min_length=1, max_length=40)]
# An absent body means {"use_account": false}.
SettleBody = Annotated[SettleIn | None, Body()]
IDEM_KEY = re.compile(IDEM_PATTERN)

AUTH = (Unauthorized, Forbidden)
REPLAY_HEADER = "Idempotent-Replay"


def _caller(principal: Principal, request_id: str | None) -> Caller:
    return Caller(principal, request_id)


def _idem_key(value: str | None) -> str:
    if value is None or not IDEM_KEY.match(value):
        raise errors.IdempotencyKeyRequired(
            "header Idempotency-Key is required: 1-128 printable ASCII characters"
        )
    return value


def _mark_replay(out: SettlementOut, response: Response) -> SettlementOut:
    response.headers[REPLAY_HEADER] = "true" if out.replay else "false"
    return out


@router.post(
    "/persons",
    status_code=status.HTTP_201_CREATED,
    summary="Register an insured person",
    responses=responses(*AUTH, errors.PersonExists, errors.InvalidCertno, body=True),
)
def create_person(
    body: PersonIn, runtime: RuntimeDep, principal: AdminOnly, request_id: RequestId = None
) -> PersonOut:
    identity.check_certno(body.certno, body.brdy, body.gend)
    return persons.create_person(runtime.write_engine, _caller(principal, request_id), body)


@router.get(
    "/persons/{psn_no}",
    summary="1101 person query: insurance, balance, year-to-date accumulators",
    responses=responses(*AUTH, errors.PersonNotFound),
)
def get_person(
    psn_no: Annotated[str, Path(max_length=32)],
    runtime: RuntimeDep,
    principal: PersonReader,
    request: Request,
    year: Annotated[int | None, Query(ge=2000, le=2099)] = None,
) -> PersonOut:
    out = persons.get_person(
        runtime.write_engine, _caller(principal, None), psn_no, year or dt.date.today().year
    )
    # fields per role: services/privacy.person_view; non-HIS reads audited before answering
    privacy.audit_person_read(
        runtime.write_engine, principal, psn_no, "GET /v1/persons/{psn_no}", request_id_of(request)
    )
    return out


@router.patch(
    "/persons/{psn_no}",
    summary="Update an insured person: the medical-assistance category (none, dibao, tekun)",
    responses=responses(*AUTH, errors.PersonNotFound, body=True),
)
def update_person(
    psn_no: Annotated[str, Path(max_length=32)],
    body: PersonUpdateIn,
    runtime: RuntimeDep,
    principal: AdminOnly,
    request_id: RequestId = None,
) -> PersonOut:
    return persons.update_person(runtime.write_engine, _caller(principal, request_id), psn_no, body)


@router.post(
    "/visits",
    status_code=status.HTTP_201_CREATED,
    summary="2201 outpatient registration / 2401 admission",
    responses=responses(
        *AUTH,
        errors.PersonNotFound,
        errors.PersonSuspended,
        errors.UnknownInstitution,
        errors.UnknownDiagnosis,
        body=True,
    ),
)
def create_visit(
    body: VisitIn, runtime: RuntimeDep, principal: HisOrAdmin, request_id: RequestId = None
) -> VisitOut:
    return visits.create_visit(runtime.write_engine, _caller(principal, request_id), body)


@router.post(
    "/visits/{mdtrt_id}/fees",
    status_code=status.HTTP_201_CREATED,
    summary="2204 fee upload: the whole batch is stored or none of it",
    responses=responses(
        *AUTH,
        errors.VisitNotFound,
        errors.VisitNotOpen,
        errors.DuplicateFeeLine,
        errors.UnknownItem,
        body=True,
    ),
)
def upload_fees(
    mdtrt_id: MdtrtId,
    body: FeeBatchIn,
    runtime: RuntimeDep,
    principal: HisOrAdmin,
    request_id: RequestId = None,
) -> FeeBatchOut:
    return visits.upload_fees(runtime.write_engine, _caller(principal, request_id), mdtrt_id, body)


@router.delete(
    "/visits/{mdtrt_id}/fees/{feedetl_sn}",
    summary="2205 fee revoke (only before settlement)",
    responses=responses(
        *AUTH,
        errors.VisitNotFound,
        errors.FeeLineNotFound,
        errors.VisitNotOpen,
        errors.FeeLineRevoked,
    ),
)
def revoke_fee(
    mdtrt_id: MdtrtId,
    feedetl_sn: Annotated[str, Path(min_length=1, max_length=30)],
    runtime: RuntimeDep,
    principal: HisOrAdmin,
    request_id: RequestId = None,
) -> FeeRevokeOut:
    return visits.revoke_fee(
        runtime.write_engine, _caller(principal, request_id), mdtrt_id, feedetl_sn
    )


SETTLE_ERRORS = (
    *AUTH,
    errors.VisitNotFound,
    errors.AlreadySettled,
    errors.VisitCancelled,
    errors.NotDischarged,
    errors.PersonSuspended,
    errors.NoFeeLines,
    errors.NoPolicy,
    ServiceUnavailable,
)


@router.post(
    "/visits/{mdtrt_id}/pre-settlement",
    summary="2206 pre-settlement: computes the split, stores nothing",
    responses=responses(*SETTLE_ERRORS, body=True),
)
def pre_settle(
    mdtrt_id: MdtrtId, runtime: RuntimeDep, principal: HisOrAdmin, body: SettleBody = None
) -> SettlementOut:
    return settling.pre_settle(
        runtime.write_engine, _caller(principal, None), mdtrt_id, body or SettleIn()
    )


@router.post(
    "/visits/{mdtrt_id}/settlement",
    summary="2207 settlement (Idempotency-Key required)",
    description="Same key and body: the original answer with `replay: true` and header "
    "`Idempotent-Replay: true`. Same key, different request: 409 IDEMPOTENCY_CONFLICT.",
    responses=responses(
        *SETTLE_ERRORS,
        errors.IdempotencyKeyRequired,
        errors.IdempotencyConflict,
        errors.SettlementCancelled,
        errors.ReplayInconsistent,
        ReviewBlocked,
        body=True,
    ),
)
def settle(
    mdtrt_id: MdtrtId,
    body: SettleIn,
    response: Response,
    runtime: RuntimeDep,
    principal: HisOrAdmin,
    idempotency_key: IdemHeader = None,
    request_id: RequestId = None,
) -> SettlementOut:
    key = _idem_key(idempotency_key)
    out = settling.settle.with_attempts(runtime.settings.txn_max_attempts)(
        runtime.write_engine,
        _caller(principal, request_id),
        mdtrt_id,
        key,
        body,
    )
    return _mark_replay(out, response)


@router.post(
    "/settlements/{setl_id}/cancel",
    summary="2208 settlement cancel (Idempotency-Key required)",
    description="Marks the settlement cancelled, writes a reversal row with negated "
    "amounts, restores accumulators and balance, and reopens the visit.",
    responses=responses(
        *AUTH,
        errors.SettlementNotFound,
        errors.NotCancellable,
        errors.IdempotencyKeyRequired,
        errors.IdempotencyConflict,
        errors.ReplayInconsistent,
        ServiceUnavailable,
    ),
)
def cancel(
    setl_id: Annotated[str, Path(min_length=1, max_length=40)],
    response: Response,
    runtime: RuntimeDep,
    principal: HisOrAdmin,
    idempotency_key: IdemHeader = None,
    request_id: RequestId = None,
) -> SettlementOut:
    key = _idem_key(idempotency_key)
    out = settling.cancel.with_attempts(runtime.settings.txn_max_attempts)(
        runtime.write_engine,
        _caller(principal, request_id),
        setl_id,
        key,
    )
    return _mark_replay(out, response)


@router.post(
    "/reconciliation",
    summary="3201 daily totals reconciliation",
    responses=responses(*AUTH, errors.UnknownInstitution, body=True),
)
def reconcile(
    body: ReconcileIn, runtime: RuntimeDep, principal: HisOrAdmin, request_id: RequestId = None
) -> ReconcileOut:
    return reconciliation.reconcile(runtime.write_engine, _caller(principal, request_id), body)


@router.post(
    "/reconciliation/detail",
    summary="3202 detail reconciliation: ids missing on either side or differing",
    responses=responses(*AUTH, errors.UnknownInstitution, body=True),
)
def reconcile_detail(
    body: ReconcileDetailIn, runtime: RuntimeDep, principal: HisOrAdmin
) -> ReconcileDetailOut:
    return reconciliation.reconcile_detail(runtime.write_engine, _caller(principal, None), body)
