"""Errors that carry their HTTP status and machine-readable code.

Domain code raises these; one FastAPI handler renders `{"error": {"code", "message"}}`
(`ErrorBody`, the one schema every documented error response refers to).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import BaseModel, Field


class MedHTAPError(Exception):
    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "BAD_REQUEST"
    # A record the refusal must leave although its unit rolls back (review results of a
    # blocked settlement): platform/tx.py runs it in a transaction of its own, then raises.
    keep: Callable[[Any], None] | None = None

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def body(self, request_id: str | None = None) -> dict[str, Any]:
        return error_body(self.code, self.message, request_id, self.details or None)

    @classmethod
    def openapi(cls) -> dict[int | str, dict[str, Any]]:
        return {
            cls.status_code: {
                "description": f"{cls.code}: {cls.__doc__ or ''}".strip(),
                "model": ErrorBody,
            }
        }


class ErrorDetail(BaseModel):
    code: str = Field(description="machine-readable, e.g. VISIT_NOT_FOUND", examples=["INTERNAL"])
    message: str
    request_id: str | None = Field(
        None, description="the X-Request-ID of the request: quote it when reporting a problem"
    )
    details: dict[str, Any] | list[Any] | None = Field(
        None, description="per code: the fields at fault, allowed values, ..."
    )


class ErrorBody(BaseModel):
    """Every 4xx/5xx answer of the API."""

    error: ErrorDetail


def error_body(
    code: str, message: str, request_id: str | None = None, details: Any = None
) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if request_id:
        err["request_id"] = request_id
    if details:
        err["details"] = details
    return {"error": err}


class ValidationFailed(MedHTAPError):
    """The request is well-formed JSON but breaks a rule."""

    status_code = 422
    code = "VALIDATION_FAILED"


class InvalidDateRange(ValidationFailed):
    """The date range is reversed, too long, or starts before the data can."""

    code = "INVALID_DATE_RANGE"


class NotFound(MedHTAPError):
    """The named object does not exist."""

    status_code = 404
    code = "NOT_FOUND"


class Conflict(MedHTAPError):
    """The request conflicts with the current state."""

    status_code = 409
    code = "CONFLICT"


class Unauthorized(MedHTAPError):
    """No or unknown API key."""

    status_code = 401
    code = "UNAUTHORIZED"


class Forbidden(MedHTAPError):
    """The caller's role may not do this."""

    status_code = 403
    code = "FORBIDDEN"


class MalformedJson(MedHTAPError):
    """The body is not JSON (or not UTF-8)."""

    status_code = 400
    code = "MALFORMED_JSON"


class Internal(MedHTAPError):
    """An unexpected error: logged with the request id, details never sent to the client."""

    status_code = 500
    code = "INTERNAL"


class ServiceUnavailable(MedHTAPError):
    """The database could not complete the transaction after bounded retries."""

    status_code = 503
    code = "DB_UNAVAILABLE"


# Every route can answer these: a parameter breaking its schema, and the catch-all.
ALWAYS: tuple[type[MedHTAPError], ...] = (ValidationFailed, Internal)


def responses(*errors: type[MedHTAPError], body: bool = False) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route, so /docs lists the errors it can return (each with the
    ErrorBody schema); `body=True` for routes that read a JSON body (400 MALFORMED_JSON)."""
    out: dict[int | str, dict[str, Any]] = {}
    extra = (MalformedJson,) if body else ()
    for e in dict.fromkeys((*errors, *extra, *ALWAYS)):
        entry = e.openapi()[e.status_code]
        desc = out.get(e.status_code, {}).get("description")
        if desc:
            entry = entry | {"description": f"{desc.rstrip('.')}; {entry['description']}"}
        out[e.status_code] = entry
    return out
