"""One envelope in, one answer out: parse, check the caller, run the transaction (a write in
one TiDB transaction with its msgid record), record the message. Failures of any kind are
answers with infcode -1 and the platform's error code, never an HTTP error."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
import uuid
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine

from medhtap.platform.db import WriteSession
from medhtap.platform.errors import Forbidden, Internal, MedHTAPError
from medhtap.platform.tx import READ_COMMITTED, run_in_transaction
from medhtap.services.auth import Principal
from medhtap.services.national import (  # noqa: F401 - each module registers its infnos
    fee_handlers,
    msglog,
    reversal,
    review_handlers,
    settle_handlers,
    store,
    visit_handlers,
)
from medhtap.services.national.envelope import INFNO, EnvelopeIn, EnvelopeOut, national_time
from medhtap.services.national.errors import (
    InstitutionMismatch,
    MalformedEnvelope,
    NotSupportedYet,
    UnknownInfno,
)
from medhtap.services.national.registry import TRANSACTIONS, Ctx, Transaction
from medhtap.services.settlement import repository as repo
from medhtap.services.settlement.units import Caller

log = logging.getLogger("medhtap.national")
ROLES = ("his", "admin")
_INFNO = re.compile(INFNO)


def _parse(raw: bytes) -> EnvelopeIn:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedEnvelope("the body is not UTF-8 JSON") from exc
    if not isinstance(body, dict):
        raise MalformedEnvelope("the envelope must be a JSON object")
    try:
        return EnvelopeIn.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "envelope"
        details = [{"loc": list(e.get("loc", ())), "msg": e.get("msg")} for e in exc.errors()[:20]]
        raise MalformedEnvelope(f"{where}: {first.get('msg')}", errors=details) from exc


def _transaction(env: EnvelopeIn) -> Transaction:
    tx = TRANSACTIONS.get(env.infno)
    if tx is None:
        raise UnknownInfno(f"unknown infno {env.infno}", supported=sorted(TRANSACTIONS))
    if tx.run is None:
        raise NotSupportedYet(f"infno {env.infno} not supported yet")
    return tx


def _run(engine: Engine, attempts: int, tx: Transaction, ctx: Ctx, env: EnvelopeIn) -> Any:
    """(output, replayed). Reads run in a snapshot; a write claims its msgid first, so a
    retry after a lost commit replays and never does the work twice."""
    run = tx.run
    assert run is not None
    if not tx.writes:
        return (
            run_in_transaction(
                engine, lambda s: run(s, ctx, env.input), name=f"fsi_{tx.infno}"
            ).output,
            False,
        )
    key, dig = store.scope(ctx.fixmedins_code, ctx.msgid), store.digest(env.infno, env.input)

    def unit(session: WriteSession) -> tuple[dict[str, Any], bool]:
        record = repo.claim_idempotency(session, key, dig)
        if record is not None:
            return store.replay(session, record, dig), True
        outcome = run(session, ctx, env.input)
        repo.finish_idempotency(
            session, key, 200, store.stored(env.infno, outcome.output, outcome.undo)
        )
        return outcome.output, False

    return run_in_transaction(
        engine,
        unit,
        name=f"fsi_{tx.infno}",
        idempotent=True,
        isolation=READ_COMMITTED,
        max_attempts=attempts,
    )


def handle(
    engine: Engine, attempts: int, principal: Principal, raw: bytes, request_id: str | None
) -> EnvelopeOut:
    started, received = time.perf_counter(), dt.datetime.now()
    m = msglog.Message(uuid.uuid4().hex, principal.name, received)
    output: dict[str, Any] = {}
    err_msg: str | None = None
    try:
        env = _parse(raw)
        m.infno, m.fixmedins_code = env.infno, env.fixmedins_code
        m.msgid = env.msgid  # validated: institution + time + sequence, nothing personal
        if principal.role not in ROLES:
            raise Forbidden(f"role {principal.role!r} may not send national messages")
        if principal.role == "his" and principal.institution not in (None, env.fixmedins_code):
            raise InstitutionMismatch("fixmedins_code is not the institution of this API key")
        tx = _transaction(env)
        ctx = Ctx(Caller(principal, request_id), env.fixmedins_code, env.msgid)
        output, m.replay = _run(engine, attempts, tx, ctx, env)
        m.infcode = 0
    except MedHTAPError as exc:
        if isinstance(exc, MalformedEnvelope):
            m.infno = _raw_infno(raw)
        m.err_code, err_msg = exc.code, f"{exc.code}: {exc.message}"
        output = {"err_code": exc.code, "details": exc.details or None}
    except Exception:
        log.exception("national message failed ref=%s", m.inf_refmsgid)
        m.err_code = Internal.code
        err_msg = f"{Internal.code}: unexpected error; quote inf_refmsgid {m.inf_refmsgid}"
        output = {"err_code": Internal.code, "details": None}
    m.duration_ms = round((time.perf_counter() - started) * 1000)
    msglog.record(engine, m)
    return EnvelopeOut(
        infcode=m.infcode,
        inf_refmsgid=m.inf_refmsgid,
        refmsg_time=national_time(received),
        respond_time=national_time(dt.datetime.now()),
        err_msg=err_msg,
        output=output,
    )


def _raw_infno(raw: bytes) -> str | None:
    """The infno of a malformed envelope, for the record, when it has the right shape."""
    try:
        value = json.loads(raw).get("infno")
    except (ValueError, UnicodeDecodeError, AttributeError):
        return None
    return value if isinstance(value, str) and _INFNO.match(value) else None
