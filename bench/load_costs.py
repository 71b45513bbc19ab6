"""What each index and partitioning choice costs on LOAD DATA (issue 12, section 5).

    .venv/bin/python bench/load_costs.py --visits 50000 [--rounds 2]

Generates the synthetic rows of `--visits` settled visits once (analytics/synthetic.py, the
loader's own generator), then loads each table's file with the server's LOAD DATA into a
copy of the table (CREATE TABLE ... LIKE, so the migrated schema: same columns, indexes,
partitions) with one index dropped or the partitioning removed, and times it. Variants of one
table alternate within a round, so a noisy minute hits all of them. Prints a table: seconds,
rows/s, and the cost of each choice as the share of the full table's load time it adds.

Runs in its own database, medhtap_bench_load (migrated and seeded here).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform as stdlib_platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import pymysql
from sqlalchemy import Engine

from medhtap.analytics import synthetic
from medhtap.platform import migrate
from medhtap.platform.db import write_engine
from medhtap.platform.settings import get_settings
from medhtap.schema.seed import seed_reference

DB = "medhtap_bench_load"
# table -> variants: (label, DDL applied to the copy; None = the table as migrated)
VARIANTS: dict[str, list[tuple[str, str | None]]] = {
    "fee_detail": [
        ("as migrated", None),
        ("- ix_fee_detail_item_code", "DROP INDEX ix_fee_detail_item_code"),
        (
            "- uq_fee_detail_mdtrt_id_feedetl_sn (global)",
            "DROP INDEX uq_fee_detail_mdtrt_id_feedetl_sn",
        ),
        ("- partitioning", "REMOVE PARTITIONING"),
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
        ("- partitioning", "REMOVE PARTITIONING"),
    ],
}


def prepare(visits: int, tmp: Path) -> tuple[Engine, dict[str, tuple[Path, int]]]:
    s = get_settings().model_copy(update={"database": DB, "analyst_user": "bench_load_analyst"})
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
        path = tmp / f"{table}.tsv"
        path.write_text("\n".join(rows) + "\n", encoding="utf-8")
        out[table] = (path, len(rows))
    return engine, out


def connect(engine: Engine) -> pymysql.connections.Connection[Any]:
    return synthetic._connect(engine)


def load_once(cur: Any, table: str, ddl: str | None, path: Path) -> float:
    copy = f"lc_{table}"
    cur.execute(f"DROP TABLE IF EXISTS {copy}")
    cur.execute(f"CREATE TABLE {copy} LIKE {table}")
    if ddl:
        cur.execute(f"ALTER TABLE {copy} {ddl}")
    t = time.perf_counter()
    cur.execute(
        f"LOAD DATA LOCAL INFILE %s INTO TABLE {copy} CHARACTER SET utf8mb4 "
        f"FIELDS TERMINATED BY '\\t' LINES TERMINATED BY '\\n' "
        f"({synthetic.TABLE_COLUMNS[table]})",
        (str(path),),
    )
    took = time.perf_counter() - t
    cur.execute(f"DROP TABLE {copy}")
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--visits", type=int, default=50_000)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="medhtap-loadcost-") as tmp:
        engine, files = prepare(args.visits, Path(tmp))
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
