"""2206 pre-settlement, 2207 settlement, 2208 cancel, 3201/3202 reconciliation and the
read-backs 5201 (a person's visits) and 5203 (a settlement, or a person's settlements)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from medhtap.platform.db import WriteSession
from medhtap.platform.errors import ValidationFailed
from medhtap.services.national.errors import AmountMismatch
from medhtap.services.national.registry import (
    Ctx,
    Outcome,
    Transaction,
    build,
    register,
    rename,
    rows,
    section,
    text_field,
)
from medhtap.services.settlement import readback, reconciliation, settling
from medhtap.services.settlement.lifecycle_schemas import LIMIT_MAX
from medhtap.services.settlement.schemas import (
    ReconcileDetailIn,
    ReconcileIn,
    SettleIn,
    SettlementOut,
)

SETTLE_FIELDS = {"mdtrt_id": "mdtrt_id", "acct_used_flag": "use_account"}
CANCEL_FIELDS = {"setl_id": "setl_id"}
RECON_FIELDS = {
    "stmt_begndate": "stmt_date",
    "fixmedins_setl_cnt": "setl_cnt",
    "medfee_sumamt": "medfee_sumamt",
    "hifp_pay": "hifp_pay",
    "fund_pay_sumamt": "fund_pay_sumamt",  # all funds; compared when sent
    "acct_pay": "acct_pay",
}
DETAIL_FIELDS = {
    "setl_id": "setl_id",
    "medfee_sumamt": "medfee_sumamt",
    "hifp_pay": "hifp_pay",
    "fund_pay_sumamt": "fund_pay_sumamt",
    "acct_pay": "acct_pay",
}
READ_FIELDS = {"setl_id": "setl_id", "psn_no": "psn_no", "cursor": "cursor", "limit": "limit"}
# Our answer names that differ from the national ones; every other field keeps its name.
SETL_NAMES = {"acct_balc_after": "balc"}
LINE_NAMES = {
    "item_code": "med_list_codg",
    "amount": "det_item_fee_sumamt",
    "overlmt_selfpay": "overlmt_amt",
}
NOT_SENT = ("lines", "selfpay_lines", "replay", "setldetail")


def setl_output(out: SettlementOut) -> dict[str, Any]:
    """setlinfo (the settlement), setldetail (per fund, when the service splits funds) and
    detlcutinfo (each line's split)."""
    d = out.model_dump(mode="json")
    info = {SETL_NAMES.get(k, k): v for k, v in d.items() if k not in NOT_SENT}
    lines = [{LINE_NAMES.get(k, k): v for k, v in ln.items()} for ln in d["lines"]]
    return {"setlinfo": info, "setldetail": d.get("setldetail", []), "detlcutinfo": lines}


def _settle_in(data: dict[str, Any]) -> SettleIn:
    flag = data.get("acct_used_flag", "0")
    if flag not in ("0", "1", 0, 1):
        raise ValidationFailed("input.data.acct_used_flag must be '0' or '1'")
    return SettleIn(use_account=str(flag) == "1")


def _check_sent(data: dict[str, Any], out: SettlementOut) -> None:
    """psn_no and medfee_sumamt, when sent, must be the visit's: a mismatch means the HIS
    and the platform disagree on the bill, and the settlement must not stand."""
    if "psn_no" in data and data["psn_no"] != out.psn_no:
        raise ValidationFailed("input.data.psn_no is not the person of this mdtrt_id")
    if data.get("medfee_sumamt") is None:
        return
    try:
        sent = Decimal(str(data["medfee_sumamt"]))
    except InvalidOperation as exc:
        raise ValidationFailed("input.data.medfee_sumamt is not a decimal") from exc
    if sent != out.medfee_sumamt:
        raise AmountMismatch(
            f"medfee_sumamt {sent} differs from the uploaded lines' {out.medfee_sumamt}",
            expected=str(out.medfee_sumamt),
        )


def pre_settle_2206(session: WriteSession, ctx: Ctx, inp: dict[str, Any]) -> Outcome:
    data = section(inp, "data")
    out = settling.pre_settle_unit(
        session, ctx.caller, text_field(data, "mdtrt_id"), _settle_in(data)
    )
    _check_sent(data, out)
    return Outcome(setl_output(out))


def settle_2207(session: WriteSession, ctx: Ctx, inp: dict[str, Any]) -> Outcome:
    data = section(inp, "data")
    mdtrt_id, body = text_field(data, "mdtrt_id"), _settle_in(data)
    # the msgid is the service's idempotency key too; a mismatch below rolls it all back
    out = settling.settle_unit(session, ctx.caller, mdtrt_id, ctx.msgid, body)
    _check_sent(data, out)
    return Outcome(setl_output(out), undo={"setl_id": out.setl_id})


def cancel_2208(session: WriteSession, ctx: Ctx, inp: dict[str, Any]) -> Outcome:
    setl_id = text_field(section(inp, "data"), "setl_id")
    out = settling.cancel_unit(session, ctx.caller, setl_id, ctx.msgid)
    return Outcome(setl_output(out))


def _one_day(data: dict[str, Any]) -> None:
    end = data.get("stmt_enddate")
    if end is not None and end != data.get("stmt_begndate"):
        raise ValidationFailed("the platform reconciles one day: stmt_enddate = stmt_begndate")


def reconcile_3201(session: WriteSession, ctx: Ctx, inp: dict[str, Any]) -> Outcome:
    data = section(inp, "data")
    _one_day(data)
    values = rename(data, RECON_FIELDS) | {"fixmedins_code": ctx.fixmedins_code}
    out = reconciliation.reconcile_unit(
        session, ctx.caller, build(ReconcileIn, values, RECON_FIELDS, "data")
    ).model_dump(mode="json")
    out["stmt_rslt"] = "0" if out["result"] == "match" else "1"  # national: 0 balanced
    return Outcome({"data": out})


def reconcile_3202(session: WriteSession, ctx: Ctx, inp: dict[str, Any]) -> Outcome:
    data = section(inp, "data")
    _one_day(data)
    items = [rename(r, DETAIL_FIELDS) for r in rows(inp, "setlinfo")]
    values = {
        "fixmedins_code": ctx.fixmedins_code,
        "stmt_date": data.get("stmt_begndate"),
        "items": items,
    }
    body = build(ReconcileDetailIn, values, RECON_FIELDS | DETAIL_FIELDS, "data")
    out = reconciliation.reconcile_detail_unit(session, ctx.caller, body).model_dump(mode="json")
    out["stmt_rslt"] = "0" if out["result"] == "match" else "1"
    return Outcome({"data": out})


def _page(data: dict[str, Any]) -> tuple[str | None, int]:
    cursor, limit = data.get("cursor"), data.get("limit", 20)
    if cursor is not None and (not isinstance(cursor, str) or not 0 < len(cursor) <= 200):
        raise ValidationFailed("input.data.cursor must be the next_cursor of a page")
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= LIMIT_MAX:
        raise ValidationFailed(f"input.data.limit must be an integer 1..{LIMIT_MAX}")
    return cursor, limit


def visits_5201(session: WriteSession, ctx: Ctx, inp: dict[str, Any]) -> Outcome:
    data = section(inp, "data")
    cursor, limit = _page(data)
    page = readback.person_visits_unit(
        session, ctx.caller, text_field(data, "psn_no"), cursor, limit
    ).model_dump(mode="json")
    return Outcome({"mdtrtinfo": page["items"], "next_cursor": page["next_cursor"]})


def settlements_5203(session: WriteSession, ctx: Ctx, inp: dict[str, Any]) -> Outcome:
    data = section(inp, "data")
    if data.get("setl_id") is not None:
        one = readback.settlement_unit(session, ctx.caller, text_field(data, "setl_id"))
        return Outcome(setl_output(one))
    cursor, limit = _page(data)
    page = readback.person_settlements_unit(
        session, ctx.caller, text_field(data, "psn_no"), cursor, limit
    ).model_dump(mode="json")
    return Outcome({"setlinfo": page["items"], "next_cursor": page["next_cursor"]})


register(
    Transaction("2206", "pre-settlement", pre_settle_2206, writes=False, fields=SETTLE_FIELDS),
    Transaction("2207", "settlement", settle_2207, True, reversible=True, fields=SETTLE_FIELDS),
    Transaction("2208", "settlement cancel", cancel_2208, writes=True, fields=CANCEL_FIELDS),
    Transaction("3201", "daily totals", reconcile_3201, writes=True, fields=RECON_FIELDS),
    Transaction("3202", "detail reconciliation", reconcile_3202, False, fields=DETAIL_FIELDS),
    Transaction("5201", "a person's visits", visits_5201, writes=False, fields=READ_FIELDS),
    Transaction("5203", "settlement read-back", settlements_5203, False, fields=READ_FIELDS),
)
