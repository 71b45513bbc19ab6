"""2204 fee upload and 2205 fee revoke."""

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
from medhtap.services.settlement import rules, visits
from medhtap.services.settlement.schemas import FeeBatchIn

# medins_list_codg (the hospital's own code) and det_item_fee_sumamt are accepted, not
# stored: the platform prices by the national code and computes the amount itself.
FEE_FIELDS = {
    "feedetl_sn": "feedetl_sn",
    "med_list_codg": "item_code",
    "cnt": "cnt",
    "pric": "pric",
    "fee_ocur_time": "fee_ocur_time",
}
REVOKE_FIELDS = {"mdtrt_id": "mdtrt_id", "feedetl_sn": "feedetl_sn"}
OUT_NAMES = {"item_code": "med_list_codg"}


def _check_sumamt(line: dict[str, Any], cnt: Decimal, pric: Decimal) -> None:
    """The HIS's own amount, when sent, must be the platform's (rules.line_amount)."""
    sent = line.get("det_item_fee_sumamt")
    if sent is None:
        return
    try:
        amount = Decimal(str(sent))
    except InvalidOperation as exc:
        raise ValidationFailed("det_item_fee_sumamt is not a decimal") from exc
    expected = rules.line_amount(cnt, pric)
    if amount != expected:
        raise AmountMismatch(
            f"det_item_fee_sumamt of {line.get('feedetl_sn')!r} is {amount}, "
            f"cnt x pric is {expected}",
            feedetl_sn=line.get("feedetl_sn"),
            expected=str(expected),
        )


def upload_2204(session: WriteSession, ctx: Ctx, inp: dict[str, Any]) -> Outcome:
    lines = rows(inp, "feedetail")
    if not lines:
        raise ValidationFailed("input.feedetail holds no line")
    ids = {ln.get("mdtrt_id") for ln in lines}
    if len(ids) != 1 or not isinstance(next(iter(ids)), str):
        raise ValidationFailed("every line of input.feedetail must name the same mdtrt_id")
    mdtrt_id = text_field(lines[0], "mdtrt_id", "input.feedetail")
    body = build(
        FeeBatchIn, {"lines": [rename(ln, FEE_FIELDS) for ln in lines]}, FEE_FIELDS, "feedetail"
    )
    for sent, parsed in zip(lines, body.lines, strict=True):
        _check_sumamt(sent, parsed.cnt, parsed.pric)
    out = visits.upload_fees_unit(session, ctx.caller, mdtrt_id, body)
    result = [
        {OUT_NAMES.get(k, k): v for k, v in ln.model_dump(mode="json").items()} for ln in out.lines
    ]
    sns = [ln.feedetl_sn for ln in out.lines]
    return Outcome({"result": result}, undo={"mdtrt_id": mdtrt_id, "feedetl_sn": sns})


def revoke_2205(session: WriteSession, ctx: Ctx, inp: dict[str, Any]) -> Outcome:
    data = section(inp, "data")
    mdtrt_id, sn = text_field(data, "mdtrt_id"), text_field(data, "feedetl_sn")
    out = visits.revoke_fee_unit(session, ctx.caller, mdtrt_id, sn)
    return Outcome({"data": out.model_dump(mode="json")})


register(
    Transaction("2204", "fee upload", upload_2204, True, reversible=True, fields=FEE_FIELDS),
    Transaction("2205", "fee revoke", revoke_2205, writes=True, fields=REVOKE_FIELDS),
)
