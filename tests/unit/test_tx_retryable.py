"""Which TiDB errors the transaction helper re-runs (pure: errors built by hand)."""

from __future__ import annotations

import pymysql
from sqlalchemy.exc import OperationalError

from medhtap.platform.tx import is_retryable


def _err(code: int, message: str) -> OperationalError:
    return OperationalError(
        "SELECT ... FOR UPDATE", {}, pymysql.err.OperationalError(code, message)
    )


def test_lock_wait_timeout_is_retried_also_when_tidb_reports_it_as_1105() -> None:
    # Seen under 50 settlements of one person with a 3 s lock wait: TiDB returns client-go's
    # untranslated ErrLockWaitTimeout when the wait ends in a write conflict past the limit.
    assert is_retryable(_err(1205, "Lock wait timeout exceeded; try restarting transaction"))
    assert is_retryable(_err(1105, "lock wait timeout"))


def test_other_1105_errors_are_not_retried() -> None:
    assert not is_retryable(_err(1105, "some other failure mentioning lock wait timeout"))
    assert not is_retryable(_err(1105, "unknown error"))
