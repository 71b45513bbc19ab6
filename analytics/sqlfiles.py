"""Load the analytical SQL that lives in analytics/sql/*.sql.

Values are always bound parameters (:from, :to, ...). The only text ever spliced in is a
group-by list chosen from a fixed whitelist (`reports.DIMENSIONS`), at the marked places
/*GROUP_SELECT*/, /*GROUP_BY*/, /*GROUP_KEYS*/ and /*GROUP_OUTER*/ (or, with `fill`, any
/*NAME*/ marker of a file).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

SQL_DIR = Path(__file__).resolve().parent / "sql"


@cache
def load(name: str) -> str:
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")


def fill(sql: str, **markers: str) -> str:
    """Replace each /*NAME*/ marker with its text (whitelisted SQL only, never values)."""
    for name, value in markers.items():
        marker = f"/*{name}*/"
        if marker not in sql:
            raise ValueError(f"no {marker} in the SQL")
        sql = sql.replace(marker, value)
    return sql


def with_groups(sql: str, *, select: str, group_by: str, keys: str, outer: str = "") -> str:
    markers = {"GROUP_SELECT": select, "GROUP_BY": group_by, "GROUP_KEYS": keys}
    if outer:
        markers["GROUP_OUTER"] = outer
    return fill(sql, **{k: v for k, v in markers.items() if f"/*{k}*/" in sql})
