"""1101 person, 2201/2401 registration and admission, 2402 discharge, 2202/2404 cancel."""

from __future__ import annotations

import datetime as dt
from typing import Any

from medhtap.platform.db import WriteSession
from medhtap.platform.errors import ValidationFailed
from medhtap.services import privacy
from medhtap.services.national.registry import (
    Ctx,
    Outcome,
    Transaction,
    build,
    register,
    rename,
    section,
    text_field,
)
from medhtap.services.settlement import errors, lifecycle, persons, rules, visits
from medhtap.services.settlement import repository as repo
from medhtap.services.settlement.lifecycle_schemas import DischargeIn
from medhtap.services.settlement.schemas import VisitIn

PERSON_FIELDS = {"psn_no": "psn_no"}
VISIT_FIELDS = {
    "psn_no": "psn_no",
    "med_type": "med_type",
    "begntime": "begntime",
    "dept_name": "dept_name",
    "main_diag_code": "main_diag_code",
}
DISCHARGE_FIELDS = {
    "endtime": "endtime",
    "dscg_maindiag_code": "dscg_maindiag_code",
    "dscg_way": "dscg_way",
}
CANCEL_FIELDS = {"mdtrt_id": "mdtrt_id"}
# national psn_insu_stas: 1 insured, 2 suspended
INSU_STAS = {"active": "1"}


def person_1101(session: WriteSession, ctx: Ctx, inp: dict[str, Any]) -> Outcome:
    data = section(inp, "data")
    psn_no = text_field(data, "psn_no")
    p = persons.get_person_unit(session, ctx.caller, psn_no, dt.date.today().year)
    principal = ctx.caller.principal
    if privacy.audits_reads(principal):  # as GET /v1/persons/{psn_no}: non-HIS reads audited
        detail = {"route": "POST /fsi 1101", "role": principal.role}
        repo.audit(
            session, principal.name, "person_read", "person", psn_no, detail, ctx.caller.request_id
        )
    d = p.model_dump(mode="json")
    base = {k: d.get(k) for k in ("psn_no", "certno", "psn_name", "gend", "brdy", "birth_year")}
    insu = {
        "insutype": d["insutype"],
        "balc": d["acct_balc"],
        "psn_insu_stas": INSU_STAS.get(d["psn_status"], "2"),
        "insuplc_admdvs": d["admdvs"],
    }
    return Outcome({"baseinfo": base, "insuinfo": [insu], "cumlinfo": d["accumulators"]})


def _visit(
    session: WriteSession, ctx: Ctx, inp: dict[str, Any], where: str, med_type: str
) -> Outcome:
    src = section(inp, where, "data")
    values = {"med_type": med_type} | rename(src, VISIT_FIELDS)
    body = build(VisitIn, values | {"fixmedins_code": ctx.fixmedins_code}, VISIT_FIELDS, where)
    if rules.is_inpatient(body.med_type) != (where == "mdtrtinfo"):
        raise ValidationFailed(
            f"med_type {body.med_type} does not fit this transaction (2201 outpatient, "
            "2401 inpatient)"
        )
    out = visits.create_visit_unit(session, ctx.caller, body).model_dump(mode="json")
    return Outcome({"data": out}, undo={"mdtrt_id": out["mdtrt_id"]})


def register_2201(session: WriteSession, ctx: Ctx, inp: dict[str, Any]) -> Outcome:
    return _visit(session, ctx, inp, "data", "11")


def admit_2401(session: WriteSession, ctx: Ctx, inp: dict[str, Any]) -> Outcome:
    return _visit(session, ctx, inp, "mdtrtinfo", "21")


def discharge_2402(session: WriteSession, ctx: Ctx, inp: dict[str, Any]) -> Outcome:
    src = section(inp, "dscginfo", "data")
    mdtrt_id = text_field(src, "mdtrt_id", "input.dscginfo")
    body = build(DischargeIn, rename(src, DISCHARGE_FIELDS), DISCHARGE_FIELDS, "dscginfo")
    out = lifecycle.discharge_unit(session, ctx.caller, mdtrt_id, body)
    return Outcome({"data": out.model_dump(mode="json")})


def cancel_visit(session: WriteSession, ctx: Ctx, mdtrt_id: str, inpatient: bool) -> Outcome:
    visit = repo.get_visit(session, mdtrt_id)
    if visit is None:
        raise errors.VisitNotFound(f"no visit {mdtrt_id!r}")
    if rules.is_inpatient(visit.med_type) != inpatient:
        raise ValidationFailed(
            "2202 cancels an outpatient registration, 2404 an admission: use the other"
        )
    out = lifecycle.cancel_visit_unit(session, ctx.caller, mdtrt_id)
    return Outcome({"data": out.model_dump(mode="json")})


def cancel_2202(session: WriteSession, ctx: Ctx, inp: dict[str, Any]) -> Outcome:
    return cancel_visit(session, ctx, text_field(section(inp, "data"), "mdtrt_id"), False)


def cancel_2404(session: WriteSession, ctx: Ctx, inp: dict[str, Any]) -> Outcome:
    return cancel_visit(session, ctx, text_field(section(inp, "data"), "mdtrt_id"), True)


register(
    Transaction("1101", "person query", person_1101, writes=False, fields=PERSON_FIELDS),
    Transaction("2201", "outpatient registration", register_2201, True, True, fields=VISIT_FIELDS),
    Transaction("2202", "registration cancel", cancel_2202, writes=True, fields=CANCEL_FIELDS),
    Transaction("2401", "admission", admit_2401, writes=True, reversible=True, fields=VISIT_FIELDS),
    Transaction("2402", "discharge", discharge_2402, writes=True, fields=DISCHARGE_FIELDS),
    Transaction("2404", "admission cancel", cancel_2404, writes=True, fields=CANCEL_FIELDS),
)
