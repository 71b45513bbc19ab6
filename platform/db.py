"""One engine factory for every MedHTAP process, and the session types built on it.

Writes go through `WriteSession` (money paths wrap it in `platform.tx.run_in_transaction`);
analytics get a `ReadSession` bound to the read-only analyst account, so a report cannot
write by accident even if its SQL tried.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pymysql
from sqlalchemy import URL, Engine, create_engine, make_url, text
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
    read_timeout: int = 120,
    pool_timeout: float = 30.0,
) -> Engine:
    s = settings or get_settings()
    variables = {"tidb_txn_mode": f"'{s.txn_mode}'", **(session_vars or {})}
    init = "SET " + ", ".join(f"@@session.{k} = {v}" for k, v in variables.items())
    connect_args: dict[str, Any] = {
        "init_command": init,
        "charset": "utf8mb4",
        "connect_timeout": 10,
        "read_timeout": read_timeout,  # client-side; long analytic benchmarks raise it
        "write_timeout": 120,
    }
    if local_infile:
        connect_args["local_infile"] = True
    return create_engine(
        url,
        pool_size=pool_size or s.pool_size,
        max_overflow=s.max_overflow,
        pool_timeout=pool_timeout,
        pool_recycle=s.pool_recycle_s,
        pool_pre_ping=True,
        connect_args=connect_args,
    )


def write_engine(settings: Settings | None = None) -> Engine:
    s = settings or get_settings()
    # A row lock held elsewhere (an analyst's FOR UPDATE through a view, TiDB #60468) makes
    # a settlement attempt fail after this many seconds instead of TiDB's 50.
    return make_engine(
        s.url(), settings=s, session_vars={"innodb_lock_wait_timeout": s.lock_wait_timeout_s}
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
