"""Statements of a hot path written once as driver SQL (pymysql, %s parameters) and run on
the session's own DBAPI connection, inside the session's transaction.

Why: on the settlement path SQLAlchemy's per-call work (execution context, compiled-cache
lookup, parameter processing, result metadata) cost more Python CPU than the rest of the
settlement (bench/settlement_profile.py). A `Statement` is plain text, built once at import;
running it is a pymysql cursor call. The transaction is still the session's (platform/tx.py
owns it): the statement goes over the same connection the session began, before the
session's COMMIT.

Errors are raised as SQLAlchemy's `DBAPIError` family (IntegrityError, OperationalError, ...)
with the pymysql error as `.orig`, exactly as a `session.execute` would raise them, so the
retry helper and the callers' `except IntegrityError` see no difference; a lost connection
invalidates the session's connection, so the pool never hands it out again.

Parameters are positional and already in the driver's types: Decimal, str, int, datetime,
None; JSON columns take a JSON string (`json_param`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import pymysql
from sqlalchemy import Connection, Table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session


def _driver(session: Session) -> tuple[Connection, Any]:
    conn = session.connection()  # the session's transaction (begun if not yet)
    return conn, conn.connection.driver_connection


def _translate(conn: Connection, sql: str, params: Any, exc: pymysql.Error, cur: Any) -> Exception:
    lost = conn.dialect.is_disconnect(exc, conn.connection.dbapi_connection, cur)  # type: ignore[arg-type]
    if lost:
        conn.invalidate(exc)
    return DBAPIError.instance(
        sql, params, exc, pymysql.Error, connection_invalidated=lost, dialect=conn.dialect
    )


class Statement:
    """One SQL text with %s parameters."""

    __slots__ = ("sql",)

    def __init__(self, sql: str) -> None:
        self.sql = " ".join(sql.split())

    def execute(self, session: Session, params: Sequence[Any] = ()) -> int:
        """Run it; the number of rows it changed."""
        conn, dbapi = _driver(session)
        cur = dbapi.cursor()
        try:
            return int(cur.execute(self.sql, params))
        except pymysql.Error as exc:
            raise _translate(conn, self.sql, params, exc, cur) from exc
        finally:
            cur.close()

    def execute_many(self, session: Session, rows: Sequence[Sequence[Any]]) -> int:
        """An INSERT ... VALUES (%s, ...) for many rows: pymysql sends one multi-row INSERT."""
        if len(rows) <= 1:
            return self.execute(session, rows[0]) if rows else 0
        conn, dbapi = _driver(session)
        cur = dbapi.cursor()
        try:
            return int(cur.executemany(self.sql, rows))
        except pymysql.Error as exc:
            raise _translate(conn, self.sql, rows, exc, cur) from exc
        finally:
            cur.close()


class Query(Statement):
    """A SELECT whose rows come back as `row_type` (a NamedTuple of its columns, in order)."""

    __slots__ = ("row_type",)

    def __init__(self, sql: str, row_type: type[NamedTuple] | None = None) -> None:
        super().__init__(sql)
        self.row_type = row_type

    def all(self, session: Session, params: Sequence[Any] = ()) -> list[Any]:
        conn, dbapi = _driver(session)
        cur = dbapi.cursor()
        try:
            cur.execute(self.sql, params)
            rows = cur.fetchall()
        except pymysql.Error as exc:
            raise _translate(conn, self.sql, params, exc, cur) from exc
        finally:
            cur.close()
        make = self.row_type
        return [make._make(r) for r in rows] if make else list(rows)

    def first(self, session: Session, params: Sequence[Any] = ()) -> Any | None:
        rows = self.all(session, params)
        return rows[0] if rows else None


class Insert(Statement):
    """INSERT INTO table (columns) VALUES (%s, ...); `params(values)` orders a row's values
    by the columns and fills a missing one with its column's scalar Python default, as a
    SQLAlchemy insert of that dict would."""

    __slots__ = ("columns", "defaults")

    def __init__(self, table: Table, columns: Sequence[str]) -> None:
        cols = [table.c[name] for name in columns]  # KeyError on a misspelt column
        marks = ", ".join("%s" for _ in cols)
        super().__init__(f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})")
        self.columns = tuple(columns)
        self.defaults: dict[str, Any] = {}
        for c in cols:
            if c.default is not None:
                if not c.default.is_scalar:
                    raise ValueError(f"{table.name}.{c.name}: only scalar defaults are filled")
                self.defaults[c.name] = c.default.arg  # type: ignore[attr-defined]

    def params(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        d = self.defaults
        return tuple(values[k] if k in values else d.get(k) for k in self.columns)

    def insert(self, session: Session, values: Mapping[str, Any]) -> int:
        return self.execute(session, self.params(values))

    def insert_many(self, session: Session, rows: Sequence[Mapping[str, Any]]) -> int:
        return self.execute_many(session, [self.params(r) for r in rows])


_BY_KEYS: dict[tuple[str, tuple[str, ...]], Insert] = {}


def insert_of(table: Table, keys: Sequence[str]) -> Insert:
    """The Insert of rows with these keys (built once per table and key set): the keys, plus
    the columns with a scalar Python default, as SQLAlchemy's insert(table) of such dicts."""
    cache_key = (table.name, tuple(keys))
    stmt = _BY_KEYS.get(cache_key)
    if stmt is None:
        extra = [
            c.name
            for c in table.columns
            if c.name not in keys and c.default is not None and c.default.is_scalar
        ]
        stmt = _BY_KEYS[cache_key] = Insert(table, [*keys, *extra])
    return stmt


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert dict rows that share their keys: one (multi-row) INSERT."""
    if not rows:
        return 0
    return insert_of(table, list(rows[0])).insert_many(session, rows)


def json_param(value: Any) -> str:
    """A JSON column's parameter, as SQLAlchemy's JSON type writes it (json.dumps)."""
    return json.dumps(value)
