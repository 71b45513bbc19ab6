"""Analytics benchmark: bulk load, report and risk-rule latency at 100k and 1M visits, and
HTAP interference (settlement throughput and p99 alone vs while analytics loop).

    .venv/bin/python bench/analytics_bench.py [--sizes 100000,1000000] [--seconds 20]

Runs in its own database, medhtap_bench_analytics (dropped and rebuilt by the migrations).
Baselines are measured in the same run:
- loading: the server's own LOAD DATA time, against the loader's wall time (generation in
  Python + LOAD DATA LOCAL INFILE);
- reports and rules: the same SQL text sent raw through pymysql as root (no snapshot
  transaction, no EXPLAIN FOR CONNECTION, no analyst views' privilege checks), against the
  analytics path (analyst account, views, snapshot, plan read-back);
- interference: settlement (the service's settle() in-process, 8 threads) alone, then the
  same while one thread loops the cost report and another the six risk rules (read-only
  evaluation; alerts are not stored during the measurement).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform as stdlib_platform
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pymysql
from sqlalchemy import Engine, text
from sqlalchemy.dialects import mysql

from medhtap.analytics import reports, risk
from medhtap.analytics.synthetic import load_synthetic
from medhtap.platform import migrate
from medhtap.platform.db import make_engine, write_engine
from medhtap.platform.settings import Settings, get_settings
from medhtap.schema.seed import seed_reference

DB = os.environ.get("MEDHTAP_BENCH_DB", "medhtap_bench_analytics")
PERSONS = 2000
LINES = [
    ("XA01BAA001", "2", "35.50"),
    ("XC10AAA005", "1", "120.00"),
    ("S210300001", "1", "200.00"),
    ("XR06AEA012", "1", "50.00"),
]


def settings(timeout_ms: int = 600_000) -> Settings:
    return get_settings().model_copy(
        update={
            "database": DB,
            "analyst_user": "bench_ana_analyst",
            "analyst_max_execution_ms": timeout_ms,
        }
    )


def read_engine(s: Settings) -> Engine:
    return make_engine(
        s.analyst_url(),
        read_timeout=s.analyst_max_execution_ms // 1000 + 60,
        settings=s,
        pool_size=4,
        session_vars={
            "max_execution_time": s.analyst_max_execution_ms,
            "tidb_mem_quota_query": 4 << 30,
        },
    )


def raw(s: Settings) -> pymysql.connections.Connection[Any]:
    return pymysql.connect(
        host=s.host, port=s.port, user=s.user, password=s.password.get_secret_value(), database=DB
    )


def timed(fn: Callable[[], Any], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


def raw_sql(s: Settings, sql: str, params: dict[str, Any]) -> Callable[[], Any]:
    """The same text, bound by SQLAlchemy's compiler, sent through a plain pymysql cursor."""
    used = {k: v for k, v in params.items() if f":{k}" in sql}  # text() refuses extras
    compiled = (
        text(sql)
        .bindparams(**used)
        .compile(
            dialect=mysql.dialect(),
            compile_kwargs={"literal_binds": True},
        )
    )
    stmt = str(compiled)

    def run() -> Any:
        conn = raw(s)
        try:
            with conn.cursor() as cur:
                cur.execute(stmt)
                return cur.fetchall()
        finally:
            conn.close()

    return run


def report_sql(dims: list[str]) -> str:
    return reports._grouping(dims).sql("cost_report")


def free_seed(engine: Engine) -> int:
    """The first seed with no rows yet (a seed loads once; see synthetic.load_synthetic)."""
    with engine.connect() as conn:
        for seed in range(1, 1000):
            psn = f"SY{seed:03d}P{0:09d}"
            if not conn.execute(
                text("SELECT 1 FROM insured_person WHERE psn_no = :p"), {"p": psn}
            ).first():
                return seed
    raise RuntimeError("no free seed")


def measure_reads(
    s: Settings, ro: Engine, repeat: int, *, full: bool = True
) -> list[tuple[str, float, float, str]]:
    to = dt.date.today()
    frm = to - dt.timedelta(days=365)
    start, end = reports.period(frm, to)
    params = {"from": start, "to": end, "fee_from": start - reports.FEE_LOOKBACK}
    out = []
    engine_seen = ""

    def report(dims: list[str], top: bool) -> Callable[[], Any]:
        def run() -> Any:
            nonlocal engine_seen
            r = reports.cost_report(ro, frm, to, dims, top_items=top)
            engine_seen = r.meta["engine"]
            return r

        return run

    shapes = [("cost report by institution", ["institution"])]
    if full:
        shapes.append(("cost report by month x visit kind", ["month", "visit_kind"]))
    for label, dims in shapes:
        t = timed(report(dims, False), repeat)
        b = timed(raw_sql(s, report_sql(dims), params), repeat)
        out.append((label, t, b, engine_seen))
    if not full:
        return out
    t = timed(report(["institution"], True), repeat)
    out.append(("cost report + top-10 items", t, float("nan"), engine_seen))
    rules = list(risk.RULES.values())
    t = timed(lambda: risk.evaluate(ro, to - dt.timedelta(days=90), to, rules), repeat)
    out.append(("six risk rules, last 90 days", t, float("nan"), "tikv"))
    return out


# ---- HTAP interference ---------------------------------------------------------------------


def make_open_visits(s: Settings, n: int) -> list[str]:
    conn = raw(s)
    now = dt.datetime.now().replace(microsecond=0)
    ids = [uuid.uuid4().hex for _ in range(n)]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT IGNORE INTO insured_person (psn_no, certno, psn_name, gend, brdy, insutype, "
            "admdvs, acct_balc, psn_status) VALUES (%s,%s,'Bench','1','1980-01-01','310',"
            "'110100',1000000,'active')",
            [(f"BENCH{i:06d}", f"98{i:016d}") for i in range(PERSONS)],
        )
        for i in range(0, n, 1000):
            chunk = ids[i : i + 1000]
            cur.executemany(
                "INSERT INTO visit (mdtrt_id, psn_no, fixmedins_code, med_type, dept_name, "
                "begntime, main_diag_code, vis_status) VALUES (%s,%s,'H11010000001',"
                "'outpatient','GP',%s,'E11.9','open')",
                [(v, f"BENCH{hash(v) % PERSONS:06d}", now) for v in chunk],
            )
            cur.executemany(
                "INSERT INTO fee_detail (mdtrt_id, feedetl_sn, item_code, cnt, pric, "
                "det_item_fee_sumamt, fee_ocur_time, fee_status, fulamt_ownpay_amt, "
                "overlmt_selfpay, preselfpay_amt, inscp_scp_amt) "
                "VALUES (%s,%s,%s,%s,%s,%s,%s,'active',0,0,0,0)",
                [
                    (v, f"L{j}", c, q, p, (Decimal(q) * Decimal(p)).quantize(Decimal("0.01")), now)
                    for v in chunk
                    for j, (c, q, p) in enumerate(LINES)
                ],
            )
            conn.commit()
    conn.close()
    return ids


def settle_load(
    s: Settings, engine: Engine, visits: list[str], clients: int, seconds: float
) -> tuple[float, float, float, int]:
    from medhtap.services.auth import Principal
    from medhtap.services.settlement import service
    from medhtap.services.settlement.schemas import SettleIn

    caller, body = service.Caller(Principal("his")), SettleIn(use_account=True)
    lock, lat, errors = threading.Lock(), [], [0]
    stop = time.perf_counter() + seconds

    def loop() -> None:
        while time.perf_counter() < stop:
            with lock:
                if not visits:
                    return
                v = visits.pop()
            t = time.perf_counter()
            try:
                service.settle(engine, caller, v, uuid.uuid4().hex, body)
            except Exception as exc:
                with lock:
                    errors[0] += 1
                    if errors[0] == 1:
                        print(f"  settle error: {exc!r}", file=sys.stderr)
                continue
            with lock:
                lat.append(time.perf_counter() - t)

    began = time.perf_counter()
    threads = [threading.Thread(target=loop) for _ in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - began
    lat.sort()
    p = (
        (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000)
        if lat
        else (lambda q: float("nan"))
    )
    return len(lat) / elapsed, p(0.5), p(0.99), errors[0]


def interference(
    s: Settings, engine: Engine, ro: Engine, clients: int, seconds: float
) -> dict[str, Any]:
    visits = make_open_visits(s, int(clients * seconds * 200))
    half = len(visits) // 2
    alone = settle_load(s, engine, visits[:half], clients, seconds)
    stop = threading.Event()
    loops = {"report": 0, "rules": 0}
    to = dt.date.today()

    def looping(name: str, fn: Callable[[], Any]) -> Callable[[], None]:
        def run() -> None:
            while not stop.is_set():
                try:
                    fn()
                    loops[name] += 1
                except Exception as exc:  # e.g. MAX_EXECUTION_TIME: the load was applied
                    loops[f"{name}_interrupted"] = loops.get(f"{name}_interrupted", 0) + 1
                    print(f"  {name} loop: {exc!r}"[:200], file=sys.stderr)

        return run

    bg = [
        threading.Thread(
            target=looping(
                "report",
                lambda: reports.cost_report(ro, to - dt.timedelta(days=365), to, ["institution"]),
            ),
            daemon=True,
        ),
        threading.Thread(
            target=looping(
                "rules",
                lambda: risk.evaluate(
                    ro, to - dt.timedelta(days=90), to, list(risk.RULES.values())
                ),
            ),
            daemon=True,
        ),
    ]
    for th in bg:
        th.start()
    time.sleep(1.0)  # let the analytic queries get going
    busy = settle_load(s, engine, visits[half:], clients, seconds)
    stop.set()
    for th in bg:  # an iteration at 1M takes minutes: do not wait for it to finish
        th.join(timeout=5)
    return {"alone": alone, "busy": busy, "loops": loops, "clients": clients}


def machine(s: Settings) -> dict[str, str]:
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    mem = next((ln.split()[1] for ln in meminfo if ln.startswith("MemTotal")), "0")
    conn = raw(s)
    with conn.cursor() as cur:
        cur.execute("SELECT VERSION()")
        version = str(cur.fetchone()[0])  # type: ignore[index]
        cur.execute("SELECT COUNT(*) FROM information_schema.cluster_info WHERE type='tiflash'")
        tiflash = int(cur.fetchone()[0])  # type: ignore[index]
    conn.close()
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} CPUs (nproc), {int(mem) / 1024 / 1024:.1f} GiB RAM, "
        f"{stdlib_platform.system()} {stdlib_platform.machine()}",
        "tidb": version,
        "tiflash stores": str(tiflash),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="reuse the database if it exists")
    ap.add_argument(
        "--full-reads-max",
        type=int,
        default=10**9,
        help="above this size time only the two cost reports",
    )
    ap.add_argument("--no-interference", action="store_true")
    ap.add_argument("--skip-reads", action="store_true", help="only load and interference")
    ap.add_argument("--analytics-timeout-ms", type=int, default=600_000)
    args = ap.parse_args()
    s = settings(args.analytics_timeout_ms)
    if not args.keep:
        migrate.drop_database(s)
    migrate.upgrade(s)
    engine = write_engine(s)
    with engine.begin() as conn:
        seed_reference(conn)
    ro = read_engine(s)
    info = machine(s)
    print("\n".join(f"{k}: {v}" for k, v in info.items()), flush=True)
    with engine.connect() as conn:  # --keep: continue from what the database holds
        loaded = int(
            conn.execute(text("SELECT COUNT(*) FROM visit WHERE mdtrt_id LIKE '%V%'")).scalar() or 0
        )
    lines = [
        "| visits | step | analytics path | baseline (same run) | ratio | engine |",
        "|---|---|---|---|---|---|",
    ]
    htap: dict[str, Any] | None = None
    for size in (int(x) for x in args.sizes.split(",")):
        add = size - loaded
        if add > 0:
            st = load_synthetic(
                engine, visits=add, seed=free_seed(engine), analyze=True, chunk_visits=20_000
            )
            rows = sum(st.rows.values())
            wall = st.generate_s + st.load_s
            lines.append(
                f"| {size:,} | load +{add:,} visits ({rows:,} rows) | {wall:.1f} s "
                f"({rows / wall:,.0f} rows/s) | server LOAD DATA {st.load_s:.1f} s "
                f"({rows / st.load_s:,.0f} rows/s) | {wall / st.load_s:.2f} | - |"
            )
            lines.append(f"| {size:,} | ANALYZE TABLE | {st.analyze_s:.1f} s | | | - |")
            print(lines[-2], lines[-1], sep="\n", flush=True)
            loaded = size
        full = size <= args.full_reads_max
        reads = [] if args.skip_reads else measure_reads(s, ro, args.repeat, full=full)
        for label, t, b, eng in reads:
            ratio = f"{t / b:.2f}" if b == b else ""
            base = f"{b:.2f} s (raw pymysql, root)" if b == b else ""
            lines.append(f"| {size:,} | {label} | {t:.2f} s | {base} | {ratio} | {eng} |")
            print(lines[-1], flush=True)
        if htap is None and not args.no_interference:
            # at the first size, so a long 1M run still yields the interference numbers
            htap = interference(s, engine, ro, args.clients, args.seconds) | {"visits": size}
            print(htap, flush=True)
    if htap is None:
        print("\n" + "\n".join(f"- {k}: {v}" for k, v in info.items()))
        print("\n" + "\n".join(lines))
        return
    res = htap
    a, b = res["alone"], res["busy"]
    lines += [
        "",
        f"HTAP interference at {res['visits']:,} visits, {res['clients']} settlement threads "
        f"(service.settle in-process), {args.seconds:.0f} s each:",
        "",
        "| settlement | tps | p50 | p99 | errors |",
        "|---|---|---|---|---|",
        f"| alone | {a[0]:.0f} | {a[1]:.1f} ms | {a[2]:.1f} ms | {a[3]} |",
        f"| with report + rules looping (completed {res['loops']['report']} reports, "
        f"{res['loops']['rules']} rule runs) | {b[0]:.0f} | {b[1]:.1f} ms | {b[2]:.1f} ms "
        f"| {b[3]} |",
        f"| ratio (with / alone) | {b[0] / a[0]:.2f} | {b[1] / a[1]:.2f} | {b[2] / a[2]:.2f} | |",
    ]
    print("\n".join(lines[-7:]))
    print("\n" + "\n".join(f"- {k}: {v}" for k, v in info.items()))
    print("\n" + "\n".join(lines))
    ro.dispose()
    engine.dispose()


if __name__ == "__main__":
    main()
