"""HIS live sync: snapshot rows/s, and lag behind the source at steady source rates.

    .venv/bin/python bench/sync_bench.py --snapshot-rows 1000000 --rates 200,1000,2000,3000 \
        --seconds 30 --svg bench/sync_lag.svg

Everything runs on this host: a MariaDB HIS of its own (platform/hisdb.py, temp data dir, free
port), the shared TiDB (database medhtap_bench_sync, rebuilt by migrations), the sync.

- snapshot: the HIS is filled with N rows by SQL (services/his/fill.py: patients 5%,
  encounters 15%, main diagnoses 15%, charge lines the rest; insured patients, mapped local
  codes), then stream.snapshot() copies them (consistent snapshot) into a new source: by
  LOAD DATA (`--snapshot-paths load`, what a first snapshot takes, services/sync/snapload.py)
  or by the upserts (`upsert`, forced; what a re-run takes: chunks of snapload.READ_ROWS
  rows, one TiDB transaction each). rows/s = HIS rows read / seconds.
- lag: `medhtap sync run --trace FILE` runs as its own process (as in production); this
  process writes the simulator's live mix (patients, visits, charges, corrections) at each
  rate for --seconds. Lag of a source transaction = the time its TiDB transaction committed
  (the trace) minus the time its COMMIT returned on the HIS (simulate's on_commit), both on
  this host's clock. A rate is sustainable when p99 stays under 2 s (the goal) and the
  simulator reached at least 90% of the rate asked (else the writer, not the sync, was the
  limit).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform as stdlib_platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import text

from medhtap.platform import capabilities, hisdb, migrate
from medhtap.platform.db import write_engine
from medhtap.platform.settings import Settings, get_settings
from medhtap.schema.seed import seed_reference
from medhtap.services.his.fill import fill_his
from medhtap.services.his.simulate import local_items, seed_local_items, simulate
from medhtap.services.settlement.identity import make_certno
from medhtap.services.sync import apply, stream
from medhtap.services.sync.mapping import already_applied, default_mapping, gtid_seqs

DB = "medhtap_bench_sync"
INST = "H11010000001"
PERSONS = 2000
GOAL_P99_S = 2.0
PATHS = ("load", "upsert")


HIS_VERSION: list[str] = []


def his_up(his: hisdb.HisSettings) -> None:
    HIS_VERSION[:] = [hisdb.up(his, say=lambda m: print(f"[his] {m}", file=sys.stderr)).version]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def settings() -> Settings:
    return get_settings().model_copy(update={"database": DB, "analyst_user": "bench_sync_an"})


def prepare(s: Settings) -> list[str]:
    migrate.upgrade(s)
    engine = write_engine(s)
    psn = [f"BSYNC{i:06d}" for i in range(PERSONS)]
    with engine.begin() as conn:
        seed_reference(conn)
        have = conn.execute(
            text("SELECT COUNT(*) FROM insured_person WHERE psn_no LIKE 'BSYNC%'")
        ).scalar_one()
        if have < PERSONS:
            conn.execute(
                text(
                    "INSERT IGNORE INTO insured_person (psn_no, certno, psn_name, gend, brdy,"
                    " insutype, admdvs, acct_balc, psn_status) VALUES (:p, :c, 'Bench', '1',"
                    " '1980-01-01', '390', '110100', 0, 'active')"
                ),
                [
                    {"p": p, "c": make_certno(dt.date(1980, 1, 1), "1", i)}
                    for i, p in enumerate(psn)
                ],
            )
    engine.dispose()
    return psn


def register(s: Settings, his: hisdb.HisSettings) -> apply.Source:
    engine = write_engine(s)
    items = [(loc, nat) for loc, nat, _, _ in local_items(his.name) if nat]
    apply.register(engine, his.name, INST, default_mapping(), items)
    src = apply.load_source(engine, his.name)
    engine.dispose()
    return src


# ---- snapshot ---------------------------------------------------------------------------------


def bench_snapshot(
    s: Settings, base: Path, rows: int, psn: list[str], lanes: int = 0, path: str = "load"
) -> dict[str, Any]:
    """One snapshot of a new source; `path` "load": LOAD DATA (what a first snapshot takes),
    "upsert": the upserts forced (what a re-run takes)."""
    # A source id of its own per run: a new HIS's GTIDs start again at 1.
    his = hisdb.HisSettings(name=f"bs{uuid.uuid4().hex[:6]}", port=free_port(), base_dir=base)
    his_up(his)
    try:
        t = time.perf_counter()
        counts = fill_his(his, rows, psn)
        fill_s = time.perf_counter() - t
        src = register(s, his)
        engine = write_engine(s)
        load = os.getloadavg()[0]
        t = time.perf_counter()
        snap = stream.snapshot(his, engine, src, lanes, load=path == "load")
        secs = time.perf_counter() - t
        with engine.connect() as conn:
            lines = conn.execute(
                text("SELECT COUNT(*) FROM fee_detail WHERE mdtrt_id LIKE :p"),
                {"p": f"{his.name}-E%"},
            ).scalar_one()
        engine.dispose()
    finally:
        hisdb.down(his, say=lambda m: print(f"[his] {m}", file=sys.stderr))
    return {
        "path": snap.path,
        "lanes": lanes or stream.SNAPSHOT_LANES,
        "his_rows": sum(counts.values()),
        "counts": counts,
        "fill_s": round(fill_s, 1),
        "snapshot_s": round(secs, 1),
        "rows_per_s": round(sum(counts.values()) / secs),
        "fee_lines_in_tidb": int(lines),
        "dead_letters": snap.dead,
        "load_before": round(load, 1),
        "load_after": round(os.getloadavg()[0], 1),
    }


# ---- lag --------------------------------------------------------------------------------------


def _caught_up(s: Settings, source: str, gtid: str, bound: float = 300) -> float:
    engine = write_engine(s)
    t = time.monotonic()
    try:
        while time.monotonic() - t < bound:
            pos = apply.position(engine, source)
            if pos is not None and pos.snapshot_done and already_applied(pos.gtid, gtid):
                return time.monotonic() - t
            time.sleep(0.1)
    finally:
        engine.dispose()
    raise TimeoutError(f"sync did not reach {gtid} in {bound} s")


def _his_pos(his: hisdb.HisSettings) -> str:
    with his.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT @@gtid_binlog_pos")
        return str(cur.fetchone()[0])  # type: ignore[index]


def _pct(xs: list[float], q: float) -> float:
    if len(xs) < 2:
        return xs[0] if xs else float("nan")
    return statistics.quantiles(xs, n=1000, method="inclusive")[int(q * 1000) - 1]


def bench_lag(
    s: Settings, base: Path, rates: list[int], seconds: float, psn: list[str]
) -> list[dict[str, Any]]:
    his = hisdb.HisSettings(name=f"bl{uuid.uuid4().hex[:6]}", port=free_port(), base_dir=base)
    his_up(his)
    trace = base / "trace.txt"
    env = {
        **os.environ,
        "MEDHTAP_DATABASE": s.database,
        "MEDHTAP_HIS_NAME": his.name,
        "MEDHTAP_HIS_PORT": str(his.port),
        "MEDHTAP_HIS_BASE_DIR": str(his.base_dir),
    }
    register(s, his)
    seed_local_items(his)
    medhtap = str(Path(sys.executable).with_name("medhtap"))
    sync = subprocess.Popen(
        [medhtap, "sync", "run", "--trace", str(trace)], env=env, stdout=subprocess.DEVNULL
    )
    out = []
    try:
        simulate(his, rate=100, seconds=1, psn_nos=psn, seed=1)  # warm: snapshot, first batches
        _caught_up(s, his.name, _his_pos(his))
        for rate in rates:
            commits: dict[int, float] = {}
            load = os.getloadavg()[0]
            probe = RoundTrips(s)
            probe.start()
            res = simulate(
                his,
                rate=rate,
                seconds=seconds,
                psn_nos=psn,
                seed=rate,
                on_commit=lambda g, t, c=commits: c.__setitem__(
                    next(iter(gtid_seqs(g).values())), t
                ),
            )
            probe.stop.set()
            probe.join()
            catch_up = _caught_up(s, his.name, _his_pos(his))
            applied = _read_trace(trace)
            lags = sorted(applied[q] - t for q, t in commits.items() if q in applied)
            row = {
                "rate": rate,
                "achieved_rows_per_s": round(res.rows / res.seconds),
                "his_txns": len(commits),
                "p50_s": round(_pct(lags, 0.50), 3),
                "p99_s": round(_pct(lags, 0.99), 3),
                "max_s": round(lags[-1], 3) if lags else None,
                "catch_up_s": round(catch_up, 1),
                # the floor in the same seconds: one SELECT 1 round trip to this TiDB
                "tidb_rtt_p50_ms": round(_pct(probe.rtts, 0.50) * 1000, 1),
                "tidb_rtt_p99_ms": round(_pct(probe.rtts, 0.99) * 1000, 1),
                "load_before": round(load, 1),
                "load_after": round(os.getloadavg()[0], 1),
            }
            row["sustainable"] = bool(
                row["p99_s"] < GOAL_P99_S and row["achieved_rows_per_s"] >= 0.9 * rate
            )
            print(json.dumps(row), file=sys.stderr)
            out.append(row)
    finally:
        sync.terminate()
        sync.wait(timeout=60)
        hisdb.down(his, say=lambda m: print(f"[his] {m}", file=sys.stderr))
    return out


class RoundTrips(threading.Thread):
    """SELECT 1 on TiDB every 100 ms while a rate runs: how busy the shared server is."""

    def __init__(self, s: Settings) -> None:
        super().__init__(daemon=True)
        self.engine = write_engine(s)
        self.stop = threading.Event()
        self.rtts: list[float] = []

    def run(self) -> None:
        with self.engine.connect() as conn:
            while not self.stop.wait(0.1):
                t = time.perf_counter()
                conn.execute(text("SELECT 1"))
                self.rtts.append(time.perf_counter() - t)
        self.engine.dispose()


def _read_trace(path: Path) -> dict[int, float]:
    """Sequence number -> when its TiDB transaction committed (first sighting wins)."""
    applied: dict[int, float] = {}
    for line in path.read_text().splitlines():
        gtid, when = line.split()
        seq = int(gtid.rsplit("-", 1)[1])
        applied.setdefault(seq, float(when))
    return applied


# ---- report -----------------------------------------------------------------------------------


def machine(s: Settings, his_version: str) -> dict[str, str]:
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    mem = next((ln.split()[1] for ln in meminfo if ln.startswith("MemTotal")), "0")
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        "?",
    )
    engine = write_engine(s)
    with engine.connect() as conn:
        version = str(conn.execute(text("SELECT VERSION()")).scalar_one())
    caps = capabilities.probe(engine, DB)
    engine.dispose()
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} CPUs ({cpu}), {int(mem) / 1024 / 1024:.1f} GiB RAM, "
        f"{stdlib_platform.system()} {stdlib_platform.machine()}",
        "tidb": version,
        "store": f"{caps.store}, crash_safe={caps.crash_safe}",
        "mariadb": his_version,
    }


def svg(lag: list[dict[str, Any]], path: Path, title: str) -> None:
    import pygal  # the project's chart library (HTML reports); no other dependency

    chart = pygal.XY(
        title=title,
        x_title="source rate asked (rows/s)",
        y_title="lag behind the HIS commit (s)",
        dots_size=4,
    )
    chart.add("p50", [(r["rate"], r["p50_s"]) for r in lag])
    chart.add("p99", [(r["rate"], r["p99_s"]) for r in lag])
    chart.add("goal p99", [(lag[0]["rate"], GOAL_P99_S), (lag[-1]["rate"], GOAL_P99_S)])
    chart.render_to_file(str(path))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--snapshot-rows", type=int, default=1_000_000, help="0: skip")
    ap.add_argument(
        "--snapshot-lanes",
        default="2",
        help="connections writing snapshot chunks; several (1,2): one snapshot each, same run",
    )
    ap.add_argument(
        "--snapshot-paths",
        default="load",
        help="load (a first snapshot: LOAD DATA), upsert (forced, as a re-run); "
        "load,upsert: one snapshot of each, same run",
    )
    ap.add_argument("--rates", default="200,1000,2000,3000")
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--svg", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    if hisdb.mariadb_binaries() is None:
        sys.exit("mariadb-server is not installed (Debian: apt-get install mariadb-server)")
    s = settings()
    psn = prepare(s)
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="medhtap-sync-bench-") as tmp:
        base = Path(tmp)
        if args.snapshot_rows:
            runs = []
            k = 0
            for lanes in (int(x) for x in args.snapshot_lanes.split(",")):
                for path in args.snapshot_paths.split(","):
                    k += 1
                    run = bench_snapshot(s, base / f"snap{k}", args.snapshot_rows, psn, lanes, path)
                    runs.append(run)
                    print(json.dumps(runs[-1]), file=sys.stderr)
            if {r["path"] for r in runs} == {"load", "upsert"}:
                best = {p: max(r["rows_per_s"] for r in runs if r["path"] == p) for p in PATHS}
                result["load_vs_upsert"] = round(best["load"] / best["upsert"], 2)
            result["snapshot"] = runs[0] if len(runs) == 1 else runs
        rates = [int(r) for r in args.rates.split(",") if r]
        if rates:
            result["lag"] = bench_lag(s, base / "lag", rates, args.seconds, psn)
    result["machine"] = machine(s, HIS_VERSION[0] if HIS_VERSION else "?")
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    if args.svg and result.get("lag"):
        svg(result["lag"], args.svg, f"HIS sync lag, {result['machine']['date']}")


if __name__ == "__main__":
    main()
