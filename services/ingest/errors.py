"""Errors of a bulk import that stop a file (a bad row never does: it goes to the rejects)."""

from __future__ import annotations

from typing import Any

from medhtap.platform.errors import MedHTAPError


class IngestError(MedHTAPError):
    """The file cannot be imported as given (unknown table, header, format)."""

    status_code = 422
    code = "INGEST_BAD_FILE"

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        if code:
            self.code = code  # type: ignore[misc]
