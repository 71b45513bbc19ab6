"""Request context for every HTTP request: a request id, timing, and the catch-all for errors.

A pure ASGI middleware (not `BaseHTTPMiddleware`), installed outermost among the app's
middlewares: an exception nobody handled (from an async or a sync route, run in the thread
pool) arrives here before Starlette's ServerErrorMiddleware, and is answered with the usual
error body and logged with its traceback and request id; the client never sees the traceback.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from medhtap.platform.errors import Internal

log = logging.getLogger("medhtap.api")

REQUEST_ID_HEADER = "X-Request-ID"
# What we accept from a client: it ends up in logs and in audit rows (VARCHAR(64)).
SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:/+=-]{1,64}$")


def request_id_of(request: Request) -> str | None:
    rid: str | None = request.scope.get("state", {}).get("request_id")
    return rid


def internal_error(request_id: str) -> JSONResponse:
    body = Internal(f"internal error; quote request id {request_id} when reporting it")
    return JSONResponse(status_code=500, content=body.body(request_id))


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = Headers(scope=scope).get(REQUEST_ID_HEADER)
        rid = sent if sent and SANE_REQUEST_ID.match(sent) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        started = time.perf_counter()
        response_started = False

        async def send_with_context(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                headers = MutableHeaders(scope=message)
                headers[REQUEST_ID_HEADER] = rid
                elapsed_ms = (time.perf_counter() - started) * 1000
                headers["Server-Timing"] = f"app;dur={elapsed_ms:.1f}"
            await send(message)

        try:
            await self.app(scope, receive, send_with_context)
        except Exception:
            log.exception(
                "unhandled error request_id=%s %s %s", rid, scope.get("method"), scope.get("path")
            )
            if response_started:  # too late for an error body: let the server drop it
                raise
            await internal_error(rid)(scope, receive, send_with_context)
