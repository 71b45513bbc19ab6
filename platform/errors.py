"""Errors that carry their HTTP status and machine-readable code.

Domain code raises these; one FastAPI handler renders `{"error": {"code", "message"}}`.
"""

from __future__ import annotations

from typing import Any, ClassVar


class MedHTAPError(Exception):
    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "BAD_REQUEST"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            err["details"] = self.details
        return {"error": err}

    @classmethod
    def openapi(cls) -> dict[int | str, dict[str, Any]]:
        return {cls.status_code: {"description": f"{cls.code}: {cls.__doc__ or ''}".strip()}}


class ValidationFailed(MedHTAPError):
    """The request is well-formed JSON but breaks a rule."""

    status_code = 422
    code = "VALIDATION_FAILED"


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


class ServiceUnavailable(MedHTAPError):
    """The database could not complete the transaction after bounded retries."""

    status_code = 503
    code = "DB_UNAVAILABLE"


def responses(*errors: type[MedHTAPError]) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route, so /docs lists the errors it can return."""
    out: dict[int | str, dict[str, Any]] = {}
    for e in errors:
        desc = out.get(e.status_code, {}).get("description")
        entry = e.openapi()[e.status_code]
        if desc:
            entry = {"description": f"{desc}; {entry['description']}"}
        out[e.status_code] = entry
    return out
