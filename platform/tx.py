"""Run a unit of work in one TiDB transaction, retrying what TiDB says is retryable.

The helper owns the transaction (not the caller) because a retry after a write conflict
must re-run the whole unit, reads included: rows read under the failed attempt are stale.

Commit outcome: if the connection dies *during COMMIT* we cannot know whether the
transaction landed. Such a unit is re-run only when the caller declares it idempotent
(it checks its own idempotency record first, so a landed commit is found and replayed);
otherwise the helper raises `CommitOutcomeUnknown` and the caller must not guess.

Isolation: a unit may ask for READ COMMITTED (`isolation=READ_COMMITTED`). In TiDB's
pessimistic REPEATABLE READ a plain SELECT reads the snapshot of the transaction's start, even
after the transaction waited on a row lock for another writer to commit; in pessimistic READ
COMMITTED every statement takes a fresh timestamp and so reads what was committed before it
started (TiDB source at our pin: pkg/sessiontxn/isolation/readcommitted.go, `getStmtTS` ->
`getOracleFuture` per statement; docs: "Read Committed isolation level ... only takes effect in
pessimistic transactions", docs.pingcap.com/tidb/stable/transaction-isolation-levels). The
level is set with the one-shot `SET TRANSACTION ISOLATION LEVEL` before the transaction's
first statement, so it applies to that transaction only and the pooled session keeps its
default (pkg/sessionctx/variable/session.go, `txnIsolationLevelOneShot`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar
from weakref import WeakKeyDictionary

from pymysql.err import MySQLError
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import sessionmaker
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from medhtap.platform.db import WriteSession, write_sessionmaker
from medhtap.platform.errors import MedHTAPError, ServiceUnavailable
from medhtap.platform.metrics import TXN_ATTEMPTS, TXN_RETRIES, TXN_SECONDS
from medhtap.platform.prepared import Statement

log = logging.getLogger(__name__)
T = TypeVar("T")
READ_COMMITTED = "READ COMMITTED"

# TiDB / TiKV / PD error codes that mean "nothing was committed, run it again".
RETRYABLE_CODES = frozenset(
    {
        1205,  # lock wait timeout
        1213,  # deadlock
        8002,  # SELECT FOR UPDATE write conflict (optimistic)
        8022,  # transaction retry failed
        8028,  # schema changed during the transaction
        9001,  # PD server timeout
        9002,  # TiKV server timeout
        9003,  # TiKV server is busy
        9004,  # resolve lock timeout
        9005,  # region unavailable
        9006,  # GC life time shorter than transaction duration
        9007,  # write conflict
    }
)
# Client-side: connection lost / server gone away before or during a statement.
CONNECTION_CODES = frozenset({2003, 2006, 2013, 2014, 2055})


class CommitOutcomeUnknown(ServiceUnavailable):
    """The connection failed during COMMIT; the transaction may or may not have landed."""

    code = "COMMIT_OUTCOME_UNKNOWN"


class _CommitFailed(Exception):
    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def error_code(exc: BaseException) -> int | None:
    """The MySQL error number inside a SQLAlchemy or pymysql exception, if any."""
    if isinstance(exc, _CommitFailed):
        exc = exc.cause
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    if isinstance(orig, MySQLError) and orig.args and isinstance(orig.args[0], int):
        return orig.args[0]
    return None


# TiDB sometimes surfaces a TiKV region error as a generic 1105 (seen on unistore right
# after a bulk load split regions: "epoch_not_match"). Nothing was written; run it again.
REGION_ERROR_MARKERS = (
    "epoch_not_match",
    "not_leader",
    "region_not_found",
    "server_is_busy",
    "stale_command",
    "key_not_in_region",
)


def is_region_error(exc: BaseException) -> bool:
    if error_code(exc) != 1105:
        return False
    text = str(exc.orig if isinstance(exc, DBAPIError) else exc)
    return any(m in text for m in REGION_ERROR_MARKERS)


def is_untranslated_lock_wait_timeout(exc: BaseException) -> bool:
    """A lock wait timeout TiDB reports as 1105 "lock wait timeout" instead of 1205: when a
    lock wait ends in a write conflict after the timeout, the isolation provider returns
    client-go's raw ErrLockWaitTimeout (pkg/sessiontxn/isolation/readcommitted.go and
    repeatable_read.go, handleAfterPessimisticLockError). Nothing was written."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    return error_code(exc) == 1105 and orig is not None and orig.args[1:2] == ("lock wait timeout",)


def is_retryable(exc: BaseException) -> bool:
    code = error_code(exc)
    return (
        code in RETRYABLE_CODES
        or code in CONNECTION_CODES
        or is_region_error(exc)
        or is_untranslated_lock_wait_timeout(exc)
    )


def _keep(session: WriteSession, name: str, keep: Callable[[WriteSession], None]) -> None:
    """After a refused unit rolled back: commit the record its refusal carries, in a
    transaction of its own (nothing of the unit is in it). A failure is logged, and the
    refusal is still what the caller gets."""
    try:
        keep(session)
        session.commit()
    except DBAPIError as exc:
        session.rollback()
        log.warning("%s: the refusal's record was not kept (TiDB error %s)", name, error_code(exc))


SET_READ_COMMITTED = Statement(f"SET TRANSACTION ISOLATION LEVEL {READ_COMMITTED}")
_FACTORIES: WeakKeyDictionary[Engine, sessionmaker[WriteSession]] = WeakKeyDictionary()


def _sessionmaker(engine: Engine) -> sessionmaker[WriteSession]:
    factory = _FACTORIES.get(engine)
    if factory is None:
        factory = _FACTORIES[engine] = write_sessionmaker(engine)
    return factory


def run_in_transaction(
    engine: Engine,
    unit: Callable[[WriteSession], T],
    *,
    name: str,
    idempotent: bool = False,
    max_attempts: int = 5,
    isolation: str | None = None,
) -> T:
    """Run `unit(session)` and commit; retry on TiDB's retryable errors with jittered backoff."""
    factory = _sessionmaker(engine)
    if isolation not in (None, READ_COMMITTED):
        raise ValueError(f"unsupported isolation {isolation!r}")

    def attempt() -> T:
        with factory() as session:
            try:
                if isolation:
                    SET_READ_COMMITTED.execute(session)
                result = unit(session)
            except BaseException as exc:
                session.rollback()
                if isinstance(exc, MedHTAPError) and exc.keep is not None:
                    _keep(session, name, exc.keep)
                raise
            try:
                session.commit()
            except DBAPIError as exc:
                if error_code(exc) in CONNECTION_CODES:
                    raise _CommitFailed(exc) from exc
                raise
            return result

    def should_retry(exc: BaseException) -> bool:
        if isinstance(exc, _CommitFailed):
            return idempotent
        return is_retryable(exc)

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        code = str(error_code(exc)) if exc else "?"
        TXN_RETRIES.labels(name, code).inc()
        log.warning(
            "retrying %s after TiDB error %s (attempt %d)", name, code, state.attempt_number
        )

    started = time.perf_counter()
    try:
        for try_ in Retrying(
            retry=retry_if_exception(should_retry),
            stop=stop_after_attempt(max_attempts),
            wait=wait_random_exponential(multiplier=0.01, max=0.5),
            before_sleep=before_sleep,
            reraise=True,
        ):
            with try_:
                result = attempt()
        TXN_ATTEMPTS.labels(name, "committed").inc()
        return result
    except _CommitFailed as exc:
        TXN_ATTEMPTS.labels(name, "unknown").inc()
        raise CommitOutcomeUnknown(
            "the database connection failed during commit; the outcome is unknown",
            unit=name,
        ) from exc.cause
    except DBAPIError as exc:
        if is_retryable(exc):
            TXN_ATTEMPTS.labels(name, "exhausted").inc()
            raise ServiceUnavailable(
                f"{name}: database busy after {max_attempts} attempts", tidb_code=error_code(exc)
            ) from exc
        TXN_ATTEMPTS.labels(name, "failed").inc()
        raise
    except BaseException:
        TXN_ATTEMPTS.labels(name, "failed").inc()
        raise
    finally:
        TXN_SECONDS.labels(name).observe(time.perf_counter() - started)
