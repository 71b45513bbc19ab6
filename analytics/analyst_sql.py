"""POST /v1/sql as a plain function: check the statement, run it as the analyst account."""

from __future__ import annotations

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


def run_analyst_sql(
    read_engine: Engine, sql: str, *, max_rows: int, database: str | None = None
) -> AnalystAnswer:
    checked = sqlguard.check(sql, database=database, max_rows=max_rows)
    log.info("analyst sql tables=%s sql=%s", ",".join(checked.tables), checked.sql)
    with read_txn(read_engine) as txn:
        # exec as a driver string: analyst text is not a SQLAlchemy text() template, so a
        # ':name' inside a string literal must not be taken for a bind parameter.
        result = txn.query_raw(checked.sql, kind="analyst_sql", max_rows=max_rows)
        return AnalystAnswer(result, txn.meta(), checked.sql)
