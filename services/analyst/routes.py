"""Analytics HTTP API: analyst SQL, cost reports, fund risk control, person profiles.

Handlers validate and delegate to medhtap.analytics; every read runs on the runtime's
read engine (the SELECT-only analyst account), only risk alerts are written with the
write engine.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from medhtap.analytics import alert_close, profile, reports, review_report, risk, rollup
from medhtap.analytics.analyst_sql import run_analyst_sql
from medhtap.analytics.errors import (
    AnalyticsBusy,
    AnalyticsUnavailable,
    QueryTimeout,
    QueryTooLarge,
    SqlFailed,
    SqlPermissionDenied,
    SqlRejected,
)
from medhtap.analytics.formats import to_csv
from medhtap.analytics.html import to_html
from medhtap.platform.errors import (
    Forbidden,
    InvalidDateRange,
    NotFound,
    Unauthorized,
    ValidationFailed,
    responses,
)
from medhtap.services.analyst.schemas import RiskAlertCloseIn, RiskRunIn, SqlIn
from medhtap.services.deps import AnalystCaller, ManagerCaller, RuntimeDep, analytic_slot
from medhtap.services.middleware import request_id_of
from medhtap.services.privacy import audit_person_read

# Every analytic route takes an admission slot first (429 when the queue is full).
router = APIRouter(tags=["analytics"], dependencies=[Depends(analytic_slot)])
READ_ERRORS = (
    Unauthorized,
    Forbidden,
    QueryTimeout,
    QueryTooLarge,
    SqlFailed,
    AnalyticsBusy,
    AnalyticsUnavailable,
)
# Windows are bounded: no settlement predates 2000 (the settlement API refuses such times),
# and a rule run reads every settlement in its window.
EARLIEST, LATEST = dt.date(2000, 1, 1), dt.date(2099, 12, 31)
RISK_MAX_DAYS = 366
_TEXT = {"schema": {"type": "string"}}


def _check_window(date_from: dt.date, date_to: dt.date, max_days: int | None = None) -> None:
    too_long = max_days is not None and (date_to - date_from).days + 1 > max_days
    if date_from < EARLIEST or date_to > LATEST or too_long:
        longest = f", at most {max_days} days" if max_days else ""
        raise InvalidDateRange(
            f"the window must lie within {EARLIEST}..{LATEST}{longest}",
            date_from=str(date_from),
            date_to=str(date_to),
        )


def _also(*media_types: str) -> dict[int | str, dict[str, Any]]:
    """Documents the other content types a 200 answer may have, beside application/json."""
    return {200: {"content": {m: _TEXT for m in media_types}}}


def _meta_headers(meta: dict[str, Any]) -> dict[str, str]:
    snap = meta.get("snapshot", {})
    return {
        "X-MedHTAP-Engine": str(meta.get("engine")),
        "X-MedHTAP-Elapsed-Ms": str(meta.get("elapsed_ms")),
        "X-MedHTAP-Snapshot-TSO": str(snap.get("tso")),
        "X-MedHTAP-Snapshot-Time": str(snap.get("snapshot_time")),
    }


@router.post(
    "/v1/sql",
    summary="Run one read-only SELECT as the analyst database account (T+0)",
    responses=responses(SqlRejected, SqlPermissionDenied, *READ_ERRORS, body=True)
    | _also("text/csv"),
)
def analyst_sql(body: SqlIn, runtime: RuntimeDep, _: AnalystCaller) -> Response:
    max_rows = min(body.max_rows, runtime.settings.analyst_max_rows)
    answer = run_analyst_sql(
        runtime.read_engine, body.sql, max_rows=max_rows, database=runtime.settings.database
    )
    if body.format == "csv":
        return Response(
            to_csv(answer.result.columns, answer.result.rows),
            media_type="text/csv; charset=utf-8",
            headers=_meta_headers(answer.meta)
            | {"X-MedHTAP-Truncated": str(answer.result.truncated).lower()},
        )
    return JSONResponse(answer.as_json(), headers=_meta_headers(answer.meta))


@router.get(
    "/v1/reports/cost",
    summary="Cost analysis by group: visits, persons, money, shares, top items",
    description=f"The window lies within {EARLIEST}..{LATEST}; otherwise 422 "
    f"{InvalidDateRange.code}.",
    responses=responses(ValidationFailed, InvalidDateRange, *READ_ERRORS)
    | _also("text/csv", "text/html"),
)
def cost_report(
    runtime: RuntimeDep,
    _: AnalystCaller,
    date_from: Annotated[dt.date, Query(alias="from")],
    date_to: Annotated[dt.date, Query(alias="to")],
    group_by: Annotated[
        str, Query(description=f"comma separated: {', '.join(reports.DIMENSIONS)}")
    ] = "institution",
    format: Literal["json", "csv", "html"] = "json",
    top_items: Annotated[
        bool,
        Query(
            description="the top 10 items of each group, from the fee lines: the one part "
            "of the report that reads line level (bench/README.md has its cost)"
        ),
    ] = True,
) -> Response:
    _check_window(date_from, date_to)
    dims = reports.parse_group_by(group_by)
    report = reports.cost_report(
        runtime.read_engine,
        date_from,
        date_to,
        dims,
        trend=format == "html",
        top_items=top_items,
        on_missing_rollup=lambda d: rollup.register(runtime.write_engine, d),
    )
    headers = _meta_headers(report.meta)
    if format == "csv":
        return Response(
            reports.to_csv(report), media_type="text/csv; charset=utf-8", headers=headers
        )
    if format == "html":
        return HTMLResponse(to_html(report), headers=headers)
    return JSONResponse(report.as_json(), headers=headers)


@router.get(
    "/v1/reports/review-violations",
    summary="Review results (3101/3102/2207) counted by rule and by institution",
    description=f"Results first seen in the window (within {EARLIEST}..{LATEST}; otherwise "
    f"422 {InvalidDateRange.code}): forbidden / warning, continued / changed / unhandled "
    "(3103), money at stake.",
    responses=responses(ValidationFailed, InvalidDateRange, *READ_ERRORS) | _also("text/csv"),
)
def review_violations(
    runtime: RuntimeDep,
    _: AnalystCaller,
    date_from: Annotated[dt.date, Query(alias="from")],
    date_to: Annotated[dt.date, Query(alias="to")],
    format: Literal["json", "csv"] = "json",
) -> Response:
    _check_window(date_from, date_to)
    if date_to < date_from:
        raise InvalidDateRange("'to' is before 'from'")
    report = review_report.review_violations(runtime.read_engine, date_from, date_to)
    rows = report["by_rule_and_institution"]
    if format == "csv":
        columns = list(rows[0]) if rows else ["rule_id", "fixmedins_code", "results"]
        return Response(
            to_csv(columns, ([r[c] for c in columns] for r in rows)),
            media_type="text/csv; charset=utf-8",
            headers=_meta_headers(report),
        )
    return JSONResponse(report, headers=_meta_headers(report))


@router.post(
    "/v1/risk/run",
    summary="Run the fund risk-control rules now and store their alerts",
    description=f"The window lies within {EARLIEST}..{LATEST} and spans at most "
    f"{RISK_MAX_DAYS} days; otherwise 422 {InvalidDateRange.code}.",
    responses=responses(ValidationFailed, InvalidDateRange, *READ_ERRORS, body=True),
)
def risk_run(body: RiskRunIn, runtime: RuntimeDep, _: ManagerCaller) -> dict[str, Any]:
    date_from, date_to = risk.default_window(body.date_from, body.date_to)
    _check_window(date_from, date_to, RISK_MAX_DAYS)
    outcome = risk.run_rules(
        runtime.read_engine, runtime.write_engine, date_from, date_to, body.rules
    )
    return outcome.as_json()


@router.get(
    "/v1/risk/alerts",
    summary="Risk alerts with the rows that prove them",
    responses=responses(*READ_ERRORS),
)
def risk_alerts(
    runtime: RuntimeDep,
    principal: AnalystCaller,
    request: Request,
    rule: str | None = None,
    status: str | None = "open",
    # 64: the audit row's entity_id; longer is refused before the audit write (was a 500)
    psn_no: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    out = risk.list_alerts(
        runtime.read_engine, rule=rule, status=status, psn_no=psn_no, limit=limit
    )
    if psn_no:  # one person's alerts are a read of that person's data
        audit_person_read(
            runtime.write_engine, principal, psn_no, "GET /v1/risk/alerts", request_id_of(request)
        )
    return out


@router.post(
    "/v1/risk/alerts/{alert_id}/close",
    summary="Close a risk alert with a reason (managers); audited in the same transaction",
    description=f"404 {alert_close.AlertNotFound.code} for an unknown id, 409 "
    f"{alert_close.AlertAlreadyClosed.code} if it is closed already. Later rule runs leave "
    "a closed alert closed.",
    responses=responses(
        alert_close.AlertNotFound,
        alert_close.AlertAlreadyClosed,
        Unauthorized,
        Forbidden,
        AnalyticsBusy,
        AnalyticsUnavailable,
        body=True,
    ),
)
def risk_alert_close(
    alert_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    body: RiskAlertCloseIn,
    runtime: RuntimeDep,
    principal: ManagerCaller,
    request: Request,
) -> dict[str, Any]:
    return alert_close.close_alert(
        runtime.write_engine,
        alert_id,
        actor=principal.name,
        reason=body.reason,
        request_id=request_id_of(request),
    )


@router.get(
    "/v1/persons/{psn_no}/profile",
    summary="Data portrait (数据画像) of one insured person: fund managers only",
    responses=responses(NotFound, *READ_ERRORS),
)
def person_profile(
    psn_no: Annotated[str, Path(max_length=64)],
    runtime: RuntimeDep,
    principal: ManagerCaller,
    request: Request,
) -> dict[str, Any]:
    out = profile.person_profile(runtime.read_engine, psn_no)
    audit_person_read(
        runtime.write_engine,
        principal,
        psn_no,
        "GET /v1/persons/{psn_no}/profile",
        request_id_of(request),
    )
    return out
