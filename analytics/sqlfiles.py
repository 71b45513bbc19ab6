"""Load the analytical SQL that lives in analytics/sql/*.sql.

Values are always bound parameters (:from, :to, ...). The only text ever spliced in is a
group-by list chosen from a fixed whitelist (`reports.DIMENSIONS`), at the marked places
/*GROUP_SELECT*/, /*GROUP_BY*/ and /*GROUP_KEYS*/,
and the shared settlement scope at /*SCOPE*/.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

SQL_DIR = Path(__file__).resolve().parent / "sql"


@cache
def load(name: str) -> str:
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")


def with_groups(sql: str, *, select: str, group_by: str, keys: str) -> str:
    for marker, value in (
        ("/*SCOPE*/", load("cost_scope").strip()),
        ("/*GROUP_SELECT*/", select),
        ("/*GROUP_BY*/", group_by),
        ("/*GROUP_KEYS*/", keys),
    ):
        sql = sql.replace(marker, value)
    return sql
