"""The TiDB transaction helper against real lock conflicts on the real server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import IntegrityError

from medhtap.platform.db import WriteSession, make_engine
from medhtap.platform.metrics import TXN_RETRIES
from medhtap.platform.settings import Settings
from medhtap.platform.tx import CommitOutcomeUnknown, run_in_transaction


@pytest.fixture(scope="module")
def scratch(settings: Settings) -> Iterator[Engine]:
    """A scratch database beside the test database, so the schema stays exactly the models."""
    s = settings.model_copy(update={"database": f"{settings.database}_tx"})
    root = make_engine(s.server_url(), settings=s, pool_size=2)
    with root.begin() as conn:
        conn.execute(text(f"CREATE DATABASE IF NOT EXISTS {s.database}"))
    e = make_engine(s.url(), settings=s, pool_size=4)
    with e.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS acct (id INT PRIMARY KEY, n INT)"))
    yield e
    e.dispose()
    with root.begin() as conn:
        conn.execute(text(f"DROP DATABASE {s.database}"))
    root.dispose()


def _reset(e: Engine) -> None:
    with e.begin() as conn:
        conn.execute(text("DELETE FROM acct"))
        conn.execute(text("INSERT INTO acct VALUES (1, 0), (2, 0)"))


def test_deadlock_victim_is_rerun_whole_and_commits(scratch: Engine) -> None:
    _reset(scratch)
    helper_holds_1 = threading.Event()
    attempts: list[int] = []
    before = TXN_RETRIES.labels("deadlock-test", "1213")._value.get()

    def other() -> None:  # locks 2 then waits for 1: closes the cycle for the helper
        with scratch.connect() as conn:
            conn.execute(text("BEGIN PESSIMISTIC"))
            conn.execute(text("SELECT n FROM acct WHERE id = 2 FOR UPDATE"))
            helper_holds_1.wait(10)
            conn.execute(text("UPDATE acct SET n = n + 10 WHERE id = 1"))
            conn.execute(text("UPDATE acct SET n = n + 10 WHERE id = 2"))
            conn.execute(text("COMMIT"))

    def unit(session: WriteSession) -> int:
        attempts.append(1)
        session.execute(text("SELECT n FROM acct WHERE id = 1 FOR UPDATE"))
        if len(attempts) == 1:
            helper_holds_1.set()
            time.sleep(0.5)  # let the other transaction queue on row 1
        session.execute(text("UPDATE acct SET n = n + 1 WHERE id = 2"))
        session.execute(text("UPDATE acct SET n = n + 1 WHERE id = 1"))
        return len(attempts)

    t = threading.Thread(target=other)
    t.start()
    n = run_in_transaction(scratch, unit, name="deadlock-test")
    t.join(10)
    assert n == 2, "the deadlock victim must be re-run from its first read"
    assert TXN_RETRIES.labels("deadlock-test", "1213")._value.get() == before + 1
    with scratch.connect() as conn:
        assert dict(conn.execute(text("SELECT id, n FROM acct")).all()) == {1: 11, 2: 11}


def test_non_retryable_error_fails_once_and_writes_nothing(scratch: Engine) -> None:
    _reset(scratch)
    attempts: list[int] = []

    def unit(session: WriteSession) -> None:
        attempts.append(1)
        session.execute(text("UPDATE acct SET n = 5 WHERE id = 1"))
        session.execute(text("INSERT INTO acct VALUES (2, 0)"))  # duplicate key 1062

    with pytest.raises(IntegrityError):
        run_in_transaction(scratch, unit, name="dup-test")
    assert attempts == [1]
    with scratch.connect() as conn:
        assert conn.execute(text("SELECT n FROM acct WHERE id = 1")).scalar_one() == 0


def test_connection_lost_at_commit_is_reported_unknown_not_retried(scratch: Engine) -> None:
    _reset(scratch)
    attempts: list[int] = []

    def unit(session: WriteSession) -> None:
        attempts.append(1)
        session.execute(text("UPDATE acct SET n = 7 WHERE id = 1"))
        conn_id = session.execute(text("SELECT CONNECTION_ID()")).scalar_one()

        @event.listens_for(session, "before_commit")
        def _kill(_: WriteSession) -> None:  # the server goes away just before COMMIT
            with scratch.connect() as killer:
                killer.execute(text(f"KILL {int(conn_id)}"))

    with pytest.raises(CommitOutcomeUnknown):
        run_in_transaction(scratch, unit, name="kill-test", idempotent=False)
    assert attempts == [1], "a commit with unknown outcome must not be blindly retried"
    with scratch.connect() as conn:
        assert conn.execute(text("SELECT n FROM acct WHERE id = 1")).scalar_one() == 0
