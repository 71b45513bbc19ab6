"""The settlement hot path (issue 12.4): the write engine pings only idle connections and
sends no ROLLBACK after a COMMIT, yet a connection the server killed never fails a
settlement; one settlement sends no statement the work does not need."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pymysql.connections
import pytest
from sqlalchemy import Engine, text

from medhtap.platform.db import write_engine
from medhtap.platform.settings import Settings
from medhtap.platform.tx import READ_COMMITTED, run_in_transaction
from medhtap.services.auth import Principal
from medhtap.services.settlement import settling
from medhtap.services.settlement.schemas import SettleIn, SettlementOut
from medhtap.services.settlement.units import Caller

from .conftest import EXAMPLE_LINES, Factory

CALLER = Caller(Principal("his"))
COM_PING = 14


def one_connection_engine(settings: Settings, ping_idle_s: float) -> Engine:
    return write_engine(
        settings.model_copy(update={"pool_size": 1, "pool_ping_idle_s": ping_idle_s})
    )


@pytest.fixture(params=[3600.0, 0.0], ids=["not-pinged-retried", "pinged-on-checkout"])
def hot_engine(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Engine]:
    """3600: a killed connection is not pinged (it was used moments ago), so the
    settlement's first statement fails and the helper re-runs it on a new connection.
    0: every checkout counts as idle, so the ping finds it dead and the pool replaces it."""
    e = one_connection_engine(settings, request.param)
    yield e
    e.dispose()


def open_visit(factory: Factory) -> str:
    mdtrt_id = factory.visit(factory.person(balance="500.00"))
    factory.fees(mdtrt_id, EXAMPLE_LINES)
    return mdtrt_id


def settle(engine: Engine, mdtrt_id: str) -> SettlementOut:
    return settling.settle(engine, CALLER, mdtrt_id, uuid.uuid4().hex, SettleIn(use_account=True))


def connection_id(engine: Engine) -> int:
    return int(
        run_in_transaction(
            engine,
            lambda s: s.execute(text("SELECT CONNECTION_ID()")).scalar_one(),
            name="conn-id",
            isolation=READ_COMMITTED,
        )
    )


class TestAPooledConnectionKilledByTheServer:
    def test_the_next_settlement_still_commits(
        self, factory: Factory, hot_engine: Engine, engine: Engine
    ) -> None:
        first, second = open_visit(factory), open_visit(factory)
        settle(hot_engine, first)
        victim = connection_id(hot_engine)
        with engine.connect() as conn:
            conn.execute(text(f"KILL {victim}"))

        out = settle(hot_engine, second)

        assert connection_id(hot_engine) != victim
        assert (
            factory.scalar("SELECT vis_status FROM visit WHERE mdtrt_id = :m", m=second)
            == "settled"
        )
        assert (
            factory.scalar("SELECT COUNT(*) FROM settlement WHERE setl_id = :s", s=out.setl_id) == 1
        )


def sent_by(do: Any) -> list[tuple[int, str]]:
    """The commands pymysql sends from this thread while do() runs: (command, query text).
    (The app's background threads, such as the analyst watchdog, use pymysql meanwhile.)"""
    sent: list[tuple[int, str]] = []
    cls = pymysql.connections.Connection
    original = cls._execute_command
    me = threading.get_ident()

    def recording(self: Any, command: int, sql: Any) -> Any:
        if threading.get_ident() == me:
            q = sql.decode(errors="replace") if isinstance(sql, bytes | bytearray) else str(sql)
            sent.append((command, q))
        return original(self, command, sql)

    cls._execute_command = recording  # type: ignore[method-assign]
    try:
        do()
    finally:
        cls._execute_command = original  # type: ignore[method-assign]
    return sent


class TestOneSettlementOnAWarmConnection:
    def test_sends_no_ping_no_rollback_and_reads_no_catalog_again(
        self, factory: Factory, settings: Settings
    ) -> None:
        e = one_connection_engine(settings, 2.0)
        try:
            warm, visit = open_visit(factory), open_visit(factory)
            settle(e, warm)  # the connection, the reference cache
            sent = sent_by(lambda: settle(e, visit))
        finally:
            e.dispose()
        queries = [q.split()[0].upper() for c, q in sent if c == 3]
        assert COM_PING not in [c for c, _ in sent]
        assert queries[-1] == "COMMIT" and "ROLLBACK" not in queries, sent
        assert not [q for c, q in sent if "FROM catalog_item" in q and "fee_detail" not in q]
        assert not [q for c, q in sent if "FROM policy" in q or "FROM fund_policy" in q]
