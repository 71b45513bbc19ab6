"""POST /v1/sql as a plain function: check the statement, run it as the analyst account."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from medhtap.analytics import sqlguard
from medhtap.analytics.formats import jsonable
from medhtap.analytics.readpath import QueryResult, read_txn

log = logging.getLogger("medhtap.analytics.sql")


@dataclass
class AnalystAnswer:
    result: QueryResult
    meta: dict[str, Any]
    executed_sql: str

    def as_json(self) -> dict[str, Any]:
        return {
            "columns": self.result.columns,
            "rows": [[jsonable(v) for v in r] for r in self.result.rows],
            "row_count": len(self.result.rows),
            "truncated": self.result.truncated,
            "executed_sql": self.executed_sql,
            **self.meta,
        }


def sql_fingerprint(sql: str) -> str:
    return hashlib.sha256(sql.encode()).hexdigest()[:16]


def run_analyst_sql(
    read_engine: Engine, sql: str, *, max_rows: int, database: str | None = None
) -> AnalystAnswer:
    checked = sqlguard.check(sql, database=database, max_rows=max_rows)
    # The text may hold personal data in its literals (a name, an id-card number): the log
    # gets a fingerprint to correlate requests, never the statement.
    log.info(
        "analyst sql tables=%s sha256=%s chars=%d",
        ",".join(checked.tables),
        sql_fingerprint(checked.sql),
        len(checked.sql),
    )
    with read_txn(read_engine) as txn:
        # exec as a driver string: analyst text is not a SQLAlchemy text() template, so a
        # ':name' inside a string literal must not be taken for a bind parameter.
        result = txn.query_raw(checked.sql, kind="analyst_sql", max_rows=max_rows)
        return AnalystAnswer(result, txn.meta(), checked.sql)
