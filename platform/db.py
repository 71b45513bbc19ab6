"""One engine factory for every MedHTAP process, and the session types built on it.

Writes go through `WriteSession` (money paths wrap it in `platform.tx.run_in_transaction`);
analytics get a `ReadSession` bound to the read-only analyst account, so a report cannot
write by accident even if its SQL tried.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pymysql
from pymysql.constants import SERVER_STATUS
from sqlalchemy import URL, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from medhtap.platform.settings import Settings, get_settings


class WriteSession(Session):
    """A session that may write (settlement, migrations, seeding)."""


class ReadSession(Session):
    """A session for analytics; its engine logs in as the SELECT-only analyst account."""


def make_engine(
    url: str,
    *,
    settings: Settings | None = None,
    session_vars: dict[str, Any] | None = None,
    pool_size: int | None = None,
    local_infile: bool = False,
    read_timeout: int | None = 120,
    pool_timeout: float = 30.0,
    ping_idle_s: float | None = None,
) -> Engine:
    """ping_idle_s None: the pool pings every connection it hands out (pool_pre_ping).
    A number: it pings only a connection that sat idle in the pool longer than that
    (`ping_when_idle`); engines whose work runs through `platform.tx.run_in_transaction`,
    which re-runs a unit whose connection was lost, use this and save a round trip."""
    s = settings or get_settings()
    variables = {"tidb_txn_mode": f"'{s.txn_mode}'", **(session_vars or {})}
    init = "SET " + ", ".join(f"@@session.{k} = {v}" for k, v in variables.items())
    connect_args: dict[str, Any] = {
        "init_command": init,
        "charset": "utf8mb4",
        "connect_timeout": 10,
        # client-side (None: wait as long as the server works); long analytic benchmarks
        # raise it, migrations drop it
        "read_timeout": read_timeout,
        "write_timeout": 120,
    }
    if local_infile:
        connect_args["local_infile"] = True
    engine = create_engine(
        url,
        pool_size=pool_size or s.pool_size,
        max_overflow=s.max_overflow,
        pool_timeout=pool_timeout,
        pool_recycle=s.pool_recycle_s,
        pool_pre_ping=ping_idle_s is None,
        # with ping_idle_s, `rollback_if_in_transaction` resets connections instead
        pool_reset_on_return="rollback" if ping_idle_s is None else None,
        connect_args=connect_args,
    )
    if ping_idle_s is not None:
        ping_when_idle(engine, ping_idle_s)
        event.listen(engine, "reset", rollback_if_in_transaction)
    return engine


def rollback_if_in_transaction(dbapi_conn: Any, record: Any, reset_state: Any) -> None:
    """The pool's reset of a returned connection, without the round trip when there is
    nothing to reset: a session that committed returns its connection with no transaction
    open, and SQLAlchemy would still send ROLLBACK. The server says in every reply whether
    a transaction is open (SERVER_STATUS_IN_TRANS); roll back only then. Every other way
    out of a unit (an error) rolls back explicitly before the connection is returned."""
    if reset_state.terminate_only:
        return
    if dbapi_conn.server_status & SERVER_STATUS.SERVER_STATUS_IN_TRANS:
        dbapi_conn.rollback()


IDLE_SINCE = "medhtap_idle_since"


def ping_when_idle(engine: Engine, idle_s: float) -> None:
    """Ping a pooled connection on checkout only if it has been idle more than `idle_s`
    seconds (SQLAlchemy's "custom pessimistic ping" recipe, with a condition): a failed ping
    raises DisconnectionError, on which the pool discards the connection and connects anew.

    A connection that dies while it is hot (server-side KILL, restart) is not caught here:
    its next statement fails with a connection error (2006/2013), SQLAlchemy invalidates it,
    and `run_in_transaction` re-runs the whole unit on a fresh connection (tests/integration/
    test_tx.py kills one between two settlements)."""

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_conn: Any, record: Any) -> None:
        record.info[IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        since = record.info.get(IDLE_SINCE)  # None: a new connection, just opened
        if since is not None and time.monotonic() - since > idle_s:
            try:
                dbapi_conn.ping(reconnect=False)
            except pymysql.Error as exc:
                raise DisconnectionError("pooled connection is gone") from exc


def write_engine(settings: Settings | None = None) -> Engine:
    s = settings or get_settings()
    # A row lock held elsewhere (an analyst's FOR UPDATE through a view, TiDB #60468) makes
    # a settlement attempt fail after this many seconds instead of TiDB's 50.
    return make_engine(
        s.url(),
        settings=s,
        session_vars={"innodb_lock_wait_timeout": s.lock_wait_timeout_s},
        ping_idle_s=s.pool_ping_idle_s,
    )


def write_sessionmaker(engine: Engine) -> sessionmaker[WriteSession]:
    return sessionmaker(engine, class_=WriteSession, expire_on_commit=False, autoflush=False)


def read_sessionmaker(engine: Engine) -> sessionmaker[ReadSession]:
    return sessionmaker(engine, class_=ReadSession, expire_on_commit=False, autoflush=False)


def bulk_connection(url: str | URL, **options: Any) -> pymysql.connections.Connection[Any]:
    """A plain pymysql connection for LOAD DATA LOCAL INFILE (the synthetic loader, ingest):
    bulk loads bypass SQLAlchemy. `options` add to or override the defaults."""
    u = make_url(url)
    params: dict[str, Any] = {
        "host": u.host or "127.0.0.1",
        "port": u.port or 4000,
        "user": u.username or "root",
        "password": u.password or "",
        "database": u.database,
        "local_infile": True,
        "charset": "utf8mb4",
    }
    return pymysql.connect(**(params | options))


def ping(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


@contextmanager
def server_connection(settings: Settings | None = None) -> Iterator[Any]:
    """A connection to the server without selecting a database (DDL on databases, probes)."""
    s = settings or get_settings()
    engine = create_engine(s.server_url(), poolclass=None, connect_args={"connect_timeout": 10})
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()
