"""The national platform's single endpoint. The body is read raw, so a malformed envelope is
an answer with infcode -1 like any other failure; only a missing or unknown API key is an
HTTP error (401)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from medhtap.platform.errors import Unauthorized, responses
from medhtap.services.auth import Principal, authenticate
from medhtap.services.deps import RuntimeDep
from medhtap.services.middleware import request_id_of
from medhtap.services.national import dispatch
from medhtap.services.national.envelope import EXAMPLE, EnvelopeIn, EnvelopeOut

router = APIRouter(prefix="/fsi/api/rsfComIfsService", tags=["national"])

# Documented as any JSON value: every body, well-formed or not, gets an HTTP 200 answer
# (infcode -1 when it is not an envelope), so no body is invalid to HTTP.
REQUEST_BODY = {
    "required": True,
    "description": "the national envelope (schema EnvelopeIn); see the README section "
    "'National interface (envelope)' for each infno's input and output",
    "content": {"application/json": {"schema": {}, "example": EXAMPLE}},
}


@router.post(
    "/callService",
    summary="National interface: one envelope per transaction (infno), keyed by msgid",
    description="Always HTTP 200 with infcode 0 (success) or -1 (err_msg 'CODE: message'), "
    "except a missing or unknown API key (401). A write's msgid is its idempotency key.",
    # The standard error set (the catch-all middleware's 500 included); the envelope itself
    # answers a malformed body with infcode -1, never 400/422.
    responses=responses(Unauthorized, body=True),
    openapi_extra={"requestBody": REQUEST_BODY},
)
async def call_service(
    request: Request,
    runtime: RuntimeDep,
    principal: Annotated[Principal, Depends(authenticate)],
) -> EnvelopeOut:
    raw = await request.body()
    return await run_in_threadpool(
        dispatch.handle,
        runtime.write_engine,
        runtime.settings.txn_max_attempts,
        principal,
        raw,
        request_id_of(request),
    )


__all__ = ["EnvelopeIn", "router"]
