"""The MedHTAP HTTP API: settlement (OLTP) and analytics (T+0 reads) on one schema.

`create_app()` is the only entry point; `uvicorn --factory medhtap.services.api:create_app`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException

from medhtap.analytics.watch import RiskWatcher
from medhtap.platform import metrics as _metrics  # noqa: F401 - registers the families
from medhtap.platform.capabilities import Capabilities, probe
from medhtap.platform.db import make_engine, write_engine
from medhtap.platform.errors import MalformedJson, MedHTAPError, error_body, responses
from medhtap.platform.settings import Settings, get_settings
from medhtap.services.analyst.watchdog import AnalystWatchdog
from medhtap.services.deps import Runtime, RuntimeDep
from medhtap.services.middleware import RequestContext, request_id_of
from medhtap.services.settlement import expiry
from medhtap.services.sync import status as sync_status

log = logging.getLogger("medhtap.api")


def analyst_session_vars(settings: Settings, caps: Capabilities) -> dict[str, Any]:
    """The limits every analytic session of the API starts with (direct analyst logins get
    the same from init_connect, migrations 0010 and 0021)."""
    read_vars: dict[str, Any] = {
        "max_execution_time": settings.analyst_max_execution_ms,
        "tidb_mem_quota_query": settings.analyst_mem_quota_bytes,
        "tidb_executor_concurrency": settings.analyst_executor_concurrency,
        "tidb_distsql_scan_concurrency": settings.analyst_scan_concurrency,
    }
    if caps.has_tiflash:
        # Prefer the columnar replicas; TiDB falls back to TiKV for tables without one.
        read_vars["tidb_isolation_read_engines"] = "'tiflash,tikv,tidb'"
    return read_vars


def build_runtime(settings: Settings) -> Runtime:
    engine = write_engine(settings)
    caps = probe(engine)
    read = make_engine(
        settings.analyst_url(),
        settings=settings,
        session_vars=analyst_session_vars(settings, caps),
        pool_size=5,
        pool_timeout=settings.analyst_pool_timeout_s,  # then 503 ANALYTICS_UNAVAILABLE
    )
    return Runtime(settings, engine, read, caps)


def _domain_handler(request: Request, exc: MedHTAPError) -> JSONResponse:
    # 429 and 503 tell the client when to come back
    retry = getattr(exc, "retry_after_s", None)
    if retry is None and exc.status_code in (429, 503):
        runtime = getattr(request.app.state, "runtime", None)
        retry = runtime.settings.retry_after_s if runtime else 2
    return JSONResponse(
        status_code=exc.status_code,
        content=exc.body(request_id_of(request)),
        headers={"Retry-After": str(retry)} if retry is not None else None,
    )


def _validation_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    malformed = any(e.get("type") == "json_invalid" for e in errors)
    code = "MALFORMED_JSON" if malformed else "VALIDATION_FAILED"
    first = errors[0] if errors else {}
    where = ".".join(str(p) for p in first.get("loc", ()))
    message = f"{where}: {first.get('msg', 'invalid request')}" if where else "invalid request"
    details = [{"loc": list(e.get("loc", ())), "msg": e.get("msg")} for e in errors[:20]]
    return JSONResponse(
        status_code=422 if not malformed else 400,
        content=error_body(code, message, request_id_of(request), details),
    )


# Starlette/FastAPI's own HTTP errors in the one error shape: unknown path or method, and
# FastAPI's 400 for a body it cannot decode (not UTF-8), which is malformed JSON to a client.
_HTTP_CODES = {400: MalformedJson.code, 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}


def _http_handler(request: Request, exc: HTTPException) -> JSONResponse:
    code = _HTTP_CODES.get(exc.status_code, f"HTTP_{exc.status_code}")
    message = "the body is not valid UTF-8 JSON" if exc.status_code == 400 else str(exc.detail)
    return JSONResponse(
        status_code=exc.status_code,
        content=error_body(code, message, request_id_of(request)),
        headers=exc.headers,
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    s = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.runtime = build_runtime(s)
        watchdog = AnalystWatchdog(app.state.runtime.write_engine, s, app.state.runtime).start()
        rt = app.state.runtime
        watcher = RiskWatcher(
            rt.read_engine, rt.write_engine, s.risk_watch_s, reader=s.analyst_user
        )
        if s.risk_watch_s > 0:
            watcher.start()
        sync_status.track(rt.write_engine)
        # Idempotency records expire: TiDB's TTL job where it runs, else our purge.
        purger = expiry.start(rt.write_engine, s.idempotency_ttl_days)
        try:
            yield
        finally:
            if purger is not None:
                purger.stop()
            sync_status.untrack(rt.write_engine)
            if s.risk_watch_s > 0:
                watcher.stop()
            watchdog.stop()
            app.state.runtime.write_engine.dispose()
            app.state.runtime.read_engine.dispose()

    app = FastAPI(
        title="MedHTAP",
        version="0.1.0",
        description="Medical-insurance settlement (TiKV rows) and T+0 analytics "
        "(TiFlash replicas when the cluster has them) on one TiDB schema.",
        lifespan=lifespan,
    )

    app.add_exception_handler(MedHTAPError, _domain_handler)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_handler)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_handler)  # type: ignore[arg-type]
    app.add_middleware(RequestContext)  # request id, timing, catch-all 500

    @app.get("/healthz", tags=["ops"], responses=responses())
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], responses=responses(_NotReady))
    def readyz(runtime: RuntimeDep) -> dict[str, Any]:
        from medhtap.platform.db import ping

        ok = ping(runtime.write_engine)
        body: dict[str, Any] = {
            "status": "ready" if ok else "database unreachable",
            "database": runtime.capabilities.as_dict(),
        }
        if not ok:
            raise _NotReady(body)
        sync = sync_status.health(runtime.write_engine, runtime.settings.sync_lag_max_s)
        if sync is not None:
            body["sync"] = sync
            if sync["lagging"]:
                # Still 200: settlement must stay in rotation while a HIS feed lags; the
                # status word and the list say which data is behind.
                body["status"] = "degraded: HIS sync lagging"
        return body

    # Not response_class=PlainTextResponse: that would document the JSON errors as text/plain.
    prometheus = {
        "description": "Prometheus text format",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }

    @app.get("/metrics", tags=["ops"], responses=responses() | {200: prometheus})
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    from medhtap.services.analyst.routes import router as analyst_router
    from medhtap.services.national.routes import router as national_router
    from medhtap.services.settlement.lifecycle_routes import router as lifecycle_router
    from medhtap.services.settlement.routes import router as settlement_router

    app.include_router(settlement_router)
    app.include_router(lifecycle_router)
    app.include_router(analyst_router)
    app.include_router(national_router)
    return app


class _NotReady(MedHTAPError):
    """The database does not answer."""

    status_code = 503
    code = "NOT_READY"

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__("database unreachable", **body)
