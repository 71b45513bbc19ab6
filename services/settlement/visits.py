"""2201/2401 visits and 2204/2205 fee lines: everything that happens before a settlement.

Every writer of a visit's fee lines locks the visit first (`open_visit`), which orders
uploads and revokes against a settlement or cancel of the same visit."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError

from medhtap.platform.db import WriteSession
from medhtap.platform.tx import error_code
from medhtap.services.settlement import errors, rules
from medhtap.services.settlement import repository as repo
from medhtap.services.settlement.schemas import (
    FeeBatchIn,
    FeeBatchOut,
    FeeLineOut,
    FeeRevokeOut,
    VisitIn,
    VisitOut,
)
from medhtap.services.settlement.units import DUPLICATE_KEY, Caller, Entry, new_id


def normalise_icd10(code: str) -> str:
    """'e119' and 'E11.9' name the same code; the table stores the dotted form."""
    code = code.strip().upper()
    if "." not in code and len(code) > 3:
        code = f"{code[:3]}.{code[3:]}"
    return code


def visit_out(row: Row[Any]) -> VisitOut:
    return VisitOut.model_validate(row._mapping, from_attributes=False)


def create_visit_unit(session: WriteSession, caller: Caller, body: VisitIn) -> VisitOut:
    # Reads reference data and the person's status as of each statement; no money moves here,
    # and a settlement re-checks the person's status under the person's lock.
    inst = repo.get_institution(session, body.fixmedins_code)
    if inst is None:
        raise errors.UnknownInstitution(f"unknown institution {body.fixmedins_code!r}")
    caller.principal.check_institution(body.fixmedins_code)
    person = repo.get_person(session, body.psn_no)
    if person is None:
        raise errors.PersonNotFound(f"no insured person {body.psn_no!r}")
    if person.psn_status != "active":
        raise errors.PersonSuspended("the person's insurance is suspended")
    diag = normalise_icd10(body.main_diag_code)
    if not repo.diagnosis_exists(session, diag):
        raise errors.UnknownDiagnosis(f"{body.main_diag_code!r} is not a known ICD-10 code")
    mdtrt_id = new_id()
    values = body.model_dump() | {
        "mdtrt_id": mdtrt_id,
        "main_diag_code": diag,
        "vis_status": "open",
    }
    repo.insert_visit(session, values)
    repo.audit(
        session,
        caller.actor,
        "visit_create",
        "visit",
        mdtrt_id,
        {"psn_no": body.psn_no, "med_type": body.med_type, "fixmedins_code": body.fixmedins_code},
        caller.request_id,
    )
    row = repo.get_visit(session, mdtrt_id)
    assert row is not None
    return visit_out(row)


def open_visit(session: WriteSession, caller: Caller, mdtrt_id: str) -> Row[Any]:
    """Lock the visit, check the caller's institution and that fees may still change."""
    visit = repo.get_visit(session, mdtrt_id, lock=True)
    if visit is None:
        raise errors.VisitNotFound(f"no visit {mdtrt_id!r}")
    caller.principal.check_institution(visit.fixmedins_code)
    if visit.vis_status == "cancelled":
        raise errors.VisitCancelled("the visit was cancelled")
    if visit.vis_status != "open":
        raise errors.VisitNotOpen("the visit is settled; cancel the settlement first")
    return visit


def upload_fees_unit(
    session: WriteSession, caller: Caller, mdtrt_id: str, body: FeeBatchIn
) -> FeeBatchOut:
    # The visit lock orders uploads against a settlement of the same visit: no line can
    # land between the settlement's read of the lines and its commit. The duplicate check
    # below runs after that lock, so at READ COMMITTED it sees every committed line (every
    # writer of a visit's lines holds the visit lock); the unique index is the last guard.
    open_visit(session, caller, mdtrt_id)
    sns = [ln.feedetl_sn for ln in body.lines]
    repeated = sorted({sn for sn in sns if sns.count(sn) > 1})
    if repeated:
        raise errors.DuplicateFeeLine("feedetl_sn repeated in the batch", feedetl_sn=repeated)
    stored = repo.existing_feedetl_sns(session, mdtrt_id, sns)
    if stored:
        raise errors.DuplicateFeeLine("feedetl_sn already stored for this visit", feedetl_sn=stored)
    unknown = sorted(
        {ln.item_code for ln in body.lines}
        - repo.known_items(session, (ln.item_code for ln in body.lines))
    )
    if unknown:
        raise errors.UnknownItem("item codes not in the catalog", item_code=unknown)
    rows: list[dict[str, Any]] = [
        {
            "mdtrt_id": mdtrt_id,
            "feedetl_sn": ln.feedetl_sn,
            "item_code": ln.item_code,
            "cnt": ln.cnt,
            "pric": ln.pric,
            "det_item_fee_sumamt": rules.line_amount(ln.cnt, ln.pric),
            "fee_ocur_time": ln.fee_ocur_time,
            "fee_status": "active",
        }
        for ln in body.lines
    ]
    try:
        repo.insert_fee_lines(session, rows)
    except IntegrityError as exc:
        if error_code(exc) == DUPLICATE_KEY:
            raise errors.DuplicateFeeLine("feedetl_sn already stored for this visit") from exc
        raise
    repo.audit(
        session,
        caller.actor,
        "fee_upload",
        "visit",
        mdtrt_id,
        {"feedetl_sn": sns, "sum": str(sum((r["det_item_fee_sumamt"] for r in rows), rules.ZERO))},
        caller.request_id,
    )
    return FeeBatchOut(
        mdtrt_id=mdtrt_id,
        stored=len(rows),
        lines=[FeeLineOut.model_validate(r) for r in rows],
    )


def revoke_fee_unit(
    session: WriteSession, caller: Caller, mdtrt_id: str, feedetl_sn: str
) -> FeeRevokeOut:
    # Read after the visit lock: a concurrent revoke of the same line has committed (we see
    # 'revoked') or waits behind us; a settlement of the visit makes open_visit refuse.
    open_visit(session, caller, mdtrt_id)
    line = repo.get_fee_line(session, mdtrt_id, feedetl_sn)
    if line is None:
        raise errors.FeeLineNotFound(f"no fee line {feedetl_sn!r} on this visit")
    if line.fee_status == "revoked":
        raise errors.FeeLineRevoked(f"fee line {feedetl_sn!r} is already revoked")
    repo.revoke_fee_line(session, mdtrt_id, feedetl_sn)
    repo.audit(
        session,
        caller.actor,
        "fee_revoke",
        "fee_detail",
        f"{mdtrt_id}/{feedetl_sn}",
        {"amount": str(line.det_item_fee_sumamt)},
        caller.request_id,
    )
    return FeeRevokeOut(mdtrt_id=mdtrt_id, feedetl_sn=feedetl_sn, fee_status="revoked")


create_visit = Entry(create_visit_unit, name="visit_create")
upload_fees = Entry(upload_fees_unit, name="fee_upload")
revoke_fee = Entry(revoke_fee_unit, name="fee_revoke")
