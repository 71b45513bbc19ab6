"""What each role sees of an insured person, and the audit of every non-HIS read.

Minimum necessary, per role (GET /v1/persons/{psn_no}):
- admin: everything (registers persons, corrects data).
- his: the treating institution identifies the patient at the counter and applies age and
  gender limits: full name and full birth date, id-card number masked (first 6, last 4).
- manager (fund supervision): what fund use needs, not who the person is: surname only,
  birth year only, id-card number masked. The masked number keeps the birth date (digits
  7-14) hidden, so name + birth date + masked number can no longer rebuild the whole number.
- analyst: no person route; the v_* views carry the same masking as the manager view.

Every read of a person's data by a role other than HIS is written to `audit_log` (who, whom,
when, which route, which view), in its own transaction before the answer leaves, so a read
that could not be audited is not answered.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine, insert

from medhtap.schema.ops import AuditLog
from medhtap.services.auth import Principal


def mask_certno(certno: str) -> str:
    return certno[:6] + "*" * max(len(certno) - 10, 0) + certno[-4:]


def mask_name(name: str) -> str:
    return name[:1] + "*" if name else name


def person_view(principal: Principal, row: Any) -> dict[str, Any]:
    """The identifying fields of a person row as `principal`'s role may see them."""
    brdy: dt.date = row.brdy
    if principal.role == "admin":
        return {"certno": row.certno, "psn_name": row.psn_name, "brdy": brdy}
    masked = {"certno": mask_certno(row.certno), "birth_year": brdy.year}
    if principal.role == "his":
        return masked | {"psn_name": row.psn_name, "brdy": brdy}
    return masked | {"psn_name": mask_name(row.psn_name), "brdy": None}


def audits_reads(principal: Principal) -> bool:
    return principal.role != "his"


def audit_person_read(
    engine: Engine,
    principal: Principal,
    psn_no: str,
    route: str,
    request_id: str | None,
    **detail: Any,
) -> None:
    """Record that `principal` read `psn_no`'s data through `route` (non-HIS roles only)."""
    if not audits_reads(principal):
        return
    with engine.begin() as conn:
        conn.execute(
            insert(AuditLog).values(
                actor=principal.name,
                action="person_read",
                entity="person",
                entity_id=psn_no,
                detail={"route": route, "role": principal.role, **detail},
                request_id=request_id,
            )
        )
