"""Review errors: each carries its HTTP status and machine code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from medhtap.platform.errors import Conflict, NotFound, ValidationFailed


class ReviewBlocked(Conflict):
    """A fee line has a forbidden review result the hospital has not handled (3103 with
    dspo_way 1): nothing is settled. The details carry every result of the review and the
    jr_ids that block; the results are stored although the settlement is rolled back."""

    code = "REVIEW_BLOCKED"

    def __init__(self, message: str, keep: Callable[[Any], None], **details: Any) -> None:
        super().__init__(message, **details)
        self.keep = keep


class ReviewResultNotFound(NotFound):
    """No review result with this warn_rslt_id for this institution."""

    code = "REVIEW_RESULT_NOT_FOUND"


class InvalidDisposal(ValidationFailed):
    """dspo_way is 1 (continue, with a reason in dspo_way_rea) or 2 (go back and change)."""

    code = "INVALID_DSPO_WAY"
