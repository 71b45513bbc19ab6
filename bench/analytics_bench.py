"""Analytics benchmark (issue 12): load, reports, risk rules, alert latency, HTAP interference.

    .venv/bin/python bench/analytics_bench.py --sizes 100000,1000000 [--seconds 20] [--keep]

Runs in its own database, medhtap_bench_analytics (dropped and rebuilt by the migrations
unless --keep). At each size, with the baseline measured in the same run:
- load: the loader's wall time (rows made in Python while two connections LOAD DATA the
  parts before) against the busiest connection's time inside LOAD DATA (the server's own
  LOAD DATA of the same rows from files, in the same run: bench/load_costs.py --loader);
- reports: the cost report for each group_by through the analytics path (analyst account,
  views, snapshot, plan read-back) against the scan floor, `SELECT COUNT(*),
  SUM(medfee_sumamt)` over the same facts and range, and the report by institution's SQL
  sent raw through pymysql as root;
- every risk rule over its default window (90 days), as `medhtap risk run` does, with each
  rule's own time;
- alert latency: a visit that must fire duplicate_charge is settled while the risk watcher
  runs; seconds until the alert is listed.
At --htap-size (default: the largest size) settlement runs alone, with 4 analysts + the
watcher, and with reports looping (bench/htap.py). Results are appended as JSON lines to
bench/results/analytics.jsonl; `--plot` draws bench/analytics_scale.svg from all of them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform as stdlib_platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import htap
import pygal
import pymysql
from apiserver import start_api
from sqlalchemy import Engine, text
from sqlalchemy.dialects import mysql

from medhtap.analytics import persons, reports, risk, rollup, sqlfiles
from medhtap.analytics.synthetic import load_synthetic
from medhtap.platform import capabilities, migrate
from medhtap.platform.db import make_engine, write_engine
from medhtap.platform.settings import Settings, get_settings
from medhtap.schema.seed import seed_reference
from medhtap.services.api import analyst_session_vars

DB = os.environ.get("MEDHTAP_BENCH_DB", "medhtap_bench_analytics")
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "analytics.jsonl"
SHAPES = (["institution"], ["month", "visit_kind"], ["diagnosis"], ["age_band", "gender"])
FLOOR = (
    "SELECT COUNT(*), SUM(medfee_sumamt) FROM v_setl_fact "
    "WHERE setl_time >= :from AND setl_time < :to"
)


def settings(timeout_ms: int = 600_000) -> Settings:
    return get_settings().model_copy(
        update={
            "database": DB,
            "analyst_user": "bench_ana_analyst",
            "analyst_max_execution_ms": timeout_ms,
        }
    )


def read_engine(s: Settings) -> Engine:
    """The API's analytic sessions (services/api.analyst_session_vars: time, memory and
    concurrency limits), with the bench's longer time limit and a larger memory quota."""
    session_vars = analyst_session_vars(s, capabilities.probe(write_engine(s), DB))
    return make_engine(
        s.analyst_url(),
        read_timeout=s.analyst_max_execution_ms // 1000 + 60,
        settings=s,
        pool_size=4,
        session_vars=session_vars | {"tidb_mem_quota_query": 4 << 30},
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


def report_sql(dims: list[str], source: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The statements the analytics path ran for a report (rollup + tail, or the facts; then
    the persons: a full count, a new base, or the persons changed since the base), with the
    parameters they need beyond the period's."""
    g = reports._grouping(dims)
    if source["from"] == "rollup+tail":
        folded = dt.datetime.fromisoformat(str(source["folded_to"]))
        sums = [
            (sqlfiles.load("rollup_tail"), {"folded_to": folded}),
            (g.sql("cost_rollup"), {"dims": source["rollup"], "folded_to": folded}),
        ]
    else:
        sums = [(g.sql("cost_report"), {})]
    how = source["persons"]
    if how["from"] == "facts":
        return [*sums, (g.sql("cost_persons"), {"before": persons.FAR})]
    if how.get("changed_persons"):
        raise RuntimeError("the raw baseline replays a report with no changed persons only")
    since = {"since": dt.datetime.fromisoformat(how["base_at"]), "limit": persons.MAX_CHANGED + 1}
    changed = (sqlfiles.load("persons_since"), since)
    if how["from"] == "new base":
        return [*sums, (g.sql("cost_persons"), {"before": since["since"]}), changed]
    return [*sums, changed]


def in_turn(runs: list[Callable[[], Any]]) -> Callable[[], Any]:
    return lambda: [r() for r in runs]


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
    s: Settings, ro: Engine, repeat: int, facts_only: bool = False
) -> list[dict[str, Any]]:
    to = dt.date.today()
    frm = to - dt.timedelta(days=365)
    start, end = reports.period(frm, to)
    params = {
        "from": start,
        "to": end,
        "from_day": start.date(),
        "to_day": end.date(),
    }
    seen: dict[str, Any] = {}

    def floor() -> Any:
        with ro.connect() as c:
            return c.execute(text(FLOOR), params).one()

    def report(dims: list[str], top: bool) -> Callable[[], Any]:
        def run() -> Any:
            r = reports.cost_report(ro, frm, to, dims, top_items=top)
            seen["engine"], seen["source"] = r.meta["engine"], r.meta["source"]
            return r

        return run

    fl = timed(floor, repeat)
    out = [{"step": "scan floor: COUNT, SUM over the facts, 365 days", "s": fl, "floor_s": fl}]
    for dims in SHAPES:
        # cold: the first answer of the period counts its persons' base from the facts;
        # warm: later answers recount only the persons changed since (none in this quiet
        # step; the HTAP step below has settlements arriving)
        persons.forget()
        cold = timed(report(list(dims), False), 1)
        cold_source = seen["source"]
        t = timed(report(list(dims), False), repeat)
        row = {"step": f"cost report by {' x '.join(dims)}", "s": t, "floor_s": fl}
        row |= {"cold_s": cold, "source": seen["source"]["from"]}
        if dims == ["institution"]:
            # the same statements through a plain pymysql connection, as root
            for name, src in (("raw_s", seen["source"]), ("raw_cold_s", cold_source)):
                stmts = report_sql(list(dims), src)
                row[name] = timed(
                    in_turn([raw_sql(s, sql, params | extra) for sql, extra in stmts]), repeat
                )
            # and without the rollup: the sums summed from the facts each time
            live = reports._grouping(list(dims)).sql("cost_report")
            row["facts_s"] = timed(raw_sql(s, live, params), repeat)
        out.append(row | {"engine": seen["engine"]})
    if facts_only:  # no fee lines, visits or settlements: top items and rules need them
        return out
    t = timed(report(["institution"], True), 1)
    out.append(
        {"step": "cost report by institution + top-10 items (fee lines)", "s": t, "floor_s": fl}
        | {"source": seen["source"]["from"], "engine": seen["engine"]}
    )
    rules = list(risk.RULES.values())
    t = time.perf_counter()
    _, outcomes, _ = risk.evaluate(ro, to - dt.timedelta(days=90), to, rules)
    engines = ",".join(sorted({o.engine for o in outcomes}))
    each = ", ".join(f"{o.code} {o.elapsed_ms / 1000:.1f}" for o in outcomes)
    out.append(
        {"step": f"{len(rules)} risk rules, 90 days (full run)", "s": time.perf_counter() - t}
        | {"engine": engines, "rules_s": each}
    )
    return out


def fold(s: Settings, engine: Engine) -> dict[str, Any]:
    """Fold what the load recorded into the rollups, as the API's worker would (with the
    two-key rollups the API registers on a grouping's first request)."""
    for dims in SHAPES:
        if (d := rollup.dims_of(list(dims))) is not None:
            rollup.register(engine, d)
    t = time.perf_counter()
    folds = rollup.fold_once(engine, s.analyst_user)
    return {
        "step": f"rollup fold: {len(folds)} dimension sets",
        "s": time.perf_counter() - t,
        "facts": max((f.facts for f in folds), default=0),
    }


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
    caps = capabilities.probe(write_engine(s), DB)
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} CPUs (nproc), {int(mem) / 1024 / 1024:.1f} GiB RAM, "
        f"{stdlib_platform.system()} {stdlib_platform.machine()}",
        "tidb": version,
        "store": f"{caps.store}, crash_safe={caps.crash_safe}",
        "tiflash stores": str(tiflash),
        "load average": f"{os.getloadavg()[0]:.1f}",
    }


# --facts-only: what the cost report reads (facts, and persons for the seeds); every row is
# still made with the money rules, so the facts equal a full load's
FACTS_ONLY = ("insured_person", "setl_fact")
LOADED = {
    # synthetic visits only (not the HTAP bench's open ones)
    False: "SELECT COUNT(*) FROM visit WHERE psn_no LIKE 'SY%'",
    # one +1 fact per settled visit (a cancel adds a -1 fact to the same visit)
    True: "SELECT COUNT(*) FROM setl_fact WHERE sign = 1 AND psn_no LIKE 'SY%'",
}


def load_to(
    s: Settings, engine: Engine, size: int, facts_only: bool = False
) -> dict[str, Any] | None:
    """Load synthetic visits until the database holds `size` (None: it already does)."""
    with engine.connect() as conn:
        n = conn.execute(text(LOADED[facts_only])).scalar()
    loaded = int(n or 0)
    add = size - loaded
    if add <= 0:
        return None
    tables = FACTS_ONLY if facts_only else None
    st = load_synthetic(engine, visits=add, seed=free_seed(engine), analyze=True, tables=tables)
    rows = sum(st.rows.values())
    wall = st.load_s  # pipelined: generation runs beside the loading
    return {
        "step": f"load +{add:,} visits ({rows:,} rows)",
        "rows": rows,
        "s": wall,
        # the busiest connection's time inside LOAD DATA: wall / this near 1 means the
        # server, not the Python generation, set the pace (the baseline of the same rows:
        # bench/load_costs.py --loader)
        "load_data_s": max(st.busy_s or [0.0]),
        "generate_s": st.generate_s,
        "analyze_s": st.analyze_s,
    }


def table(size: int, load: dict[str, Any] | None, reads: list[dict[str, Any]]) -> list[str]:
    out = []
    if load:
        out.append(
            f"| {size:,} | {load['step']} | {load['s']:.1f} s ({load['rows'] / load['s']:,.0f} "
            f"rows/s) | busiest connection in LOAD DATA {load['load_data_s']:.1f} s | "
            f"{load['load_data_s'] / load['s']:.2f} of the wall time | - |"
        )
    for r in reads:
        base = f"floor {r['floor_s']:.2f} s" if "floor_s" in r else ""
        ratio = f"{r['s'] / r['floor_s']:.1f}x floor" if "floor_s" in r else ""
        if "cold_s" in r:
            base += f"; first answer of the period (persons base) {r['cold_s']:.2f} s"
        if "raw_s" in r:
            base += (
                f"; raw pymysql {r['raw_s']:.2f} s (first answer's statements "
                f"{r['raw_cold_s']:.2f} s); from the facts {r['facts_s']:.2f} s"
            )
            ratio += f"; {r['s'] / r['raw_s']:.2f}x raw, first {r['cold_s'] / r['raw_cold_s']:.2f}x"
        if "source" in r:
            ratio += f" ({r['source']})"
        if "rules_s" in r:
            base = f"each rule, s: {r['rules_s']}"
        out.append(
            f"| {size:,} | {r['step']} | {r['s']:.2f} s | {base} | {ratio} | "
            f"{r.get('engine', '-')} |"
        )
    return out


def htap_table(
    res: dict[str, Any], size: int, clients: int, seconds: float, via_api: bool = False
) -> list[str]:
    a = res["alone"]
    analysts = "analysts over HTTP to the API process" if via_api else "analysts in-process"
    out = [
        f"HTAP at {size:,} visits: {clients} settlement threads (service in-process), "
        f"{analysts}, {seconds:.0f} s per load",
        "",
        "| settlement | tps | p50 | p99 | errors | tps / alone | p99 / alone | analytic queries |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, label in (
        ("alone", "alone"),
        ("analysts", "4 analysts every 2 s + risk watcher"),
        ("loop", "cost report looping (2 threads)"),
    ):
        r: htap.Load = res[name]
        counts = res.get(f"{name}_counts", {})
        done = (
            f"{counts['queries']} done, {counts['interrupted']} stopped, "
            f"{counts['refused']} refused (429)"
            if counts
            else "-"
        )
        out.append(
            f"| {label} | {r.tps:.1f} | {r.p50_ms:.0f} ms | {r.p99_ms:.0f} ms | {r.errors} | "
            f"{r.tps / a.tps:.2f} | {r.p99_ms / a.p99_ms:.2f} | {done} |"
        )
    return out


def htap_medians(rounds: list[dict[str, Any]]) -> str:
    """The median over the rounds of each load's tps / alone (each round against its own
    "alone"): on a noisy host one round is one sample."""
    out = []
    for name in ("analysts", "loop"):
        ratios = sorted(r[name].tps / r["alone"].tps for r in rounds)
        each = ", ".join(f"{x:.2f}" for x in ratios)
        out.append(f"{name} median {statistics.median(ratios):.2f} (rounds: {each})")
    return f"tps / alone over {len(rounds)} round(s): " + "; ".join(out)


def plot(path: Path) -> None:
    """Report latency and load rows/s against data size, from every recorded run."""
    runs = [json.loads(ln) for ln in RESULTS.read_text().splitlines() if ln.strip()]
    by_size: dict[int, dict[str, float]] = {}
    for run in runs:
        for r in run["reads"]:
            if r["s"] != float("inf"):  # an alert never seen: no point to draw
                by_size.setdefault(run["size"], {})[r["step"]] = r["s"]
        if run.get("load") and not run.get("facts_only"):  # a facts-only load is not comparable
            by_size[run["size"]]["load rows/s (thousands)"] = (
                run["load"]["rows"] / run["load"]["s"] / 1000
            )
    sizes = sorted(by_size)
    chart = pygal.XY(
        title="Report latency (s) and load speed against visits (log x)",
        logarithmic=True,
        x_title="visits",
        y_title="seconds / thousand rows per s",
        legend_at_bottom=True,
    )
    for step in sorted({k for v in by_size.values() for k in v}):
        pts = [(n, by_size[n][step]) for n in sizes if step in by_size[n]]
        chart.add(step, pts)
    path.write_bytes(chart.render())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--htap-size", type=int, default=0, help="default: the largest size")
    ap.add_argument("--keep", action="store_true", help="reuse the database if it exists")
    ap.add_argument("--no-htap", action="store_true")
    ap.add_argument(
        "--htap-rounds",
        type=int,
        default=1,
        help="alone / analysts / loop this many times in a row, each its own sample",
    )
    ap.add_argument(
        "--htap-only", action="store_true", help="skip the fold, the reads and the alert latency"
    )
    ap.add_argument("--plot", action="store_true", help="redraw bench/analytics_scale.svg")
    ap.add_argument("--analytics-timeout-ms", type=int, default=600_000)
    ap.add_argument(
        "--facts-only",
        action="store_true",
        help="load persons and facts only and time the cost reports (the 5M-visit run; "
        "use its own MEDHTAP_BENCH_DB)",
    )
    ap.add_argument(
        "--analysts-via-api",
        action="store_true",
        help="HTAP analysts and loop as HTTP clients of the API process (its admission "
        "control and worker; MEDHTAP_* variables of this process reach it)",
    )
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
    sizes = [int(x) for x in args.sizes.split(",")]
    htap_size = args.htap_size or max(sizes)
    lines = [
        "| visits | step | analytics path | baseline (same run) | ratio | engine |",
        "|---|---|---|---|---|---|",
    ]
    RESULTS.parent.mkdir(exist_ok=True)
    htap_lines: list[str] = []
    for size in sizes:
        load = load_to(s, engine, size, args.facts_only)
        reads = (
            []
            if args.htap_only
            else [fold(s, engine), *measure_reads(s, ro, args.repeat, args.facts_only)]
        )
        conn = raw(s)
        if not args.facts_only and not args.htap_only:
            latency = htap.alert_latency(engine, ro, conn)
            step = "alert latency: settled -> listed (watcher every 1 s)"
            reads.append({"step": step, "s": latency})
        res = None
        rounds: list[dict[str, Any]] = []
        if size == htap_size and not args.no_htap and not args.facts_only:
            api = None
            if args.analysts_via_api:
                api = lambda: start_api(DB, s.analyst_user, s.port)  # noqa: E731
            for i in range(args.htap_rounds):
                visits = htap.make_open_visits(conn, int(args.clients * args.seconds * 3 * 25))
                res = htap.interference(
                    engine, ro, visits, args.clients, args.seconds, s.analyst_user, api
                )
                rounds.append(res)
                got = htap_table(res, size, args.clients, args.seconds, args.analysts_via_api)
                got[0] += f" (round {i + 1} of {args.htap_rounds})"
                htap_lines += [*got, ""]
                print("\n".join(got), flush=True)
            htap_lines.append(htap_medians(rounds))
        conn.close()
        lines += table(size, load, reads)
        print("\n".join(table(size, load, reads)), flush=True)
        record = {"size": size, "load": load, "reads": reads, **info}
        if args.facts_only:
            record["facts_only"] = True
        if res:
            record["htap"] = {
                k: v.__dict__ if isinstance(v, htap.Load) else v for k, v in res.items()
            }
            record["htap_rounds"] = [
                {k: v.__dict__ if isinstance(v, htap.Load) else v for k, v in r.items()}
                for r in rounds
            ]
        with RESULTS.open("a") as f:
            f.write(json.dumps(record, default=str) + "\n")
    print("\n" + "\n".join(f"- {k}: {v}" for k, v in info.items()))
    print("\n" + "\n".join(lines))
    if htap_lines:
        print("\n" + "\n".join(htap_lines))
    if args.plot:
        plot(HERE / "analytics_scale.svg")
    ro.dispose()
    engine.dispose()


if __name__ == "__main__":
    main()
