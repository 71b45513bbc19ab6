"""What each index and partitioning choice costs on LOAD DATA (issue 12, section 5).

    .venv/bin/python bench/load_costs.py --visits 50000 [--rounds 2]
    .venv/bin/python bench/load_costs.py --visits 200000 --loader

Generates the synthetic rows of `--visits` settled visits once (analytics/synthetic.py, the
loader's own generator), then loads each table's file with the server's LOAD DATA into a
copy of the table (CREATE TABLE ... LIKE, so the migrated schema: same columns, indexes,
partitions) with one index dropped or the partitioning removed, and times it. Variants of one
table alternate within a round, so a noisy minute hits all of them. Prints a table: seconds,
rows/s, and the cost of each choice as the share of the full table's load time it adds.

--loader: instead, the synthetic loader (load_synthetic: rows made in Python while two
connections load) against the server's LOAD DATA of the same rows from the files, on one
connection and on two, in the same run (issue 12: the loader at >= 0.8x of LOAD DATA).

Every LOAD DATA is in parts of one transaction under the keys at which TiDB would split the
region (platform/bulk.py). Runs in its own database, medhtap_bench_load (dropped, migrated
and seeded here).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform as stdlib_platform
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pymysql
from sqlalchemy import Engine

from medhtap.analytics import synthetic
from medhtap.platform import bulk, migrate
from medhtap.platform.db import write_engine
from medhtap.platform.settings import get_settings
from medhtap.schema.seed import seed_reference

DB = "medhtap_bench_load"
UNPARTITIONED = "no partitioning"  # a variant made by create_unpartitioned, not by ALTER
# table -> variants: (label, DDL applied to the copy; None = the table as migrated)
VARIANTS: dict[str, list[tuple[str, str | None]]] = {
    "fee_detail": [
        ("as migrated", None),
        # ix_fee_detail_item_code is gone (migration 0026; bench/load_speed.py measures it)
        (
            "- uq_fee_detail_mdtrt_id_feedetl_sn (global)",
            "DROP INDEX uq_fee_detail_mdtrt_id_feedetl_sn",
        ),
        ("- partitioning", UNPARTITIONED),
    ],
    "settlement": [
        ("as migrated", None),
        ("- ix_settlement_mdtrt_id", "DROP INDEX ix_settlement_mdtrt_id"),
        ("- ix_settlement_psn_no_setl_time", "DROP INDEX ix_settlement_psn_no_setl_time"),
        (
            "- ix_settlement_fixmedins_code_setl_time",
            "DROP INDEX ix_settlement_fixmedins_code_setl_time",
        ),
        ("- uq_settlement_setl_id (global)", "DROP INDEX uq_settlement_setl_id"),
    ],
    "visit": [
        ("as migrated", None),
        ("- ix_visit_psn_no_begntime", "DROP INDEX ix_visit_psn_no_begntime"),
        ("- ix_visit_fixmedins_code_begntime", "DROP INDEX ix_visit_fixmedins_code_begntime"),
    ],
    "setl_fact": [
        ("as migrated", None),
        ("- ix_setl_fact_recorded_at", "DROP INDEX ix_setl_fact_recorded_at"),
        ("- partitioning", UNPARTITIONED),
    ],
}


def prepare(visits: int, tmp: Path) -> tuple[Engine, dict[str, tuple[list[Path], int]]]:
    s = get_settings().model_copy(update={"database": DB, "analyst_user": "bench_load_analyst"})
    migrate.drop_database(s)  # a fresh one: the loader's rows (seed 1) must not be there yet
    migrate.upgrade(s)
    engine = write_engine(s)
    with engine.begin() as conn:
        seed_reference(conn)
    ref = synthetic.read_reference(engine)
    files: dict[str, list[str]] = {t: [] for t in synthetic.TABLE_COLUMNS}
    days = 365
    start = dt.date.today() - dt.timedelta(days=days + 21)
    for chunk in synthetic.generate(
        ref, visits=visits, seed=1, start=start, days=days, persons=max(10, visits // 5)
    ):
        for table, rows in chunk.rows.items():
            files[table].extend(rows)
    out = {}
    for table, rows in files.items():
        # parts of one transaction each: a bigger LOAD DATA makes TiDB split the region of
        # the shared server (platform/bulk.py)
        paths = []
        for part in bulk.batches(rows, bulk.rows_per_txn(synthetic.TABLES[table])):
            paths.append(tmp / f"{table}.{len(paths):04d}.tsv")
            paths[-1].write_text("\n".join(part) + "\n", encoding="utf-8")
        out[table] = (paths, len(rows))
    return engine, out


def connect(engine: Engine) -> pymysql.connections.Connection[Any]:
    return synthetic._connect(engine)


def load_parts(cur: Any, table: str, target: str, paths: list[Path]) -> None:
    for path in paths:
        cur.execute(
            f"LOAD DATA LOCAL INFILE %s INTO TABLE {target} CHARACTER SET utf8mb4 "
            f"FIELDS TERMINATED BY '\\t' LINES TERMINATED BY '\\n' "
            f"({synthetic.TABLE_COLUMNS[table]})",
            (str(path),),
        )


def create_unpartitioned(cur: Any, table: str, copy: str) -> None:
    """A copy of `table` created without its partitioning. Never `ALTER TABLE ... REMOVE
    PARTITIONING`: that DDL splits the store's region even with split-table = false (seen in
    tidb-server.log, 2026-12-03 14:28 UTC), ending the crash-safe one-region layout of the
    whole server for good (platform/bulk.py)."""
    cur.execute(f"SHOW CREATE TABLE {table}")
    ddl = str(cur.fetchone()[1])
    ddl = ddl[: ddl.index("\nPARTITION BY")] if "\nPARTITION BY" in ddl else ddl
    ddl = ddl.replace(" /*T![global_index] GLOBAL */", "")
    cur.execute(ddl.replace(f"CREATE TABLE `{table}`", f"CREATE TABLE `{copy}`", 1))


def load_once(cur: Any, table: str, ddl: str | None, paths: list[Path]) -> float:
    copy = f"lc_{table}"
    cur.execute(f"DROP TABLE IF EXISTS {copy}")
    if ddl == UNPARTITIONED:
        create_unpartitioned(cur, table, copy)
    else:
        cur.execute(f"CREATE TABLE {copy} LIKE {table}")
    if ddl and ddl != UNPARTITIONED:
        cur.execute(f"ALTER TABLE {copy} {ddl}")
    t = time.perf_counter()
    load_parts(cur, table, copy, paths)
    took = time.perf_counter() - t
    cur.execute(f"DROP TABLE {copy}")
    return took


def server_load_data(engine: Engine, files: dict[str, tuple[list[Path], int]], lanes: int) -> float:
    """The server's LOAD DATA of every table's parts from files into fresh copies, on
    `lanes` connections: the baseline of the loader."""
    conns = [connect(engine) for _ in range(lanes)]
    cur0 = conns[0].cursor()
    for table in files:
        cur0.execute(f"DROP TABLE IF EXISTS lc_{table}")
        cur0.execute(f"CREATE TABLE lc_{table} LIKE {table}")
    todo = [(table, p) for table, (paths, _) in files.items() for p in paths]
    lock = threading.Lock()

    def work(conn: Any) -> None:
        cur = conn.cursor()
        while True:
            with lock:
                if not todo:
                    return
                table, path = todo.pop(0)
            load_parts(cur, table, f"lc_{table}", [path])

    t = time.perf_counter()
    with ThreadPoolExecutor(lanes) as pool:
        list(pool.map(work, conns))
    took = time.perf_counter() - t
    for table in files:
        cur0.execute(f"DROP TABLE lc_{table}")
    for conn in conns:
        conn.close()
    return took


def loader_vs_load_data(
    engine: Engine, files: dict[str, tuple[list[Path], int]], visits: int
) -> None:
    """The synthetic loader (rows made in Python, pipelined, two connections) against the
    server's LOAD DATA of the same rows from files, in the same run."""
    rows = sum(n for _, n in files.values())
    before = os.getloadavg()[0]
    base1 = server_load_data(engine, files, 1)
    base2 = server_load_data(engine, files, 2)
    st = synthetic.load_synthetic(engine, visits=visits, seed=1)
    assert sum(st.rows.values()) == rows, (st.rows, rows)
    print(
        f"\nloader vs LOAD DATA, {visits:,} visits = {rows:,} rows, load avg {before:.1f} -> "
        f"{os.getloadavg()[0]:.1f}\n\n| path | s | rows/s | LOAD DATA (1 connection) / path |\n"
        "|---|---|---|---|"
    )
    for label, secs in (
        ("server LOAD DATA from files, 1 connection", base1),
        ("server LOAD DATA from files, 2 connections", base2),
        (f"synthetic loader (generate {st.generate_s:.0f} s, pipelined, 2 connections)", st.load_s),
    ):
        print(f"| {label} | {secs:.1f} | {rows / secs:,.0f} | {base1 / secs:.2f}x |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--visits", type=int, default=50_000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument(
        "--loader",
        action="store_true",
        help="only the synthetic loader against the server's LOAD DATA of the same rows",
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="medhtap-loadcost-") as tmp:
        engine, files = prepare(args.visits, Path(tmp))
        if args.loader:
            loader_vs_load_data(engine, files, args.visits)
            engine.dispose()
            return
        conn = connect(engine)
        load_before = os.getloadavg()[0]
        times: dict[tuple[str, str], list[float]] = {}
        with conn.cursor() as cur:
            cur.execute("SELECT VERSION()")
            version = cur.fetchone()[0]
            for _ in range(args.rounds):
                for table, variants in VARIANTS.items():
                    for label, ddl in variants:
                        took = load_once(cur, table, ddl, files[table][0])
                        times.setdefault((table, label), []).append(took)
        conn.close()
        engine.dispose()
    print(
        f"\n{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC · {os.cpu_count()} CPUs · "
        f"{stdlib_platform.system()} {stdlib_platform.machine()} · TiDB {version} · "
        f"{args.visits:,} visits · median of {args.rounds} · load avg "
        f"{load_before:.1f} -> {os.getloadavg()[0]:.1f}\n"
    )
    print("| table | rows | variant | LOAD DATA s | rows/s | saves vs as migrated |")
    print("|---|---|---|---|---|---|")
    for table, variants in VARIANTS.items():
        rows = files[table][1]
        full = statistics.median(times[(table, "as migrated")])
        for label, _ in variants:
            t = statistics.median(times[(table, label)])
            saves = "-" if label == "as migrated" else f"{(full - t) / full:+.0%}"
            print(f"| {table} | {rows:,} | {label} | {t:.2f} | {rows / t:,.0f} | {saves} |")


if __name__ == "__main__":
    main()
