"""Top items of the cost report: from the item facts vs from the fee lines, one run, one
database (issue 12, not in ./run test).

    .venv/bin/python bench/top_items_probe.py --visits 100000          # load, then measure
    .venv/bin/python bench/top_items_probe.py --visits 100000 --keep   # measure the loaded rows

Own database `medhtap_bench_items`. For 30 days (the HTAP analyst mix's report with top
items) and 365 days, per group_by: the scan floor (COUNT, SUM over v_setl_fact, same range),
the top items as main computed them before the item facts (LINES_SQL: the period's fee lines
plus a 366-day fee_ocur_time lookback, joined to the standing facts) and as
analytics/sql/cost_top_items.sql computes them now (v_setl_item_fact only), both through the
analyst account; and whether the two answers are equal. Median of --repeat runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, text

from medhtap.analytics import reports, sqlfiles
from medhtap.analytics.synthetic import load_synthetic
from medhtap.platform import migrate
from medhtap.platform.db import make_engine, write_engine
from medhtap.platform.settings import get_settings
from medhtap.schema.seed import seed_reference

SHAPES = (["institution"], ["month", "visit_kind"], ["diagnosis"], ["age_band", "gender"])
FEE_LOOKBACK = dt.timedelta(days=366)
# analytics/sql/cost_top_items.sql as it was on main (a731824), comments left out
LINES_SQL = """
WITH standing AS (
  SELECT /*GROUP_SELECT*/, CONCAT(f.setl_id, '') AS setl_id
  FROM v_setl_fact f
  WHERE f.standing = 1
    AND f.setl_time >= :from
    AND f.setl_time < :to
),
settled_lines AS (
  SELECT fd.setl_id, fd.item_code, fd.det_item_fee_sumamt, fd.cnt
  FROM v_fee_detail fd
  WHERE fd.fee_status = 'settled'
    AND fd.fee_ocur_time >= :fee_from
    AND fd.fee_ocur_time < :to
),
item_lines AS (
  SELECT /*GROUP_KEYS*/, l.item_code,
         SUM(l.det_item_fee_sumamt) AS amount, SUM(l.cnt) AS qty
  FROM standing
  JOIN settled_lines l ON l.setl_id = standing.setl_id
  GROUP BY /*GROUP_KEYS*/, l.item_code
),
ranked AS (
  SELECT item_lines.*,
         ROW_NUMBER() OVER (PARTITION BY /*GROUP_KEYS*/ ORDER BY amount DESC, item_code) AS rn
  FROM item_lines
)
SELECT ranked.*, ci.item_name, ci.item_kind
FROM ranked
JOIN v_catalog_item ci ON ci.item_code = ranked.item_code
WHERE ranked.rn <= 10
ORDER BY /*GROUP_KEYS*/, ranked.rn
"""
FLOOR = (
    "SELECT COUNT(*), SUM(medfee_sumamt) FROM v_setl_fact "
    "WHERE setl_time >= :from AND setl_time < :to"
)
ITEM_FLOOR = (
    "SELECT COUNT(*), SUM(det_item_fee_sumamt) FROM v_setl_item_fact "
    "WHERE setl_time >= :from AND setl_time < :to"
)


def timed(fn: Callable[[], Any], n: int) -> tuple[float, Any]:
    runs, out = [], None
    for _ in range(n):
        t = time.perf_counter()
        out = fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs), out


def query(ro: Engine, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    with ro.connect() as c:
        return [tuple(r) for r in c.execute(text(sql), params).all()]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--visits", type=int, default=100_000)
    ap.add_argument("--keep", action="store_true", help="measure the rows already loaded")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    s = get_settings().model_copy(
        update={
            "database": "medhtap_bench_items",
            "analyst_user": "bench_items_analyst",
            "analyst_max_execution_ms": 600_000,
        }
    )
    if not args.keep:
        migrate.drop_database(s)
        migrate.upgrade(s)
        e = write_engine(s)
        with e.begin() as c:
            seed_reference(c)
        t = time.perf_counter()
        st = load_synthetic(e, visits=args.visits, seed=1, analyze=True)
        print("load", st.as_dict(), "wall", round(time.perf_counter() - t, 1), flush=True)
        e.dispose()
    ro = make_engine(
        s.analyst_url(),
        read_timeout=700,
        settings=s,
        pool_size=2,
        session_vars={"max_execution_time": 600_000, "tidb_mem_quota_query": 4 << 30},
    )
    to = dt.date.today()
    print(
        "| days | group_by | floor | items floor | fee lines (main) | item facts "
        "| x | floor x | same |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for days in (30, 365):
        start, end = reports.period(to - dt.timedelta(days=days), to)
        params = {"from": start, "to": end, "fee_from": start - FEE_LOOKBACK}
        fl, fl_row = timed(lambda p=params: query(ro, FLOOR, p), args.repeat)
        ifl, ifl_row = timed(lambda p=params: query(ro, ITEM_FLOOR, p), args.repeat)
        print(f"<!-- {days} days: facts {fl_row}, item facts {ifl_row} -->", flush=True)
        for dims in SHAPES:
            g = reports._grouping(dims)
            old_sql = sqlfiles.with_groups(
                LINES_SQL, select=g.select, group_by=g.group_by, keys=g.keys
            )
            new_sql = g.sql("cost_top_items")
            old_t, old = timed(lambda q=old_sql, p=params: query(ro, q, p), args.repeat)
            new_t, new = timed(lambda q=new_sql, p=params: query(ro, q, p), args.repeat)
            print(
                f"| {days} | {','.join(dims)} | {fl:.3f} s | {ifl:.3f} s | {old_t:.3f} s "
                f"| {new_t:.3f} s | {old_t / new_t:.1f} | {new_t / fl:.1f} | {old == new} "
                f"({len(new)} rows) |",
                flush=True,
            )
    ro.dispose()


if __name__ == "__main__":
    main()
