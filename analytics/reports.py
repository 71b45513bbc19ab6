"""Cost-analysis report (费用分析): plain functions over the read engine, no HTTP.

`cost_report()` runs the SQL in analytics/sql/cost_*.sql in one snapshot: the sums from the
cost rollup plus the facts recorded since it was folded (analytics/rollup.py), or from the
analytic facts (v_setl_fact) for a grouping without a rollup; persons from a base kept
exact by analytics/persons.py; top items from the period's item facts (v_setl_item_fact).
It derives the ratios from exact decimal sums; `to_csv()` / `to_html()` render it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Engine

from medhtap.analytics import persons, rollup, sqlfiles
from medhtap.analytics.formats import jsonable
from medhtap.analytics.formats import to_csv as _csv
from medhtap.analytics.readpath import ReadTxn, read_txn
from medhtap.platform.errors import ValidationFailed

# group_by choice -> (output column, whitelisted SQL expression over the fact f) pairs.
DIMENSIONS: dict[str, list[tuple[str, str]]] = {
    "institution": [("fixmedins_code", "f.fixmedins_code")],
    "institution_level": [("hosp_lv", "f.hosp_lv")],
    "department": [("dept_name", "f.dept_name")],
    "diagnosis": [("main_diag_code", "f.main_diag_code")],
    "diagnosis_chapter": [("diag_chapter", "f.diag_chapter")],
    "insurance_type": [("insutype", "f.insutype")],
    "visit_kind": [("med_type", "f.med_type")],  # national med_type codes 11/14/21/41
    "month": [("month", "DATE_FORMAT(f.setl_time, '%Y-%m')")],
    "age_band": [("age_band", "f.age_band")],
    "gender": [("gend", "f.gend")],
    "region": [("admdvs", "f.admdvs")],
}
# Names looked up once per group after aggregation (output column, expression over group g).
NAMES: dict[str, tuple[str, str]] = {
    "institution": (
        "fixmedins_name",
        "(SELECT i.fixmedins_name FROM v_institution i WHERE i.fixmedins_code = g.fixmedins_code)",
    ),
    "diagnosis": (
        "diag_name",
        "(SELECT d.diag_name FROM v_diagnosis d WHERE d.diag_code = g.main_diag_code)",
    ),
}
SUMS = (
    "medfee_sumamt",
    "hifp_pay",
    "hifob_pay",
    "hifmi_pay",
    "maf_pay",
    "fund_pay_sumamt",
    "acct_pay",
    "psn_cash_pay",
    "psn_part_amt",
    "fee_amt",
    "drug_amt",
    "material_amt",
)
MEASURES = (
    "visits",
    "persons",
    "medfee_sumamt",
    "hifp_pay",
    "hifob_pay",
    "hifmi_pay",
    "maf_pay",
    "fund_pay_sumamt",
    "acct_pay",
    "psn_cash_pay",
    "fund_share",
    "fund_pay_share",
    "avg_cost_per_visit",
    "drug_share",
    "material_share",
    "oop_ratio",
    "avg_inpatient_los",
)
RATIO = Decimal("0.0001")
CENT = Decimal("0.01")


def parse_group_by(raw: str | list[str] | None) -> list[str]:
    items = raw.split(",") if isinstance(raw, str) else (raw or [])
    dims = [d.strip() for d in items if d.strip()] or ["institution"]
    unknown = [d for d in dims if d not in DIMENSIONS]
    if unknown:
        raise ValidationFailed(
            f"unknown group_by {', '.join(unknown)}; choose from {', '.join(DIMENSIONS)}",
            allowed=list(DIMENSIONS),
        )
    return list(dict.fromkeys(dims))


def period(date_from: dt.date, date_to: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """Inclusive dates -> the half-open settlement-time range [from 00:00, to+1 00:00)."""
    if date_to < date_from:
        raise ValidationFailed("'to' is before 'from'")
    start = dt.datetime.combine(date_from, dt.time())
    return start, dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time())


def _div(a: Decimal | int | None, b: Decimal | int | None, q: Decimal = RATIO) -> Decimal | None:
    if a is None or not b:
        return None
    return (Decimal(a) / Decimal(b)).quantize(q, rounding=ROUND_HALF_UP)


def derive(row: dict[str, Any]) -> dict[str, Any]:
    """The report's ratios, from the exact sums of one group (or of the total)."""
    med = row["medfee_sumamt"]
    return {
        "fund_share": _div(row["hifp_pay"], med),  # the basic pooled fund's share
        "fund_pay_share": _div(row["fund_pay_sumamt"], med),  # every fund's share
        "avg_cost_per_visit": _div(med, row["visits"], CENT),
        "drug_share": _div(row["drug_amt"], row["fee_amt"]),
        "material_share": _div(row["material_amt"], row["fee_amt"]),
        # the person's burden (account + cash) over the total: 个人负担比例
        "oop_ratio": _div(row["psn_part_amt"], med),
        "avg_inpatient_los": _div(row["inpatient_days"], row["inpatient_visits"], CENT),
    }


@dataclass
class CostReport:
    date_from: dt.date
    date_to: dt.date
    group_by: list[str]
    key_columns: list[str]
    groups: list[dict[str, Any]]
    totals: dict[str, Any]
    trend: list[dict[str, Any]] | None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        return [*self.key_columns, *MEASURES]

    def label(self, group: dict[str, Any]) -> str:
        return " / ".join(str(group[k]) for k in self.key_columns)

    def as_json(self) -> dict[str, Any]:
        def clean(d: dict[str, Any]) -> dict[str, Any]:
            return {k: jsonable(v) for k, v in d.items() if k != "top_items"} | (
                {"top_items": [{k: jsonable(v) for k, v in t.items()} for t in d["top_items"]]}
                if "top_items" in d
                else {}
            )

        return {
            "from": self.date_from.isoformat(),
            "to": self.date_to.isoformat(),
            "group_by": self.group_by,
            "columns": self.columns,
            "groups": [clean(g) for g in self.groups],
            "totals": clean(self.totals),
            "trend": [clean(t) for t in self.trend] if self.trend is not None else None,
            **self.meta,
        }


@dataclass(frozen=True)
class Grouping:
    select: str  # inner: expressions over the fact f, with their output names
    rollup_select: str  # the same over the rollup row r
    group_by: str  # inner: the expressions over f
    keys: str  # the output names, for grouping the inner result
    outer: str  # the output names and the looked-up names, in output order
    columns: list[str]  # output order, names included
    codes: list[str]  # the columns that identify a group

    def sql(self, name: str) -> str:
        sql = sqlfiles.load(name)
        if "/*ROLLUP_SELECT*/" in sql:
            sql = sqlfiles.fill(sql, ROLLUP_SELECT=self.rollup_select)
        return sqlfiles.with_groups(
            sql, select=self.select, group_by=self.group_by, keys=self.keys, outer=self.outer
        )


def _over_rollup(alias: str, expr: str) -> str:
    # the rollup keeps the fact columns of its keys, and the day instead of setl_time
    if alias == "month":
        return "DATE_FORMAT(r.setl_day, '%Y-%m')"
    return expr.replace("f.", "r.")


def _grouping(dims: list[str]) -> Grouping:
    pairs = [p for d in dims for p in DIMENSIONS[d]]
    outer: list[tuple[str, str]] = []
    for d in dims:
        outer += [(alias, f"g.{alias}") for alias, _ in DIMENSIONS[d]]
        if d in NAMES:
            outer.append(NAMES[d])
    return Grouping(
        select=", ".join(f"{expr} AS {alias}" for alias, expr in pairs),
        rollup_select=", ".join(f"{_over_rollup(alias, expr)} AS {alias}" for alias, expr in pairs),
        group_by=", ".join(expr for _, expr in pairs),
        keys=", ".join(alias for alias, _ in pairs),
        outer=", ".join(f"{expr} AS {alias}" for alias, expr in outer),
        columns=[alias for alias, _ in outer],
        codes=[alias for alias, _ in pairs],
    )


COUNTS = ("visits", "persons", "inpatient_visits", "inpatient_days")
ROLLUP_STATE = "SELECT folded_to FROM v_rollup_state WHERE dims = :dims"
# A tail longer than this (the worker has stopped or is far behind) is read faster as a
# scan of the period's facts than through the recorded_at index.
TAIL_MAX = 50_000


def _finish(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # counts are sums of signs in SQL (DECIMAL): make them integers again; every line has
    # one of the three item kinds, so their sum is the fee total the shares divide by
    rows = [r | {"fee_amt": r["drug_amt"] + r["material_amt"] + r["service_amt"]} for r in rows]
    return [r | {k: int(r.get(k) or 0) for k in COUNTS} | derive(r) for r in rows]


def _totals(groups: list[dict[str, Any]]) -> dict[str, Any]:
    sums: dict[str, Any] = {k: sum((g[k] for g in groups), Decimal(0)) for k in SUMS}
    for k in ("visits", "inpatient_visits", "inpatient_days"):
        sums[k] = sum(int(g[k] or 0) for g in groups)
    sums["persons"] = None  # a person can fall into several groups: not additive
    latest = [g["latest_setl_time"] for g in groups if g["latest_setl_time"]]
    sums["latest_setl_time"] = max(latest) if latest else None
    return sums | derive(sums)


def _sums(
    txn: ReadTxn,
    grouping: Grouping,
    dims: str | None,
    params: dict[str, Any],
    kind: str,
    missing: Callable[[str], None] | None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The groups' sums, from the rollup plus its tail where the grouping has one, else
    from the facts; and where they came from (the answer's `source`)."""
    folded_to = None
    if dims is not None:
        state = txn.query(ROLLUP_STATE, {"dims": dims}, kind="rollup_state").rows
        folded_to = state[0][0] if state else None
        if not state and missing is not None:
            missing(dims)  # the worker builds it; this answer is read from the facts
    tail: int | None = None
    if folded_to is not None:
        counted = txn.query(
            sqlfiles.load("rollup_tail"), {"folded_to": folded_to}, kind="rollup_tail"
        )
        tail = int(counted.rows[0][0])
    if folded_to is None or tail is None or tail > TAIL_MAX:
        rows = txn.query(grouping.sql("cost_report"), params, kind=kind).records()
        at = folded_to.isoformat() if folded_to else None
        return rows, {"from": "facts", "rollup": dims, "folded_to": at, "tail_facts": tail}
    days = {"from_day": params["from"].date(), "to_day": params["to"].date()}
    rows = txn.query(
        grouping.sql("cost_rollup"),
        params | days | {"dims": dims, "folded_to": folded_to},
        kind=kind,
    ).records()
    return rows, {
        "from": "rollup+tail",
        "rollup": dims,
        "folded_to": folded_to.isoformat(),
        "tail_facts": tail,
    }


def _with_persons(
    txn: ReadTxn,
    grouping: Grouping,
    params: dict[str, Any],
    rows: list[dict[str, Any]],
    source: dict[str, Any],
    database: str,
) -> None:
    """Each group's persons, kept from a base where the sums came from the rollup (its
    watermark bounds the base, analytics/persons.py), else counted from the facts."""
    folded_to = source.get("folded_to") if source["from"] == "rollup+tail" else None
    counted, how = persons.count(
        txn, grouping, params, database, dt.datetime.fromisoformat(folded_to) if folded_to else None
    )
    source["persons"] = how
    for r in rows:
        r["persons"] = counted.get(tuple(r[k] for k in grouping.codes), 0)


def cost_report(
    read_engine: Engine,
    date_from: dt.date,
    date_to: dt.date,
    group_by: list[str],
    *,
    trend: bool = False,
    top_items: bool = True,
    on_missing_rollup: Callable[[str], None] | None = None,
) -> CostReport:
    """`on_missing_rollup(dims)` is called when the grouping could have a rollup and has
    none yet (the API registers it for the worker)."""
    start, end = period(date_from, date_to)
    params = {"from": start, "to": end}
    grouping = _grouping(group_by)
    with read_txn(read_engine) as txn:
        rows, source = _sums(
            txn, grouping, rollup.dims_of(group_by), params, "cost_report", on_missing_rollup
        )
        _with_persons(txn, grouping, params, rows, source, str(read_engine.url))
        groups = _finish(rows)
        if top_items:
            by_group: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
            top = txn.query(grouping.sql("cost_top_items"), params, kind="cost_top_items")
            for r in top.records():
                key = tuple(r[k] for k in grouping.codes)
                by_group.setdefault(key, []).append(
                    {k: r[k] for k in ("item_code", "item_name", "item_kind", "amount", "qty")}
                )
            for g in groups:
                g["top_items"] = by_group.get(tuple(g[k] for k in grouping.codes), [])
        months: list[dict[str, Any]] | None = None
        if trend:
            m_grouping = _grouping(["month"])
            m_rows, m_source = _sums(
                txn, m_grouping, rollup.dims_of(["month"]), params, "cost_trend", None
            )
            _with_persons(txn, m_grouping, params, m_rows, m_source, str(read_engine.url))
            months = _finish(m_rows)
        meta = txn.meta() | {"source": source}
    totals = _totals(groups)
    latest = totals["latest_setl_time"]
    snap = meta["snapshot"]
    if latest is not None:
        # freshness: how far the newest settlement in the answer is behind the snapshot
        lag = dt.datetime.fromisoformat(snap["read_at_local"]) - latest
        snap["newest_setl_time"] = latest.isoformat()
        snap["newest_setl_age_s"] = round(lag.total_seconds(), 3)
    return CostReport(date_from, date_to, group_by, grouping.columns, groups, totals, months, meta)


def to_csv(report: CostReport) -> str:
    cols = [*report.columns, "top_items"]
    rows = [
        [g.get(c) for c in report.columns]
        + ["; ".join(f"{t['item_name']} ({t['amount']})" for t in g.get("top_items", []))]
        for g in report.groups
    ]
    return _csv(cols, rows)
