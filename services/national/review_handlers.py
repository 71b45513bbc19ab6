"""3101 pre-prescription review, 3102 in-process review, 3103 handling of a result.

3101 reviews the orders the HIS is about to prescribe (`patient_dtos` -> encounters ->
diagnoses and orders); 3102 the fee lines uploaded for a visit (2204); both answer
`result[]` and store each result, so 3103 can record the hospital's handling of it
(`warn_rslt_id` = a result's `jr_id`). 2207 runs the 3102 review itself."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from medhtap.platform.db import WriteSession
from medhtap.platform.errors import ValidationFailed
from medhtap.services.national.registry import (
    Ctx,
    Outcome,
    Transaction,
    register,
    rows,
    section,
    text_field,
)
from medhtap.services.review import repository as review_repo
from medhtap.services.review import service as review
from medhtap.services.review.rules import Case, ReviewLine
from medhtap.services.settlement import errors as setl_errors
from medhtap.services.settlement import repository as setl_repo
from medhtap.services.settlement import rules as money_rules

PRE_FIELDS = {
    "patient_dtos[].patn_id": "psn_no",
    "patient_dtos[].gend / brdy": "gend / brdy (when the person is not insured here)",
    "patient_dtos[].curr_mdtrt_id": "mdtrt_id (when the encounter has none)",
    "fsi_encounter_dtos[].mdtrt_id": "mdtrt_id",
    "fsi_encounter_dtos[].med_type": "med_type (the visit's, when registered)",
    "fsi_encounter_dtos[].adm_date": "the day of orders without drord_begn_date",
    "fsi_order_dtos[].rx_id": "line id",
    "fsi_order_dtos[].hilist_code": "item_code",
    "fsi_order_dtos[].cnt": "cnt",
    "fsi_order_dtos[].pric": "pric",
    "fsi_order_dtos[].drord_begn_date": "day",
}
IN_FIELDS = {"mdtrt_id": "mdtrt_id"}
HANDLE_FIELDS = {
    "warn_rslt_id": "jr_id",
    "dspo_way": "dspo_way",
    "dspo_way_rea": "dspo_way_rea",
}
MAX_NUMBER = Decimal("1e10")


def _decimal(src: dict[str, Any], name: str, where: str, *, positive: bool) -> Decimal:
    raw = src.get(name)
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise ValidationFailed(f"{where}.{name} must be a decimal string")
    try:
        value = Decimal(str(raw))
    except InvalidOperation as exc:
        raise ValidationFailed(f"{where}.{name} is not a decimal") from exc
    low_ok = value > 0 if positive else value >= 0
    if not value.is_finite() or not low_ok or value >= MAX_NUMBER or value != round(value, 4):
        raise ValidationFailed(f"{where}.{name} is out of range (at most 4 decimals)")
    return value


def _day(value: Any, where: str) -> dt.date | None:
    if value is None or value == "":
        return None
    try:
        day = dt.datetime.fromisoformat(str(value)).date()
    except ValueError as exc:
        raise ValidationFailed(f"{where} must be yyyy-MM-dd[ HH:mm:ss]") from exc
    if not 2000 <= day.year <= 2099:
        raise ValidationFailed(f"{where} must lie in the years 2000-2099")
    return day


def _orders(session: WriteSession, enc: dict[str, Any], default_day: dt.date) -> list[ReviewLine]:
    where = "input.data.patient_dtos[].fsi_encounter_dtos[].fsi_order_dtos"
    orders = rows(enc, "fsi_order_dtos")
    codes = [text_field(o, "hilist_code", where) for o in orders]
    facts = review_repo.items(session, codes)
    unknown = sorted(set(codes) - set(facts))
    if unknown:
        raise setl_errors.UnknownItem("item codes not in the catalog", hilist_code=unknown)
    ids = [text_field(o, "rx_id", where) for o in orders]
    if len(set(ids)) != len(ids):
        raise ValidationFailed(f"{where}: rx_id repeated")
    return [
        ReviewLine(
            rx_id,
            facts[code],
            _decimal(o, "cnt", where, positive=True),
            _decimal(o, "pric", where, positive=False),
            _day(o.get("drord_begn_date"), f"{where}.drord_begn_date") or default_day,
        )
        for rx_id, code, o in zip(ids, codes, orders, strict=True)
    ]


def _person(session: WriteSession, p: dict[str, Any], psn_no: str) -> tuple[str, dt.date]:
    person = setl_repo.get_person(session, psn_no)
    if person is not None:
        return person.gend, person.brdy
    gend, brdy = p.get("gend"), _day(p.get("brdy"), "input.data.patient_dtos[].brdy")
    if gend not in ("1", "2") or brdy is None:
        raise setl_errors.PersonNotFound(
            f"no insured person {psn_no!r}: send gend ('1'/'2') and brdy with patn_id"
        )
    return str(gend), brdy


def pre_review_3101(session: WriteSession, ctx: Ctx, inp: dict[str, Any]) -> Outcome:
    data = section(inp, "data")
    out: list[dict[str, Any]] = []
    for p in rows(data, "patient_dtos"):
        psn_no = text_field(p, "patn_id", "input.data.patient_dtos")
        gend, brdy = _person(session, p, psn_no)
        for enc in rows(p, "fsi_encounter_dtos"):
            if "fsi_diagnose_dtos" in enc:
                rows(enc, "fsi_diagnose_dtos")  # checked; no rule of kind reads them yet
            mdtrt_id = text_field(
                enc if enc.get("mdtrt_id") else p | {"mdtrt_id": p.get("curr_mdtrt_id")},
                "mdtrt_id",
                "input.data.patient_dtos[].fsi_encounter_dtos",
            )
            visit = setl_repo.get_visit(session, mdtrt_id)
            if visit is not None:
                ctx.caller.principal.check_institution(visit.fixmedins_code)
                if visit.psn_no != psn_no:
                    raise ValidationFailed("patn_id is not the person of this mdtrt_id")
            code = visit.med_type if visit is not None else enc.get("med_type", "11")
            if not isinstance(code, str) or code not in money_rules.MED_TYPES:
                raise ValidationFailed(f"med_type must be one of {sorted(money_rules.MED_TYPES)}")
            start = visit.begntime.date() if visit is not None else None
            day = start or _day(enc.get("adm_date"), "adm_date") or dt.date.today()
            lines = _orders(session, enc, day)
            rules = review.active_rules(session)
            history = review.history_for(session, rules, psn_no, mdtrt_id, code, lines)
            case = Case(mdtrt_id, code, day, gend, brdy, tuple(lines), history)
            results, _ = review.review_case(
                session,
                stage=review.PRE,
                case=case,
                psn_no=psn_no,
                fixmedins_code=ctx.fixmedins_code,
                rules=rules,
            )
            out += [r.national(mdtrt_id) for r in results]
    return Outcome({"result": out})


def in_review_3102(session: WriteSession, ctx: Ctx, inp: dict[str, Any]) -> Outcome:
    data = section(inp, "data")
    mdtrt_id = text_field(data, "mdtrt_id")
    results = review.review_visit_unit(session, ctx.caller, mdtrt_id)
    return Outcome({"result": [r.national(mdtrt_id) for r in results]})


def handle_3103(session: WriteSession, ctx: Ctx, inp: dict[str, Any]) -> Outcome:
    data = section(inp, "data")
    warns = rows(data, "warns") if "warns" in data else [data]
    if not warns:
        raise ValidationFailed("input.data.warns holds no result")
    done = []
    for w in warns:
        way = w.get("dspo_way")
        reason = w.get("dspo_way_rea")
        if reason is not None and not isinstance(reason, str):
            raise ValidationFailed("dspo_way_rea must be a string")
        done.append(
            review.handle_unit(
                session,
                ctx.caller,
                ctx.fixmedins_code,
                text_field(w, "warn_rslt_id", "input.data"),
                str(way) if isinstance(way, str | int) and not isinstance(way, bool) else "",
                reason,
            )
        )
    return Outcome({"result": done})


register(
    Transaction("3101", "pre-prescription review", pre_review_3101, True, fields=PRE_FIELDS),
    Transaction("3102", "in-process review", in_review_3102, writes=True, fields=IN_FIELDS),
    Transaction("3103", "review result handling", handle_3103, True, fields=HANDLE_FIELDS),
)
