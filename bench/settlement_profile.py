"""Where one settlement's Python time goes: CPU per settlement, service vs raw pymysql.

    .venv/bin/python bench/settlement_profile.py --n 300 [--top 25] [--profile] [--trace]
    .venv/bin/python bench/settlement_profile.py --trace-only

Settles n pre-built visits one after another (one client, so the numbers are CPU cost, not
contention), first with the same SQL over raw pymysql, then through the service in-process
(settlement_bench.py's two paths, its database and data). time.process_time() counts only
this Python process: tidb-server's work is not in it. --profile adds a cProfile of the
service path, timed by the same CPU clock (so waiting for TiDB's answers counts as nothing):
top functions by own time and by cumulative time. --trace lists the round
trips of one settlement on each path (every command pymysql sends: queries, COMMIT, pings;
the reviewed settlement of a person with earlier same-day visits, so the review gate's
statements are in it) and says whether the two lists are the same statements, values
aside; --trace-only does that without the timed runs.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import difflib
import io
import pstats
import re
import time
from collections.abc import Callable
from typing import Any

import pymysql.connections
import settlement_bench as sb

from medhtap.platform.db import write_engine


def run(do: Callable[[str], None], visits: list[str]) -> tuple[float, float]:
    """(CPU ms, wall ms) per settlement."""
    cpu, wall = time.process_time(), time.perf_counter()
    for v in visits:
        do(v)
    n = len(visits)
    return (time.process_time() - cpu) * 1000 / n, (time.perf_counter() - wall) * 1000 / n


def trace(do: Callable[[str], None], visit: str) -> list[str]:
    """The commands pymysql sends while `do(visit)` runs (COM_QUERY: its full text)."""
    sent: list[str] = []
    conn_cls = pymysql.connections.Connection
    original = conn_cls._execute_command  # type: ignore[attr-defined]

    def recording(self: Any, command: int, sql: Any) -> Any:
        text = sql.decode(errors="replace") if isinstance(sql, bytes | bytearray) else str(sql)
        sent.append(" ".join(text.split()) if command == 3 else f"command {command}")
        return original(self, command, sql)

    conn_cls._execute_command = recording  # type: ignore[attr-defined]
    try:
        do(visit)
    finally:
        conn_cls._execute_command = original  # type: ignore[attr-defined]
    return sent


LITERAL = re.compile(r"'(?:[^'\\]|\\.)*'|\b\d+(?:\.\d+)?\b|\bNULL\b")


def shape(command: str) -> str:
    """A command without its values (strings, numbers, NULL -> ?): what two settlements of
    the same kind of visit share."""
    return LITERAL.sub("?", command)


def traces(
    s: Any, persons: list[str], raw: Callable[[str], None], svc: Callable[[str], None]
) -> None:
    """One settlement's round trips on each path, and whether they are the same statements.

    Both traced visits belong to one person, and each path first settles one of that
    person's visits untraced: both traced settlements then meet the same review hits (R005,
    R006 on the earlier same-day visits: one upsert of two results) and a warm reference
    cache, so the two lists can be compared statement for statement."""
    v = sb.make_visits(s, persons[:1], 4)
    sent = {}
    for label, do, primer, traced in (
        ("raw pymysql", raw, v[0], v[1]),
        ("service", svc, v[2], v[3]),
    ):
        do(primer)
        sent[label] = trace(do, traced)
        print(f"\n--- round trips of one settlement, {label}: {len(sent[label])} ---")
        print("\n".join(f"{i + 1:3d} {t[:110]}" for i, t in enumerate(sent[label])))
    a, b = ([shape(t) for t in x] for x in sent.values())
    if a == b:
        print(f"\ntraces match statement for statement ({len(a)} round trips, values aside)")
        return
    print("\ntraces DIFFER (values aside):")
    print("\n".join(difflib.unified_diff(a, b, "raw pymysql", "service", lineterm="", n=1)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--trace", action="store_true", help="round trips of one settlement")
    ap.add_argument("--trace-only", action="store_true", help="--trace without the timed runs")
    args = ap.parse_args()

    s = sb.settings()
    persons = sb.prepare(s)
    engine = write_engine(s)
    raw, svc = sb.raw_worker(s)(), sb.service_worker(engine)()
    if args.trace_only:
        traces(s, persons, raw, svc)
        engine.dispose()
        return
    warm = sb.make_visits(s, persons, 40)
    raw_v, svc_v, prof_v = (sb.make_visits(s, persons, args.n) for _ in range(3))

    run(raw, warm[:20])  # connections, statement caches, imports
    run(svc, warm[20:])
    raw_cpu, raw_wall = run(raw, raw_v)
    svc_cpu, svc_wall = run(svc, svc_v)

    info = sb.machine(s)
    print(f"\n{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC · {info['machine']}")
    print(f"TiDB {info['tidb']} · load average {info['load']}")
    print(f"{args.n} settlements, 1 client, 4 fee lines each\n")
    print("| path | Python CPU / settlement | wall / settlement |")
    print("|---|---|---|")
    print(f"| raw pymysql | {raw_cpu:.1f} ms | {raw_wall:.1f} ms |")
    print(f"| service (in-process) | {svc_cpu:.1f} ms | {svc_wall:.1f} ms |")
    print(f"| service - raw | {svc_cpu - raw_cpu:.1f} ms | {svc_wall - raw_wall:.1f} ms |")

    if args.trace:
        traces(s, persons, raw, svc)

    if args.profile:
        prof = cProfile.Profile(time.process_time)  # CPU of this process, not waits on TiDB
        prof.enable()
        run(svc, prof_v)
        prof.disable()
        for key in ("tottime", "cumulative"):
            out = io.StringIO()
            stats = pstats.Stats(prof, stream=out).strip_dirs().sort_stats(key)
            stats.print_stats(args.top)
            print(f"\n--- service path, by {key}, {args.n} settlements ---")
            print(out.getvalue().split("\n", 4)[-1])
    engine.dispose()


if __name__ == "__main__":
    main()
