"""Bulk import: `medhtap ingest` of N fee lines vs the server's own LOAD DATA of the same
rows, in the same run.

    .venv/bin/python bench/ingest_bench.py [--fee-lines 1000000] [--rounds 1] [--write]

A fresh database (medhtap_bench_ingest), migrated and seeded; one CSV export of N synthetic
fee lines (analytics/synthetic.py, read only). Each round, in alternating order:
- LOAD DATA: `LOAD DATA LOCAL INFILE ... IGNORE INTO TABLE` a fresh copy of fee_detail
  (CREATE TABLE ... LIKE: same partitions and indexes), the same column mapping the import
  uses, autocommit, in parts of load.rows_per_txn rows (one statement of the whole file
  would make TiDB split the shared server's region, platform/bulk.py): the server's own
  bulk path, no checks; on one connection ("load"), and on two ("load x2").
- ingest: the `medhtap ingest` command (a subprocess: start-up, hashing, every check, the
  reject file, the checkpoint per batch) into the emptied fee_detail.
Also, on the first `--insert-rows` rows: the same rows as multi-row INSERTs (pymysql
executemany, 1,000 rows a statement) vs LOAD DATA, the two write paths the import could use.
--write appends the table to bench/README.md under "Ingest".
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import platform as stdlib_platform
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from medhtap.platform import migrate
from medhtap.platform.capabilities import probe
from medhtap.platform.db import write_engine
from medhtap.platform.settings import Settings, get_settings
from medhtap.schema.seed import seed_reference
from medhtap.services.ingest import load, samples, spec

README = Path(__file__).with_name("README.md")
FEE = spec.TABLES["fee_detail"]


def loadavg() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def machine() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} CPUs, {mem:.1f} GiB, {stdlib_platform.system()} "
        f"{stdlib_platform.machine()}, Python {stdlib_platform.python_version()}"
    )


def fresh_copy(cur: Any, name: str) -> None:
    cur.execute(f"DROP TABLE IF EXISTS {name}")
    cur.execute(f"CREATE TABLE {name} LIKE fee_detail")


def split_file(path: Path, rows: int) -> list[Path]:
    """The file's rows (no header) in parts of `rows` lines, in tmpfs when there is one."""
    shm = Path("/dev/shm")
    out_dir = Path(
        tempfile.mkdtemp(prefix="medhtap-ingest-parts-", dir=shm if shm.is_dir() else None)
    )
    parts: list[Path] = []
    with path.open("rb") as f:
        f.readline()
        while chunk := [ln for _, ln in zip(range(rows), f, strict=False)]:
            parts.append(out_dir / f"part{len(parts):04d}.csv")
            parts[-1].write_bytes(b"".join(chunk))
    return parts


def server_load_data(
    s: Settings, parts: list[Path], columns: list[str], target: str, lanes: int = 1
) -> float:
    """The server's own LOAD DATA ... IGNORE of the parts, autocommit, on `lanes`
    connections. In parts of load.rows_per_txn rows: one statement of 1M lines would make
    TiDB split the region of the shared server (platform/bulk.py)."""
    conns = [load.connect(s) for _ in range(lanes)]
    try:
        for conn in conns:
            conn.autocommit(True)
            conn.cursor().execute("SET SESSION tidb_txn_mode = DEFAULT")  # as a DBA's session
        fresh_copy(conns[0].cursor(), target)
        todo = list(parts)
        lock = threading.Lock()

        def work(conn: Any) -> None:
            cur = conn.cursor()
            while True:
                with lock:
                    if not todo:
                        return
                    part = todo.pop(0)
                sql = load.load_statement(FEE, columns, str(part), False)
                cur.execute(sql.replace("INTO TABLE `fee_detail`", f"INTO TABLE `{target}`"))

        t = time.perf_counter()
        with ThreadPoolExecutor(lanes) as pool:
            list(pool.map(work, conns))
        return time.perf_counter() - t
    finally:
        for conn in conns:
            conn.close()


def ingest(s: Settings, path: Path, rejects: Path) -> tuple[float, str]:
    conn = load.connect(s)
    try:
        cur = conn.cursor()
        cur.execute("TRUNCATE TABLE fee_detail")
        cur.execute("DELETE FROM ingest_checkpoint")
        conn.commit()
    finally:
        conn.close()
    env = os.environ | {"MEDHTAP_DATABASE": s.database}
    cmd = [sys.executable, "-c", "from medhtap.services.cli import app; app()", "ingest"]
    t = time.perf_counter()
    p = subprocess.run(
        [*cmd, str(path), "--rejects-dir", str(rejects)], env=env, capture_output=True, text=True
    )
    took = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(p.stdout + p.stderr)
    line = next((ln for ln in p.stderr.splitlines() if "write path" in ln), "")
    return took, line.split("write path:", 1)[-1].strip()


def count_rows(s: Settings, table: str) -> int:
    conn = load.connect(s)
    try:
        cur = conn.cursor()
        cur.execute(f"SELECT COUNT(*) FROM `{table}`")
        return int(cur.fetchone()[0])
    finally:
        conn.close()


def insert_vs_load(s: Settings, path: Path, columns: list[str], rows: int) -> tuple[float, float]:
    sub = path.with_name("fee_lines_head.csv")
    with path.open(newline="") as f, sub.open("w", newline="") as g:
        r, w = csv.reader(f), csv.writer(g, lineterminator="\n")
        data = [next(r)] + [row for _, row in zip(range(rows), r, strict=False)]
        w.writerows(data)
    load_s = server_load_data(
        s, split_file(sub, load.rows_per_txn(FEE)), columns, "fee_detail_head_load"
    )
    conn = load.connect(s)
    try:
        cur = conn.cursor()
        conn.autocommit(True)
        fresh_copy(cur, "fee_detail_head_insert")
        cols = ", ".join(columns)
        marks = ", ".join(["%s"] * len(columns))
        sql = f"INSERT IGNORE INTO fee_detail_head_insert ({cols}) VALUES ({marks})"
        values = [[v if v != "" else None for v in row] for row in data[1:]]
        t = time.perf_counter()
        for i in range(0, len(values), 1000):
            cur.executemany(sql, values[i : i + 1000])
        insert_s = time.perf_counter() - t
    finally:
        conn.close()
    return load_s, insert_s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--fee-lines", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--insert-rows", type=int, default=100_000)
    ap.add_argument("--write", action="store_true", help="append the result to bench/README.md")
    ap.add_argument("--keep", action="store_true", help="keep the database afterwards")
    a = ap.parse_args()
    s = get_settings().model_copy(
        update={"database": "medhtap_bench_ingest", "analyst_user": "analyst_bench_ingest"}
    )
    migrate.upgrade(s)
    engine = write_engine(s)
    with engine.begin() as conn:
        seed_reference(conn)
    caps = probe(engine, s.database)
    tmp = Path(tempfile.mkdtemp(prefix="medhtap-ingest-bench-"))
    t = time.perf_counter()
    path = samples.write_exports(engine, tmp, visits=a.fee_lines, seed=901, fee_lines=a.fee_lines)[
        "fee_detail"
    ]
    print(
        f"generated {a.fee_lines:,} fee lines ({path.stat().st_size / 2**20:.0f} MiB) "
        f"in {time.perf_counter() - t:.0f} s"
    )
    columns = path.open().readline().strip().split(",")
    parts = split_file(path, load.rows_per_txn(FEE))
    results: list[tuple[str, float, str]] = []
    how = ""
    for r in range(a.rounds):
        order = ["load", "load x2", "ingest"]
        order = order if r % 2 == 0 else order[::-1]
        for what in order:
            before = loadavg()
            if what == "ingest":
                secs, how = ingest(s, path, tmp / "rejects")
            else:
                lanes = 2 if what == "load x2" else 1
                secs = server_load_data(s, parts, columns, "fee_detail_loaddata", lanes)
            landed = count_rows(s, "fee_detail" if what == "ingest" else "fee_detail_loaddata")
            if landed != a.fee_lines:  # a fast run that lost rows is not a result
                raise SystemExit(f"{what}: {landed:,} of {a.fee_lines:,} fee lines in the table")
            results.append((what, secs, f"{before} -> {loadavg()}"))
            print(
                f"round {r + 1} {what}: {secs:.1f} s "
                f"({a.fee_lines / secs:,.0f} rows/s), load {before}"
            )
    n_ins = min(a.insert_rows, a.fee_lines)
    head_load, head_insert = insert_vs_load(s, path, columns, n_ins)
    engine.dispose()
    if not a.keep:
        migrate.drop_database(s)
    best = {w: min(x[1] for x in results if x[0] == w) for w in ("load", "load x2", "ingest")}
    best_lo, best_in = best["load"], best["ingest"]
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    per_round = len(results) // a.rounds
    rows = [
        f"| {w} (round {i // per_round + 1}) | {secs:.1f} s | {a.fee_lines / secs:,.0f} | {la} |"
        for i, (w, secs, la) in enumerate(results)
    ]
    text = "\n".join(
        [
            f"### {a.fee_lines:,} fee lines ({now})",
            "",
            f"Machine: {machine()}; TiDB {caps.version}, store {caps.store}, on the same cores.",
            f"Write path used by `medhtap ingest`: {how}.",
            "",
            "| run | time | rows/s | load average before -> after |",
            "|---|---|---|---|",
            *rows,
            "",
            f"ingest / LOAD DATA (rows/s, best of each): **{best_lo / best_in:.2f}x** "
            f"(goal >= 0.8x); ingest {best_in:.0f} s, the server's own LOAD DATA {best_lo:.0f} s "
            f"(on two connections {best['load x2']:.0f} s: ingest / that "
            f"{best['load x2'] / best_in:.2f}x)"
            + (
                f"; goal 1M under 60 s: {'met' if best_in < 60 else 'not met'}."
                if a.fee_lines >= 1_000_000
                else "."
            ),
            f"Write paths on the first {n_ins:,} rows: LOAD DATA {n_ins / head_load:,.0f} rows/s, "
            f"multi-row INSERT (executemany, 1,000 a statement) {n_ins / head_insert:,.0f} rows/s.",
            "",
        ]
    )
    print(text)
    if a.write:
        body = README.read_text()
        if "\n## Ingest\n" not in body:
            body = body.rstrip("\n") + (
                "\n\n## Ingest\n\n`bench/ingest_bench.py`: `medhtap ingest` of N fee lines (every "
                "check, reject file, checkpoint per batch) vs the server's own LOAD DATA of the "
                "same rows into a fresh copy of the table, same run, alternating order.\n"
                "Rerun: `.venv/bin/python bench/ingest_bench.py --fee-lines 1000000 --write`.\n"
            )
        README.write_text(body.rstrip("\n") + "\n\n" + text)


if __name__ == "__main__":
    main()
