"""Errors of the analytics half; each carries its HTTP status and machine code."""

from __future__ import annotations

from medhtap.platform.errors import MedHTAPError


class SqlRejected(MedHTAPError):
    """The statement is not one read-only SELECT over the analyst views."""

    status_code = 400
    code = "SQL_REJECTED"


class SqlPermissionDenied(MedHTAPError):
    """The database refused the analyst account (grants are the second line of defence)."""

    status_code = 403
    code = "SQL_PERMISSION_DENIED"


class SqlFailed(MedHTAPError):
    """The database could not run the statement (unknown column, type error, ...)."""

    status_code = 400
    code = "SQL_ERROR"


class QueryTimeout(MedHTAPError):
    """The query ran longer than the analyst session's MAX_EXECUTION_TIME."""

    status_code = 504
    code = "QUERY_TIMEOUT"


class QueryTooLarge(MedHTAPError):
    """The query needed more memory than the analyst session's quota."""

    status_code = 413
    code = "QUERY_MEMORY_EXCEEDED"


class AnalyticsBusy(MedHTAPError):
    """Too many analytic requests are running or waiting: retry after Retry-After seconds."""

    status_code = 429
    code = "ANALYTICS_BUSY"

    def __init__(self, message: str, *, retry_after_s: int, **details: object) -> None:
        super().__init__(message, **details)
        self.retry_after_s = retry_after_s


class AnalyticsUnavailable(MedHTAPError):
    """No analytic database connection became free in time: retry after Retry-After."""

    status_code = 503
    code = "ANALYTICS_UNAVAILABLE"

    def __init__(self, message: str, *, retry_after_s: int, **details: object) -> None:
        super().__init__(message, **details)
        self.retry_after_s = retry_after_s
