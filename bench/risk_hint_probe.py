"""A full risk run with and without its join hints, one run, one database (issue 12, not in
./run test).

    MEDHTAP_BENCH_DB=medhtap_bench_analytics .venv/bin/python bench/risk_hint_probe.py

Over the analytics bench's loaded database (bench/analytics_bench.py --keep): each rule
of analytics/risk.py over 90 days, through the analyst account in one snapshot, as
`risk.evaluate` runs it, alternating: as shipped (its /*FULL+ hint*/ markers made hints),
and with the markers removed (the planner's own choice: what ran before). The findings of
both must be equal. Median of --repeat runs per rule and variant.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time

from analytics_bench import DB, read_engine, settings

from medhtap.analytics import risk
from medhtap.analytics.readpath import read_txn


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--days", type=int, default=90)
    a = ap.parse_args()
    ro = read_engine(settings())  # the analyst sessions of the bench (the API's limits)
    to = dt.date.today()
    params = {
        "from": dt.datetime.combine(to - dt.timedelta(days=a.days), dt.time()),
        "to": dt.datetime.combine(to + dt.timedelta(days=1), dt.time()),
    }
    with read_txn(ro) as txn:
        policy = dict(
            txn.query(
                "SELECT param_key, value FROM v_policy_param WHERE admdvs = :r",
                {"r": risk.DEFAULT_REGION},
                kind="probe_policy",
            ).rows
        )
    print(f"date {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC}, database {DB}, {a.days} days")
    print("| rule | hinted | planner's choice | planner / hinted | same findings |")
    print("|---|---|---|---|---|")
    for rule in risk.RULES.values():
        bound = params | {
            n: int(policy[k]) if n in risk.INTEGER_PARAMS else policy[k]
            for n, k in rule.params.items()
        }
        variants = {"hinted": rule.sql, "planner": risk.FULL_HINT.sub("", rule.sql)}
        times: dict[str, list[float]] = {k: [] for k in variants}
        found: dict[str, list[object]] = {}
        for _ in range(a.repeat):
            for name, sql in variants.items():
                stmt, _ = risk.scoped(sql, None)
                with read_txn(ro) as txn:
                    t = time.perf_counter()
                    rows = txn.query(stmt, bound, kind=f"probe_{rule.code}").rows
                    times[name].append(time.perf_counter() - t)
                found[name] = sorted(str(r[0]) for r in rows)
        h, p = (statistics.median(times[k]) for k in ("hinted", "planner"))
        same = found["hinted"] == found["planner"]
        print(f"| {rule.code} | {h:.2f} s | {p:.2f} s | {p / h:.2f}x | {same} |", flush=True)
    ro.dispose()


if __name__ == "__main__":
    main()
