"""Settlement throughput and latency: the service over HTTP vs the same SQL over raw pymysql.

    .venv/bin/python bench/settlement_bench.py --clients 1,8,32 --seconds 8 [--write]
    .venv/bin/python bench/settlement_bench.py --layouts one-region,split --paths raw,service

--layouts starts its own tidb-servers (platform/localdb.py, free ports, temp data dirs), one
per local-store layout: `one-region` is the launcher's crash-safe configuration (one region,
async commit off, 1PC on), `split` the old one (a region per table, TiDB's defaults on
unistore). Each cell alternates layouts and paths in rounds; the table adds the ratio
one-region / split.

Three paths settle pre-built visits (4 fee lines each, one insured person per visit drawn
from a pool of 2,000, so people rarely collide) in a separate database, medhtap_bench_settlement:
- http:    POST /v1/visits/{id}/settlement with an Idempotency-Key, end to end through
           uvicorn (a subprocess, --workers N) -> FastAPI -> service -> SQLAlchemy -> TiDB;
           the load generator is Python threads (http.client, keep-alive) on the same host.
- service: the same settling.settle() called in-process from threads (no HTTP).
- raw:     the same SQL statements, in the same order, with the same locks, issued with
           pymysql directly (no HTTP, no SQLAlchemy, no pydantic); the money is computed by
           the same rules and funds functions (settlement_raw.py), the review gate's
           statements by the same review rules (settlement_raw_review.py).
- raw-noreview (only if asked in --paths): raw without the review gate, the baseline
           before 2026-12-04, to compare with it in the same run.
Every path runs at each client count in the same run; the table gives the ratio to raw.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform as stdlib_platform
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pymysql
from apiserver import start_api
from settlement_raw import Reference, raw_settle

from medhtap.platform import localdb, migrate
from medhtap.platform.db import write_engine
from medhtap.platform.settings import get_settings
from medhtap.schema.seed import seed_reference
from medhtap.services.auth import Principal
from medhtap.services.settlement import rules, settling
from medhtap.services.settlement.identity import make_certno
from medhtap.services.settlement.schemas import SettleIn
from medhtap.services.settlement.units import Caller

ROOT = Path(__file__).resolve().parents[1]
DB = os.environ.get("MEDHTAP_BENCH_SETTLEMENT_DB", "medhtap_bench_settlement")  # own one if shared
INST = "H11010000001"  # level 3
LINES = [
    ("XA01BAA001", "2", "35.50"),
    ("XC10AAA005", "1", "120.00"),
    ("S210300001", "1", "200.00"),
    ("XR06AEA012", "1", "50.00"),
]
PERSONS = 2000
HIS_KEY = "dev-his-key"


def settings() -> Any:
    analyst = os.environ.get("MEDHTAP_BENCH_SETTLEMENT_ANALYST", "bench_stl_analyst")
    return get_settings().model_copy(update={"database": DB, "analyst_user": analyst})


def connect(s: Any) -> pymysql.connections.Connection:
    return pymysql.connect(
        host=s.host,
        port=s.port,
        user=s.user,
        password=s.password.get_secret_value(),
        database=DB,
        autocommit=False,
        init_command="SET tidb_txn_mode='pessimistic'",
    )


# ---- data ------------------------------------------------------------------------------------


def prepare(s: Any) -> list[str]:
    migrate.upgrade(s)
    engine = write_engine(s)
    with engine.begin() as sa_conn:
        seed_reference(sa_conn)
    engine.dispose()
    conn = connect(s)
    with conn.cursor() as cur:
        cur.execute("SELECT psn_no FROM insured_person WHERE psn_no LIKE 'BENCH%'")
        have = [r[0] for r in cur.fetchall()]
        if len(have) < PERSONS:
            rows = [
                (
                    f"BENCH{i:06d}",
                    make_certno(dt.date(1980, 1, 1), "1", i),  # valid, distinct per i
                    "Bench",
                    "1",
                    dt.date(1980, 1, 1),
                    "310",
                    "110100",
                    Decimal("1000000.00"),
                    "active",
                )
                for i in range(PERSONS)
            ]
            cur.executemany(
                "INSERT IGNORE INTO insured_person (psn_no, certno, psn_name, gend, brdy, "
                "insutype, admdvs, acct_balc, psn_status) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                rows,
            )
            have = [r[0] for r in rows]
    conn.commit()
    conn.close()
    return have


def make_visits(s: Any, persons: list[str], n: int) -> list[str]:
    """n open visits with the four fee lines each, inserted in bulk (not timed)."""
    now = dt.datetime.now().replace(microsecond=0)
    ids = [uuid.uuid4().hex for _ in range(n)]
    conn = connect(s)
    with conn.cursor() as cur:
        for i in range(0, n, 1000):
            chunk = ids[i : i + 1000]
            cur.executemany(
                "INSERT INTO visit (mdtrt_id, psn_no, fixmedins_code, med_type, dept_name, "
                "begntime, main_diag_code, vis_status) VALUES (%s,%s,%s,'11','GP',%s,"
                "'E11.9','open')",
                [(v, random.choice(persons), INST, now) for v in chunk],
            )
            cur.executemany(
                "INSERT INTO fee_detail (mdtrt_id, feedetl_sn, item_code, cnt, pric, "
                "det_item_fee_sumamt, fee_ocur_time, fee_status, fulamt_ownpay_amt, "
                "overlmt_selfpay, preselfpay_amt, inscp_scp_amt) "
                "VALUES (%s,%s,%s,%s,%s,%s,%s,'active',0,0,0,0)",
                [
                    (v, f"L{j}", code, cnt, pric, rules.money(Decimal(cnt) * Decimal(pric)), now)
                    for v in chunk
                    for j, (code, cnt, pric) in enumerate(LINES)
                ],
            )
            conn.commit()
    conn.close()
    return ids


def one(cur: Any) -> tuple[Any, ...]:
    row = cur.fetchone()
    assert row is not None, "expected a row"
    return tuple(row)


# ---- the three paths -------------------------------------------------------------------------


@dataclass
class RunResult:
    path: str
    clients: int
    ok: int
    errors: int
    seconds: float
    latencies: list[float]

    def merge(self, other: RunResult) -> RunResult:
        return RunResult(
            self.path,
            self.clients,
            self.ok + other.ok,
            self.errors + other.errors,
            self.seconds + other.seconds,
            self.latencies + other.latencies,
        )

    @property
    def tps(self) -> float:
        return self.ok / self.seconds

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        data = sorted(self.latencies)
        return data[min(len(data) - 1, int(q * len(data)))] * 1000


def drive(
    path: str,
    clients: int,
    seconds: float,
    visits: list[str],
    worker: Callable[[], Callable[[str], None]],
) -> RunResult:
    lock = threading.Lock()
    todo = list(visits)
    lat: list[float] = []
    errors = [0]
    stop_at = [0.0]
    start_evt = threading.Event()

    def loop() -> None:
        do = worker()
        start_evt.wait()
        while time.perf_counter() < stop_at[0]:
            with lock:
                if not todo:
                    return
                v = todo.pop()
            t = time.perf_counter()
            try:
                do(v)
            except Exception as exc:  # counted, shown once
                with lock:
                    errors[0] += 1
                    if errors[0] == 1:
                        print(f"  first error on {path}: {exc!r}", file=sys.stderr)
                continue
            d = time.perf_counter() - t
            with lock:
                lat.append(d)

    threads = [threading.Thread(target=loop) for _ in range(clients)]
    for th in threads:
        th.start()
    time.sleep(0.2)  # let every worker open its connection first
    began = time.perf_counter()
    stop_at[0] = began + seconds
    start_evt.set()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - began
    if not todo:
        print(f"  warning: {path} x{clients} ran out of visits", file=sys.stderr)
    return RunResult(path, clients, len(lat), errors[0], elapsed, lat)


_REFERENCES: dict[str, Reference] = {}


def raw_worker(s: Any, review: bool = True) -> Callable[[], Callable[[str], None]]:
    # the reference cache's loaders, one engine per database for the whole run (as the
    # service's), so a round does not start on an empty cache
    ref = _REFERENCES.get(s.url())
    if ref is None:
        ref = _REFERENCES[s.url()] = Reference(write_engine(s))

    def make() -> Callable[[str], None]:
        conn = connect(s)
        return lambda v: raw_settle(conn, ref, v, uuid.uuid4().hex, review=review)

    return make


def service_worker(engine: Any) -> Callable[[], Callable[[str], None]]:
    caller = Caller(Principal("his"))
    body = SettleIn(use_account=True)

    def make() -> Callable[[str], None]:
        def do(v: str) -> None:
            settling.settle(engine, caller, v, uuid.uuid4().hex, body)

        return do

    return make


def http_worker(port: int) -> Callable[[], Callable[[str], None]]:
    body = json.dumps({"use_account": True})

    def make() -> Callable[[str], None]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

        def do(v: str) -> None:
            conn.request(
                "POST",
                f"/v1/visits/{v}/settlement",
                body=body,
                headers={
                    "X-API-Key": HIS_KEY,
                    "Idempotency-Key": uuid.uuid4().hex,
                    "Content-Type": "application/json",
                },
            )
            resp = conn.getresponse()
            data = resp.read()
            if resp.status != 200:
                raise RuntimeError(f"HTTP {resp.status}: {data[:200]!r}")

        return do

    return make


def start_server(s: Any, workers: int) -> tuple[subprocess.Popen[bytes], int]:
    return start_api(DB, s.analyst_user, s.port, workers)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_layout(layout: str, root: Path) -> Any:
    """An own tidb-server in `layout` (one-region: crash-safe; split: the old layout)."""
    s = settings().model_copy(
        update={
            "port": free_port(),
            "status_port": free_port(),
            "data_dir": root / layout / "tidb",
            "dsn": "",
        }
    )
    localdb.up(
        s,
        say=lambda m: print(f"  [{layout}] {m}", file=sys.stderr),
        crash_safe=(layout == "one-region"),
    )
    return s


def machine(s: Any) -> dict[str, str]:
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    mem = next((ln.split()[1] for ln in meminfo if ln.startswith("MemTotal")), "0")
    conn = connect(s)
    with conn.cursor() as cur:
        cur.execute("SELECT VERSION()")
        version = one(cur)[0]
    conn.close()
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} CPUs (nproc), {int(mem) / 1024 / 1024:.1f} GiB RAM, "
        f"{stdlib_platform.system()} {stdlib_platform.machine()}, "
        f"Python {stdlib_platform.python_version()}",
        "tidb": version,
        "load": f"{os.getloadavg()[0]:.2f}",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--clients", default="1,8,32")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--paths", default="raw,service,http")
    ap.add_argument("--rounds", type=int, default=4, help="alternations of the paths per cell")
    ap.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    ap.add_argument(
        "--visits",
        type=int,
        default=0,
        help="visits prepared per run (default: enough for 600 tps)",
    )
    ap.add_argument(
        "--layouts",
        default="",
        help="one-region,split: own tidb-servers per local-store layout (see the module doc)",
    )
    ap.add_argument("--write", action="store_true", help="write bench/SETTLEMENT.md")
    args = ap.parse_args()
    levels = [int(c) for c in args.clients.split(",")]
    paths = args.paths.split(",")
    layouts = [x for x in args.layouts.split(",") if x]
    tmp = Path(tempfile.mkdtemp(prefix="medhtap-bench-"))
    targets: dict[str, Any] = {}
    servers: list[tuple[str, subprocess.Popen[bytes], int]] = []
    engines: dict[str, Any] = {}
    results: dict[tuple[str, int], RunResult] = {}
    try:
        for layout in layouts or [""]:
            targets[layout] = start_layout(layout, tmp) if layout else settings()
        people: dict[str, list[str]] = {}
        for layout, s in targets.items():
            print(f"preparing database {DB} {layout} ...", file=sys.stderr)
            people[layout] = prepare(s)
            engines[layout] = write_engine(s)
            if "http" in paths:
                proc, port = start_server(s, args.workers)
                servers.append((layout, proc, port))
        info = machine(next(iter(targets.values())))
        ports = {layout: port for layout, _, port in servers}
        labels = [f"{lay}/{p}" if lay else p for lay in targets for p in paths]
        for n in levels:
            # Each cell is split into rounds that alternate the paths (and layouts), so a load
            # change on the shared host hits every path alike instead of biasing one of them.
            for rnd in range(args.rounds):
                for layout, s in targets.items():
                    for path in paths:
                        need = args.visits or int(args.seconds / args.rounds * min(400, 60 * n))
                        visits = make_visits(s, people[layout], need + 100)
                        worker = {
                            "raw": lambda s=s: raw_worker(s),
                            "raw-noreview": lambda s=s: raw_worker(s, review=False),
                            "service": lambda lay=layout: service_worker(engines[lay]),
                            "http": lambda lay=layout: http_worker(ports[lay]),
                        }[path]()
                        label = f"{layout}/{path}" if layout else path
                        res = drive(label, n, args.seconds / args.rounds, visits, worker)
                        results[(label, n)] = results[(label, n)].merge(res) if rnd else res
            for label in labels:
                res = results[(label, n)]
                print(
                    f"  {label:18s} x{n:<3d} {res.tps:7.1f}/s p50 {res.pct(0.5):6.1f} ms "
                    f"p99 {res.pct(0.99):6.1f} ms errors {res.errors}",
                    file=sys.stderr,
                )
    finally:
        for _, proc, _ in servers:
            proc.terminate()
            proc.wait(timeout=20)
        for engine in engines.values():
            engine.dispose()
        for layout, s in targets.items():
            if layout:
                localdb.down(s, say=lambda _m: None)
        shutil.rmtree(tmp, ignore_errors=True)
    table = render(results, levels, labels, info, args)
    if layouts:
        table += "\n\n" + render_layouts(results, levels, layouts, paths)
    print(table)
    if args.write:
        write_md(table)


def render_layouts(
    results: dict[tuple[str, int], RunResult],
    levels: list[int],
    layouts: list[str],
    paths: list[str],
) -> str:
    base, *others = layouts
    out = [
        "| clients | path | "
        + " | ".join(f"{lay} /s" for lay in layouts)
        + " | "
        + " | ".join(f"{o} / {base}" for o in others)
        + " |",
        "|---|---|" + "---|" * (len(layouts) + len(others)),
    ]
    for n in levels:
        for path in paths:
            tps = [results[(f"{lay}/{path}", n)].tps for lay in layouts]
            ratios = [f"{t / tps[0]:.2f}" if tps[0] else "-" for t in tps[1:]]
            out.append(
                f"| {n} | {path} | "
                + " | ".join(f"{t:.0f}" for t in tps)
                + " | "
                + " | ".join(ratios)
                + " |"
            )
    return "\n".join(out)


def render(
    results: dict[tuple[str, int], RunResult],
    levels: list[int],
    paths: list[str],
    info: dict[str, str],
    args: Any,
) -> str:
    out = [
        f"- date: {info['date']}",
        f"- machine: {info['machine']}",
        f"- TiDB: {info['tidb']} (unistore, same host; "
        f"layouts: {args.layouts or 'the running server'})",
        f"- load average before / after: {info['load']} / {os.getloadavg()[0]:.2f} "
        "(the TiDB server is shared with other work on this host)",
        f"- run: {args.seconds:g} s per cell in {args.rounds} alternating rounds, "
        f"uvicorn --workers {args.workers}, "
        f"`{' '.join(sys.argv[1:]) or '(defaults)'}`",
        "",
        "| clients | path | settlements/s | p50 ms | p99 ms | errors | throughput vs raw |",
        "|---|---|---|---|---|---|---|",
    ]
    for n in levels:
        for path in paths:
            r = results[(path, n)]
            raw = results.get((path.rsplit("/", 1)[0] + "/raw" if "/" in path else "raw", n))
            ratio = f"{r.tps / raw.tps:.0%}" if raw and raw.tps else "-"
            out.append(
                f"| {n} | {path} | {r.tps:.0f} | {r.pct(0.5):.1f} | {r.pct(0.99):.1f} "
                f"| {r.errors} | {ratio} |"
            )
    return "\n".join(out)


def write_md(table: str) -> None:
    md = ROOT / "bench" / "SETTLEMENT.md"
    text = md.read_text() if md.exists() else ""
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + start + "\n" + table + "\n" + end + rest.split(end, 1)[1]
    else:
        text += f"\n{start}\n{table}\n{end}\n"
    md.write_text(text)


if __name__ == "__main__":
    main()
