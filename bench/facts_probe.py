"""Cost report on the analytic facts vs the scan floor, one run (issue 12, not in ./run test).

    .venv/bin/python bench/facts_probe.py --visits 100000          # load, then measure
    .venv/bin/python bench/facts_probe.py --visits 100000 --keep   # measure the loaded rows

Own database `medhtap_bench_facts`. Prints: load time, the scan floor (COUNT, SUM over the
same facts and range), the cost report per group_by through the analytics path (analyst
account, snapshot, plan read-back) with its ratio to the floor, top-10 items, each risk rule
over 90 days, and EXPLAIN ANALYZE of the report by institution (as root).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects import mysql

from medhtap.analytics import reports, risk
from medhtap.analytics.synthetic import load_synthetic
from medhtap.platform import migrate
from medhtap.platform.db import make_engine, write_engine
from medhtap.platform.settings import get_settings
from medhtap.schema.seed import seed_reference

SHAPES = (["institution"], ["month", "visit_kind"], ["diagnosis"], ["age_band", "gender"])


def timed(fn: Callable[[], Any], n: int = 3) -> float:
    runs = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--visits", type=int, default=100_000)
    ap.add_argument("--keep", action="store_true", help="measure the rows already loaded")
    args = ap.parse_args()
    s = get_settings().model_copy(
        update={
            "database": "medhtap_bench_facts",
            "analyst_user": "bench_facts_analyst",
            "analyst_max_execution_ms": 600_000,
        }
    )
    if not args.keep:
        migrate.drop_database(s)
        migrate.upgrade(s)
    e = write_engine(s)
    if not args.keep:
        with e.begin() as c:
            seed_reference(c)
        t = time.perf_counter()
        st = load_synthetic(e, visits=args.visits, seed=1, analyze=True)
        print("load", st.as_dict(), "wall", round(time.perf_counter() - t, 1), flush=True)
    ro = make_engine(
        s.analyst_url(),
        read_timeout=700,
        settings=s,
        pool_size=2,
        session_vars={"max_execution_time": 600_000, "tidb_mem_quota_query": 4 << 30},
    )
    to = dt.date.today()
    frm = to - dt.timedelta(days=365)
    start, end = reports.period(frm, to)
    params = {"from": start, "to": end}
    floor_sql = text(
        "SELECT COUNT(*), SUM(medfee_sumamt) FROM v_setl_fact "
        "WHERE setl_time >= :from AND setl_time < :to"
    )

    def floor() -> Any:
        with ro.connect() as c:
            return c.execute(floor_sql, params).one()

    fl = timed(floor)
    print(f"scan floor (COUNT, SUM over v_setl_fact, 365 days): {fl:.3f} s", floor(), flush=True)
    for dims in SHAPES:
        t = timed(lambda dims=dims: reports.cost_report(ro, frm, to, dims, top_items=False))
        print(f"cost report by {dims}: {t:.3f} s, {t / fl:.1f}x the floor", flush=True)
    t = timed(lambda: reports.cost_report(ro, frm, to, ["institution"], top_items=True), 1)
    print(f"cost report by institution + top-10 items: {t:.3f} s", flush=True)
    for rule in risk.RULES.values():
        t = timed(lambda rule=rule: risk.evaluate(ro, to - dt.timedelta(days=90), to, [rule]), 1)
        print(f"rule {rule.code} (90 days): {t:.3f} s", flush=True)
    sql = reports._grouping(["institution"]).sql("cost_report")
    stmt = str(
        text(sql)
        .bindparams(**params)
        .compile(dialect=mysql.dialect(), compile_kwargs={"literal_binds": True})
    )
    with e.connect() as c:
        print("EXPLAIN ANALYZE cost report by institution, 365 days:")
        # the statement carries literal times ("00:00:00"): not text(), which binds ":00"
        for row in c.exec_driver_sql("EXPLAIN ANALYZE " + stmt).all():
            print(" | ".join(str(x)[:160] for x in (row[0], row[2], row[3], row[5], row[7])))


if __name__ == "__main__":
    main()
