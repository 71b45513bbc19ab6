"""Review violations (事前事中审核) by rule and by institution: what analysts count.

`review_violations()` runs analytics/sql/review_violations.sql (one row per rule and
institution) in one snapshot through the analyst views, and adds the rows up by rule and by
institution in Python, with exact decimal sums."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine

from medhtap.analytics import sqlfiles
from medhtap.analytics.formats import jsonable
from medhtap.analytics.readpath import read_txn

COUNTS = (
    "results",
    "forbidden",
    "warnings",
    "pre_prescription",
    "continued",
    "changed",
    "unhandled",
)


def _totals(rows: Iterable[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        t = out.setdefault(
            r[key], {key: r[key], **dict.fromkeys(COUNTS, 0), "vola_amt": Decimal("0.00")}
        )
        if key == "rule_id":
            t["rule_name"] = r["rule_name"]
        for c in COUNTS:
            t[c] += r[c]
        t["vola_amt"] += Decimal(r["vola_amt"] or 0)
    return sorted(out.values(), key=lambda t: (-t["results"], t[key]))


def review_violations(read_engine: Engine, date_from: dt.date, date_to: dt.date) -> dict[str, Any]:
    """Results first seen from `date_from` to `date_to` (inclusive days)."""
    params = {
        "from": dt.datetime.combine(date_from, dt.time()),
        "to": dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time()),
    }
    with read_txn(read_engine) as txn:
        result = txn.query(sqlfiles.load("review_violations"), params, kind="review_violations")
        meta = txn.meta()
    rows = result.records()
    for r in rows:  # SUM() of a count is a DECIMAL in TiDB: counts are integers here
        r.update({c: int(r[c] or 0) for c in (*COUNTS, "visits", "persons")})
        r["vola_amt"] = Decimal(r["vola_amt"] or 0)
    by_rule, by_inst = _totals(rows, "rule_id"), _totals(rows, "fixmedins_code")

    def js(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: jsonable(v) for k, v in i.items()} for i in items]

    return {
        "from": date_from.isoformat(),
        "to": date_to.isoformat(),
        "by_rule_and_institution": js(rows),
        "by_rule": js(by_rule),
        "by_institution": js(by_inst),
        **meta,
    }
