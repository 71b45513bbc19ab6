"""Load the analytical SQL that lives in analytics/sql/*.sql.

Values are always bound parameters (:from, :to, ...). The only text ever spliced in is a
group-by list chosen from a fixed whitelist (`reports.DIMENSIONS`), at the marked places
/*GROUP_SELECT*/, /*GROUP_BY*/, /*GROUP_KEYS*/ and /*GROUP_OUTER*/.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

SQL_DIR = Path(__file__).resolve().parent / "sql"


@cache
def load(name: str) -> str:
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")


def with_groups(sql: str, *, select: str, group_by: str, keys: str, outer: str = "") -> str:
    for marker, value in (
        ("/*GROUP_SELECT*/", select),
        ("/*GROUP_BY*/", group_by),
        ("/*GROUP_KEYS*/", keys),
        ("/*GROUP_OUTER*/", outer),
    ):
        sql = sql.replace(marker, value)
    return sql
