"""What the review costs 2207: settlements/s and p50/p99 with the review rules enabled vs
every rule disabled (the gate then finds no rule in the reference cache and returns), in
the same run.

    .venv/bin/python bench/review_overhead.py --clients 1,8 --seconds 8 --rounds 2

Uses settlement_bench.py's data and driver (4 fee lines per visit, a pool of 2,000
persons) in its own database, medhtap_bench_review. The lines hold a CT and atorvastatin,
so a person drawn twice gets R005 (exam within 7 days) and R006 (supply overlap) warnings:
the enabled runs also write results. Rounds alternate on/off per client count."""

from __future__ import annotations

import argparse
import datetime as dt
import platform as stdlib_platform
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent))

import settlement_bench as sb  # noqa: E402

from medhtap.platform import localdb  # noqa: E402
from medhtap.platform.db import write_engine  # noqa: E402
from medhtap.platform.settings import get_settings  # noqa: E402
from medhtap.services.settlement import reference  # noqa: E402

DB = "medhtap_bench_review"


def set_rules(engine: Any, enabled: bool) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE review_rule SET enabled = :e"), {"e": enabled})
    reference.clear()  # the rules are reference data, cached for a few seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clients", default="1,8")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    sb.DB = DB
    s = get_settings().model_copy(update={"database": DB, "analyst_user": "bench_rev_analyst"})
    localdb.up(s, say=print)
    persons = sb.prepare(s)
    engine = write_engine(s)
    results: dict[tuple[str, int], sb.RunResult] = {}
    clients = [int(c) for c in args.clients.split(",")]
    for n in clients:
        for rnd in range(args.rounds):
            order = ("on", "off") if rnd % 2 == 0 else ("off", "on")
            for mode in order:
                set_rules(engine, mode == "on")
                visits = sb.make_visits(s, persons, int(n * args.seconds * 60) + 200)
                r = sb.drive(mode, n, args.seconds, visits, sb.service_worker(engine))
                key = (mode, n)
                results[key] = results[key].merge(r) if key in results else r
                print(f"  {mode:3s} x{n:<2d} round {rnd}: {r.tps:6.1f}/s p50 {r.pct(0.5):.0f} ms")
    set_rules(engine, True)
    with engine.connect() as conn:
        kept = conn.execute(text("SELECT COUNT(*) FROM review_result")).scalar()
    engine.dispose()
    print(
        f"\n{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {stdlib_platform.machine()}, "
        f"{args.seconds:g} s x {args.rounds} rounds per cell; review results stored: {kept}\n"
    )
    print("| clients | review on | review off | on / off |")
    print("|---|---|---|---|")
    for n in clients:
        on, off = results[("on", n)], results[("off", n)]
        print(
            f"| {n} | {on.tps:.1f}/s, p50 {on.pct(0.5):.0f} ms, p99 {on.pct(0.99):.0f} ms "
            f"| {off.tps:.1f}/s, p50 {off.pct(0.5):.0f} ms, p99 {off.pct(0.99):.0f} ms "
            f"| {on.tps / off.tps:.0%} |"
        )


if __name__ == "__main__":
    main()
