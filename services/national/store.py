"""msgid as the idempotency key of every write: the stored answer lives in
idempotency_record (the same table, claim and expiry as the REST keys), under
`fsi:<fixmedins_code>:<msgid>`, committed with the work it describes.

The record's response holds the infno, the national output, and the `undo` facts a 2601
needs (never sent). A 2601 for a msgid that never arrived stores a tombstone under that
msgid, so the message, should it arrive later, is refused rather than done."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from medhtap.platform.db import WriteSession
from medhtap.services.national.errors import MessageReversed, MsgidConflict, ReversedBeforeArrival
from medhtap.services.settlement import errors
from medhtap.services.settlement import repository as repo
from medhtap.services.settlement.idempotency import request_hash

TOMBSTONE = "reversed-before-arrival"  # request_hash of a tombstone (never a sha256)
TOMBSTONE_STATUS = 410


def scope(fixmedins_code: str, msgid: str) -> str:
    return f"fsi:{fixmedins_code}:{msgid}"


def digest(infno: str, inp: dict[str, Any]) -> str:
    return request_hash("fsi", infno=infno, input=inp)


def stored(infno: str, output: dict[str, Any], undo: dict[str, Any] | None) -> dict[str, Any]:
    return {"infno": infno, "output": output, "undo": undo, "reversed_by": None}


def replay(session: WriteSession, record: Row[Any], dig: str) -> dict[str, Any]:
    """The stored output of a msgid seen before, if this is the same message and its
    answer still holds."""
    if record.request_hash == TOMBSTONE:
        raise ReversedBeforeArrival(
            "this msgid was reversed (2601) before it arrived; send the transaction again "
            "with a new msgid",
            reversed_by=record.response.get("reversed_by"),
        )
    if record.request_hash != dig:
        raise MsgidConflict("this msgid was used for a different message (infno or input)")
    data: dict[str, Any] = record.response
    if data.get("reversed_by"):
        raise MessageReversed("this message was reversed by 2601", reversed_by=data["reversed_by"])
    setl_id = (data.get("undo") or {}).get("setl_id") if data.get("infno") == "2207" else None
    if setl_id is not None:  # cancelled since (2208): the answer no longer holds
        setl = repo.get_settlement(session, setl_id)
        if setl is not None and setl.setl_status == "cancelled":
            raise errors.SettlementCancelled(
                "this settlement was cancelled; the visit is not settled by it", setl_id=setl_id
            )
    output: dict[str, Any] = data["output"]
    return output
