"""Where one settlement's Python time goes: CPU per settlement, service vs raw pymysql.

    .venv/bin/python bench/settlement_profile.py --n 300 [--top 25] [--profile] [--trace]

Settles n pre-built visits one after another (one client, so the numbers are CPU cost, not
contention), first with the same SQL over raw pymysql, then through the service in-process
(settlement_bench.py's two paths, its database and data). time.process_time() counts only
this Python process: tidb-server's work is not in it. --profile adds a cProfile of the
service path, timed by the same CPU clock (so waiting for TiDB's answers counts as nothing):
top functions by own time and by cumulative time. --trace lists the round
trips of one settlement on each path (every command pymysql sends: queries, COMMIT, pings).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import pstats
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
    """The commands pymysql sends while `do(visit)` runs (COM_QUERY text cut to 90 chars)."""
    sent: list[str] = []
    conn_cls = pymysql.connections.Connection
    original = conn_cls._execute_command

    def recording(self: Any, command: int, sql: Any) -> Any:
        text = sql.decode(errors="replace") if isinstance(sql, bytes | bytearray) else str(sql)
        sent.append(" ".join(text.split())[:90] if command == 3 else f"command {command}")
        return original(self, command, sql)

    conn_cls._execute_command = recording  # type: ignore[method-assign]
    try:
        do(visit)
    finally:
        conn_cls._execute_command = original  # type: ignore[method-assign]
    return sent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--trace", action="store_true", help="round trips of one settlement")
    args = ap.parse_args()

    s = sb.settings()
    persons = sb.prepare(s)
    engine = write_engine(s)
    warm = sb.make_visits(s, persons, 40)
    spare = sb.make_visits(s, persons, 2)
    raw_v, svc_v, prof_v = (sb.make_visits(s, persons, args.n) for _ in range(3))

    raw, svc = sb.raw_worker(s)(), sb.service_worker(engine)()
    run(raw, warm[:20])  # connections, statement caches, imports
    run(svc, warm[20:])
    raw_cpu, raw_wall = run(raw, raw_v)
    svc_cpu, svc_wall = run(svc, svc_v)

    info = sb.machine(s)
    print(f"\n{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC · {info['machine']}")
    print(f"TiDB {info['tidb']} · {args.n} settlements, 1 client, 4 fee lines each\n")
    print("| path | Python CPU / settlement | wall / settlement |")
    print("|---|---|---|")
    print(f"| raw pymysql | {raw_cpu:.1f} ms | {raw_wall:.1f} ms |")
    print(f"| service (in-process) | {svc_cpu:.1f} ms | {svc_wall:.1f} ms |")
    print(f"| service - raw | {svc_cpu - raw_cpu:.1f} ms | {svc_wall - raw_wall:.1f} ms |")

    if args.trace:
        for label, do, v in (("raw pymysql", raw, spare[0]), ("service", svc, spare[1])):
            sent = trace(do, v)
            print(f"\n--- round trips of one settlement, {label}: {len(sent)} ---")
            print("\n".join(f"{i + 1:3d} {t}" for i, t in enumerate(sent)))

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
