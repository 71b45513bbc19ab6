"""Idempotency keys of 2207/2208: scoping, request digests, and replays that check the
database still backs the stored answer (issue 10.2).

A money unit claims its key with an INSERT before any other work
(`repository.claim_idempotency`; at READ COMMITTED a FOR UPDATE of a missing key locks
nothing) and stores its answer under the key in the same transaction.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from sqlalchemy import Row

from medhtap.platform.db import WriteSession
from medhtap.services.settlement import errors
from medhtap.services.settlement import repository as repo
from medhtap.services.settlement.schemas import SettlementOut
from medhtap.services.settlement.units import Caller

log = logging.getLogger(__name__)


def request_hash(op: str, **fields: Any) -> str:
    canonical = json.dumps({"op": op, **fields}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotency_scope(op: str, caller: Caller, key: str) -> str:
    """Keys are per caller and per operation; a scope too long for the column is hashed."""
    scoped = f"{op}:{caller.actor}:{key}"
    if len(scoped) > 160:
        scoped = f"{op}:{hashlib.sha256(scoped.encode()).hexdigest()}"
    return scoped


def stored_answer(record: Row[Any], digest: str) -> SettlementOut:
    if record.request_hash != digest:
        raise errors.IdempotencyConflict("this Idempotency-Key was used for a different request")
    if record.status_code != 200:
        inconsistent(record, "the stored answer was never finished")
    return SettlementOut.model_validate(record.response)


def inconsistent(record: Row[Any], problem: str, **details: Any) -> None:
    """Refuse to replay an answer the database no longer backs (issue 10.2)."""
    log.critical(
        "idempotency record %s vouches for data the database does not hold: %s %s",
        record.idem_key,
        problem,
        details,
    )
    raise errors.ReplayInconsistent(
        f"the stored answer for this Idempotency-Key is not backed by the database: {problem}",
        **details,
    )


def replay_settlement(session: WriteSession, record: Row[Any], digest: str) -> SettlementOut:
    """2207 replay: the settlement must exist as answered, its visit settled by it with its
    lines; a settlement cancelled since is reported as such (409 with the reversal)."""
    out = stored_answer(record, digest)
    assert out.setl_id is not None
    setl = repo.get_settlement(session, out.setl_id)
    if setl is None:
        inconsistent(record, "settlement row missing", setl_id=out.setl_id)
    assert setl is not None
    if (setl.setl_type, setl.mdtrt_id, setl.medfee_sumamt, setl.acct_pay) != (
        "normal",
        out.mdtrt_id,
        out.medfee_sumamt,
        out.acct_pay,
    ):
        inconsistent(record, "settlement row differs from the answer", setl_id=out.setl_id)
    if setl.setl_status == "cancelled":
        reversal = repo.reversal_of(session, setl.mdtrt_id, setl.setl_id)
        if reversal is None:
            inconsistent(record, "cancelled without a reversal row", setl_id=out.setl_id)
        assert reversal is not None
        raise errors.SettlementCancelled(
            "this settlement was cancelled; the visit is not settled by it",
            setl_id=setl.setl_id,
            setl_status="cancelled",
            reversal_setl_id=reversal.setl_id,
            cancel_time=setl.cancel_time.isoformat() if setl.cancel_time else None,
        )
    visit = repo.get_visit(session, out.mdtrt_id)
    if visit is None or visit.vis_status != "settled":
        inconsistent(
            record,
            "visit not settled",
            setl_id=out.setl_id,
            vis_status=visit.vis_status if visit else None,
        )
    lines = repo.lines_of_settlement(session, out.mdtrt_id, setl.setl_id)
    if lines != sorted(ln.feedetl_sn for ln in out.lines):
        inconsistent(record, "fee lines differ from the answer", setl_id=out.setl_id)
    out.replay = True
    return out


def replay_cancel(session: WriteSession, record: Row[Any], digest: str) -> SettlementOut:
    """2208 replay: the reversal row and the cancelled original must both exist."""
    out = stored_answer(record, digest)
    assert out.setl_id is not None and out.orig_setl_id is not None
    reversal = repo.get_settlement(session, out.setl_id)
    orig = repo.get_settlement(session, out.orig_setl_id)
    if reversal is None or reversal.setl_type != "reversal":
        inconsistent(record, "reversal row missing", setl_id=out.setl_id)
    if orig is None or orig.setl_status != "cancelled":
        inconsistent(record, "original not cancelled", setl_id=out.orig_setl_id)
    out.replay = True
    return out
