"""2601 reversal (冲正): undo the message `omsgid` (`oinfno`) of the same institution.

- 2207: the settlement is cancelled (the 2208 unit); 2204: the lines it uploaded are
  revoked (the 2205 unit); 2201/2401: the registration or admission is cancelled (the
  2202/2404 unit), which the service refuses while a settlement stands.
- A message that never arrived: nothing to do; a tombstone under its msgid refuses it if
  it arrives later (the HIS that timed out believes it reversed).
- Reversing twice, or what is already undone, succeeds with nothing to do.
All in the 2601's own transaction, which also holds its msgid record."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from medhtap.platform.db import WriteSession
from medhtap.platform.errors import ValidationFailed
from medhtap.services.national import store
from medhtap.services.national.envelope import check_msgid
from medhtap.services.national.errors import NotReversible
from medhtap.services.national.registry import (
    TRANSACTIONS,
    Ctx,
    Outcome,
    Transaction,
    register,
    section,
    text_field,
)
from medhtap.services.settlement import errors, lifecycle, settling, visits
from medhtap.services.settlement import repository as repo

REVERSAL_FIELDS = {"psn_no": "psn_no", "omsgid": "omsgid", "oinfno": "oinfno"}


def _check_person(session: WriteSession, mdtrt_id: str, psn_no: str | None) -> None:
    visit = repo.get_visit(session, mdtrt_id)
    if visit is None:
        raise errors.VisitNotFound(f"no visit {mdtrt_id!r}")
    if psn_no is not None and visit.psn_no != psn_no:
        raise ValidationFailed("input.data.psn_no is not the person of the original message")


def _undo_settlement(
    session: WriteSession, ctx: Ctx, undo: dict[str, Any], psn_no: str | None
) -> dict[str, Any]:
    setl = repo.get_settlement(session, undo["setl_id"])
    if setl is None:
        raise errors.SettlementNotFound(f"no settlement {undo['setl_id']!r}")
    _check_person(session, setl.mdtrt_id, psn_no)
    if setl.setl_status == "cancelled":
        return {"done": "already cancelled", "setl_id": setl.setl_id}
    out = settling.cancel_unit(session, ctx.caller, setl.setl_id, f"2601:{ctx.msgid}")
    return {"done": "settlement cancelled", "setl_id": setl.setl_id, "rev_setl_id": out.setl_id}


def _undo_fees(
    session: WriteSession, ctx: Ctx, undo: dict[str, Any], psn_no: str | None
) -> dict[str, Any]:
    mdtrt_id = undo["mdtrt_id"]
    _check_person(session, mdtrt_id, psn_no)
    revoked = []
    for sn in undo["feedetl_sn"]:
        line = repo.get_fee_line(session, mdtrt_id, sn)
        if line is not None and line.fee_status != "revoked":
            visits.revoke_fee_unit(session, ctx.caller, mdtrt_id, sn)
            revoked.append(sn)
    return {"done": "lines revoked", "mdtrt_id": mdtrt_id, "feedetl_sn": revoked}


def _undo_visit(
    session: WriteSession, ctx: Ctx, undo: dict[str, Any], psn_no: str | None
) -> dict[str, Any]:
    mdtrt_id = undo["mdtrt_id"]
    _check_person(session, mdtrt_id, psn_no)
    visit = repo.get_visit(session, mdtrt_id)
    if visit is not None and visit.vis_status == "cancelled":
        return {"done": "already cancelled", "mdtrt_id": mdtrt_id}
    lifecycle.cancel_visit_unit(session, ctx.caller, mdtrt_id)
    return {"done": "visit cancelled", "mdtrt_id": mdtrt_id}


Undo = Callable[[WriteSession, Ctx, dict[str, Any], str | None], dict[str, Any]]
UNDO: dict[str, Undo] = {
    "2207": _undo_settlement,
    "2204": _undo_fees,
    "2201": _undo_visit,
    "2401": _undo_visit,
}


def reverse_2601(session: WriteSession, ctx: Ctx, inp: dict[str, Any]) -> Outcome:
    data = section(inp, "data")
    omsgid, oinfno = text_field(data, "omsgid"), text_field(data, "oinfno")
    psn_no = text_field(data, "psn_no") if data.get("psn_no") is not None else None
    check_msgid(omsgid, ctx.fixmedins_code)  # only this institution's own messages
    original: Transaction | None = TRANSACTIONS.get(oinfno)
    if original is None or oinfno not in UNDO:
        raise NotReversible(f"infno {oinfno} cannot be reversed", reversible=sorted(UNDO))
    answer = {"omsgid": omsgid, "oinfno": oinfno}
    key = store.scope(ctx.fixmedins_code, omsgid)
    # Claiming the original's key serialises us with the original itself, should it be
    # in flight: we wait for it, then see its record.
    record = repo.claim_idempotency(session, key, store.TOMBSTONE)
    if record is None:
        repo.finish_idempotency(
            session,
            key,
            store.TOMBSTONE_STATUS,
            {"infno": oinfno, "reversed_by": ctx.msgid},
        )
        return Outcome({"data": answer | {"done": "not arrived: nothing to do"}})
    if record.request_hash == store.TOMBSTONE:
        return Outcome({"data": answer | {"done": "not arrived: nothing to do"}})
    kept: dict[str, Any] = record.response
    if kept.get("infno") != oinfno:
        raise NotReversible(f"msgid {omsgid} was a {kept.get('infno')}, not a {oinfno}")
    done = UNDO[oinfno](session, ctx, kept["undo"], psn_no)
    if not kept.get("reversed_by"):
        repo.finish_idempotency(session, key, record.status_code, kept | {"reversed_by": ctx.msgid})
    return Outcome({"data": answer | done})


register(Transaction("2601", "reversal", reverse_2601, writes=True, fields=REVERSAL_FIELDS))
