"""Why LOAD DATA of fee lines is slow, and what makes it faster (issues 15 and 12).

    .venv/bin/python bench/load_speed.py [--rows 100000] [--rounds 2] [--only LABEL,...]
    .venv/bin/python bench/load_speed.py --rows 100000 --profile "as migrated" --seconds 20

Generates `--rows` synthetic fee lines once (analytics/synthetic.py: the loader's own rows,
tab-separated), then loads the same rows with the server's LOAD DATA LOCAL INFILE into a
fresh copy of fee_detail per variant: the table as migrated, or with one choice changed
(partitioning, the global unique index, the item_code index, the clustered key), or the
same table with another statement (IGNORE, REPLACE), session variables, part size, number
of connections or CSV width. Variants alternate order between rounds (a noisy minute hits
all of them); the table shows the median, rows/s, the ratio to the as-migrated baseline of
the same run, and the load average (1 min) before and after each variant's runs.

Every part is one autocommit LOAD DATA (one transaction) of at most --part-keys keys (rows x
keys per row) and under 32 MiB: a bigger transaction makes TiDB pre-split the store's region,
which ends the crash-safe layout of the shared server (platform/bulk.py). Never ALTER TABLE
... REMOVE PARTITIONING (same hazard): the unpartitioned copy is created from SHOW CREATE
TABLE without its PARTITION clause.

--profile LABEL: loads that variant in a loop while the server's status port
(127.0.0.1:10080/debug/pprof/profile) samples its CPU, and prints `go tool pprof -top`.

Runs in its own database, medhtap_loadspeed (migrated, seeded; dropped at the end unless
--keep).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform as stdlib_platform
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymysql

from medhtap.analytics import synthetic
from medhtap.platform import bulk, migrate
from medhtap.platform.db import bulk_connection, write_engine
from medhtap.platform.settings import Settings, get_settings
from medhtap.schema.seed import seed_reference

DB = "medhtap_loadspeed"
TARGET = "ls_fee_detail"
FULL = synthetic.TABLE_COLUMNS["fee_detail"]  # the loader's 14 columns
# the 7 columns a HIS export must have; the other NOT NULL columns get their implicit
# zero value with a warning (a width measurement only, not a way to load)
NARROW = "mdtrt_id,feedetl_sn,item_code,cnt,pric,det_item_fee_sumamt,fee_ocur_time"
PK = "PRIMARY KEY (`mdtrt_id`,`feedetl_sn`,`fee_ocur_time`) /*T![clustered_index] CLUSTERED */"
GLOBAL_UQ = (
    "UNIQUE KEY `uq_fee_detail_mdtrt_id_feedetl_sn` (`mdtrt_id`,`feedetl_sn`) "
    "/*T![global_index] GLOBAL */"
)
Cursor = Any
SETTLE_S = 3.0


def show_create(cur: Cursor) -> str:
    cur.execute("SHOW CREATE TABLE fee_detail")
    ddl = str(cur.fetchone()[1])
    return ddl.replace("CREATE TABLE `fee_detail`", f"CREATE TABLE `{TARGET}`", 1)


def unpartitioned(ddl: str) -> str:
    """The DDL without its PARTITION clause (a unique index of an unpartitioned table is
    unique over the table: GLOBAL does not apply)."""
    ddl = ddl[: ddl.index("\nPARTITION BY")] if "\nPARTITION BY" in ddl else ddl
    return ddl.replace(" /*T![global_index] GLOBAL */", "")


def drop_line(ddl: str, needle: str) -> str:
    lines = ddl.split("\n")
    kept = [ln for ln in lines if needle not in ln]
    assert len(kept) == len(lines) - 1, needle
    body = "\n".join(kept)
    return body.replace(",\n) ENGINE", "\n) ENGINE")


def with_item_code_index(ddl: str) -> str:
    """The DDL with the item_code index that migration 0026 dropped (the schema before)."""
    if "`ix_fee_detail_item_code`" in ddl:
        return ddl
    return ddl.replace(f"{PK},\n", f"{PK},\n  KEY `ix_fee_detail_item_code` (`item_code`),\n", 1)


def keys_per_row(ddl: str) -> int:
    """The keys one row writes: its record, one per index, one more for a primary key that
    is not clustered (the record is then keyed by _tidb_rowid)."""
    body = ddl[: ddl.index(") ENGINE")]
    indexes = sum(1 for ln in body.split("\n") if ln.lstrip().startswith(("KEY ", "UNIQUE KEY ")))
    return 1 + indexes + (1 if "NONCLUSTERED" in body else 0)


@dataclass(frozen=True)
class Table:
    """How the copy is made from fee_detail's own SHOW CREATE TABLE."""

    label: str
    ddl: Callable[[str], str] = lambda d: d


MIGRATED = Table("as migrated")
TABLES = {
    t.label: t
    for t in [
        MIGRATED,
        Table("+ ix_fee_detail_item_code (before 0026)", with_item_code_index),
        Table("no partitioning", unpartitioned),
        Table(
            "global unique -> local unique (+fee_ocur_time)",
            lambda d: d.replace(
                GLOBAL_UQ, "UNIQUE KEY `uq_local` (`mdtrt_id`,`feedetl_sn`,`fee_ocur_time`)"
            ),
        ),
        Table(
            "- global unique (PK only)",
            lambda d: drop_line(d, "`uq_fee_detail_mdtrt_id_feedetl_sn`"),
        ),
        Table(
            "PK only, no partitioning",
            lambda d: unpartitioned(drop_line(d, "`uq_fee_detail_mdtrt_id_feedetl_sn`")),
        ),
        Table("non-clustered PK", lambda d: d.replace(PK, PK.replace("CLUSTERED", "NONCLUSTERED"))),
    ]
}


@dataclass(frozen=True)
class Variant:
    label: str
    table: Table = MIGRATED
    mode: str = ""  # "", "IGNORE", "REPLACE"
    session: tuple[str, ...] = ()  # SET SESSION ... on each connection
    txn: str = ""  # "" = autocommit; else e.g. "BEGIN PESSIMISTIC" around each part
    part_keys: int = bulk.MAX_TXN_KEYS
    lanes: int = 1
    columns: str = FULL
    set_clause: str = ""

    def part_rows(self, keys: int) -> int:
        return max(1, self.part_keys // keys)


BASE = Variant("as migrated")
VARIANTS = [
    BASE,
    *(Variant(label, table) for label, table in TABLES.items() if table is not MIGRATED),
    Variant("LOAD DATA ... IGNORE", mode="IGNORE"),
    Variant("LOAD DATA ... REPLACE", mode="REPLACE"),
    Variant("explicit BEGIN PESSIMISTIC", txn="BEGIN PESSIMISTIC"),
    Variant("explicit BEGIN OPTIMISTIC", txn="BEGIN OPTIMISTIC"),
    Variant("tidb_constraint_check_in_place=ON", session=("tidb_constraint_check_in_place = ON",)),
    Variant("tidb_enable_1pc=OFF (2PC, as on a split store)", session=("tidb_enable_1pc = OFF",)),
    Variant("tidb_dml_type='bulk'", session=("tidb_dml_type = 'bulk'",)),
    Variant(
        "tidb_batch_insert=ON, tidb_dml_batch_size=1000",
        session=("tidb_batch_insert = ON", "tidb_dml_batch_size = 1000"),
    ),
    Variant("parts of 10k keys", part_keys=10_000),
    Variant("parts of 40k keys", part_keys=40_000),
    Variant("2 connections", lanes=2),
    Variant("3 connections", lanes=3),
    Variant("narrow CSV (7 of 14 columns)", columns=NARROW),
    Variant(
        "nullable columns through SET NULLIF(@v, '') (as medhtap ingest)",
        columns=FULL.replace("setl_id", "@v8").replace("ownpay_reason", "@v13"),
        set_clause="SET setl_id = NULLIF(@v8, ''), ownpay_reason = NULLIF(@v13, '')",
    ),
]


@dataclass
class Result:
    times: list[float] = field(default_factory=list)
    load: list[tuple[float, float]] = field(default_factory=list)
    warnings: int = 0


def connect(s: Settings) -> pymysql.connections.Connection[Any]:
    return bulk_connection(s.url(), autocommit=True, read_timeout=900, write_timeout=900)


def make_rows(s: Settings, n: int) -> list[str]:
    """`n` synthetic fee lines, tab-separated in FULL's column order."""
    engine = write_engine(s)
    with engine.begin() as conn:
        seed_reference(conn)
    ref = synthetic.read_reference(engine)
    engine.dispose()
    rows: list[str] = []
    visits = max(100, n // 4)
    start = dt.date.today() - dt.timedelta(days=365 + 21)
    for chunk in synthetic.generate(
        ref, visits=visits, seed=1, start=start, days=365, persons=max(10, visits // 5)
    ):
        rows.extend(chunk.rows["fee_detail"])
        if len(rows) >= n:
            break
    if len(rows) < n:
        raise SystemExit(f"generated only {len(rows):,} fee lines, asked for {n:,}")
    return rows[:n]


def write_parts(rows: list[str], v: Variant, keys: int, root: Path) -> list[Path]:
    keep = len(v.columns.split(","))
    out = root / f"{v.part_rows(keys)}-{keep}"
    if out.is_dir():
        return sorted(out.iterdir())
    out.mkdir()
    paths: list[Path] = []
    for part in bulk.batches(rows, v.part_rows(keys)):
        lines = part if keep == 14 else ["\t".join(r.split("\t")[:keep]) for r in part]
        paths.append(out / f"{len(paths):04d}.tsv")
        paths[-1].write_text("\n".join(lines) + "\n", encoding="utf-8")
        assert paths[-1].stat().st_size < 32 * 2**20  # never a 32 MiB transaction
    return paths


def statement(v: Variant) -> str:
    return (
        f"LOAD DATA LOCAL INFILE %s {v.mode} INTO TABLE {TARGET} CHARACTER SET utf8mb4 "
        f"FIELDS TERMINATED BY '\\t' LINES TERMINATED BY '\\n' ({v.columns}) {v.set_clause}"
    )


def load_once(s: Settings, v: Variant, paths: list[Path], ddl: str) -> tuple[float, int]:
    """Seconds to load every part into a fresh copy, and the server's warnings."""
    conns = [connect(s) for _ in range(v.lanes)]
    try:
        cur0 = conns[0].cursor()
        cur0.execute(f"DROP TABLE IF EXISTS {TARGET}")
        cur0.execute(v.table.ddl(ddl))
        # the server's background work for the DDL (statistics of 97 partitions, the range
        # deletion of the copy dropped before) out of the timed window
        time.sleep(SETTLE_S)
        for conn in conns:
            for assignment in v.session:
                conn.cursor().execute(f"SET SESSION {assignment}")
        todo = list(paths)
        lock = threading.Lock()
        warnings = [0] * v.lanes
        failed: list[BaseException] = []
        sql = statement(v)

        def work(i: int) -> None:
            cur = conns[i].cursor()
            try:
                while True:
                    with lock:
                        if not todo or failed:
                            return
                        path = todo.pop(0)
                    if v.txn:
                        cur.execute(v.txn)
                    cur.execute(sql, (str(path),))
                    warnings[i] += conns[i]._result.warning_count  # type: ignore[attr-defined]  # noqa: SLF001
                    if v.txn:
                        cur.execute("COMMIT")
            except BaseException as exc:  # re-raised in the main thread
                failed.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(v.lanes)]
        t = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        took = time.perf_counter() - t
        if failed:
            raise failed[0]
        cur0.execute(f"SELECT COUNT(*) FROM {TARGET}")
        loaded = int(cur0.fetchone()[0])
        expected = sum(1 for p in paths for _ in p.open("rb"))
        assert loaded == expected, (v.label, loaded, expected)
        cur0.execute(f"DROP TABLE {TARGET}")
        return took, sum(warnings)
    finally:
        for conn in conns:
            conn.close()


def server_info(s: Settings) -> tuple[str, str]:
    conn = connect(s)
    try:
        cur = conn.cursor()
        cur.execute("SELECT tidb_version()")
        info = dict(ln.split(": ", 1) for ln in str(cur.fetchone()[0]).splitlines() if ": " in ln)
        return info.get("Release Version", "?"), info.get("Store", "?")
    finally:
        conn.close()


def machine() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} CPUs, {mem:.1f} GiB, {stdlib_platform.system()} "
        f"{stdlib_platform.machine()}, Python {stdlib_platform.python_version()}"
    )


def profile(s: Settings, v: Variant, paths: list[Path], ddl: str, seconds: int) -> None:
    """The server's CPU profile during one load of `v` (after its DDL has settled; other
    sessions' work on the shared server is in it too)."""
    out = Path(tempfile.mkdtemp(prefix="medhtap-loadspeed-pprof-")) / "cpu.pb.gz"
    took = [0.0]
    th = threading.Thread(target=lambda: took.__setitem__(0, load_once(s, v, paths, ddl)[0]))
    th.start()
    time.sleep(SETTLE_S + 1)
    before = os.getloadavg()[0]
    url = f"http://127.0.0.1:10080/debug/pprof/profile?seconds={seconds}"
    with urllib.request.urlopen(url, timeout=seconds + 60) as r:  # noqa: S310 - local only
        out.write_bytes(r.read())
    after = os.getloadavg()[0]
    th.join()
    rows = sum(1 for p in paths for _ in p.open("rb"))
    print(
        f"profile of {v.label!r}: {seconds} s inside a load of {rows:,} rows that took "
        f"{took[0]:.1f} s ({rows / took[0]:,.0f} rows/s), load avg {before:.1f} -> {after:.1f}; "
        f"{out}"
    )
    go = shutil.which("go") or "go"
    for flags in (["-top", "-nodecount=30"], ["-top", "-cum", "-nodecount=60"]):
        p = subprocess.run([go, "tool", "pprof", *flags, str(out)], capture_output=True, text=True)
        print(p.stdout or p.stderr)


def scale(s: Settings, v: Variant, paths: list[Path], ddl: str) -> None:
    """One load of every part into one copy: rows/s part by part as the table grows."""
    conn = connect(s)
    try:
        cur = conn.cursor()
        cur.execute(f"DROP TABLE IF EXISTS {TARGET}")
        cur.execute(v.table.ddl(ddl))
        time.sleep(SETTLE_S)
        sql, total, t0 = statement(v), 0, time.perf_counter()
        print("| part | rows in table | part s | part rows/s | load avg |\n|---|---|---|---|---|")
        for i, path in enumerate(paths):
            t = time.perf_counter()
            total += int(cur.execute(sql, (str(path),)))
            took = time.perf_counter() - t
            n = sum(1 for _ in path.open("rb"))
            print(
                f"| {i + 1} | {total:,} | {took:.1f} | {n / took:,.0f} | "
                f"{os.getloadavg()[0]:.1f} |",
                flush=True,
            )
        took = time.perf_counter() - t0
        print(f"\n{v.label}: {total:,} rows in {took:.1f} s = {total / took:,.0f} rows/s")
        cur.execute(f"DROP TABLE {TARGET}")
    finally:
        conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument(
        "--only", default="", help="variant labels separated by ; (the baseline always runs)"
    )
    ap.add_argument("--profile", default="", help="a variant label: profile the server instead")
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--scale", default="", help="a variant label: one load of all rows, by part")
    ap.add_argument("--keep", action="store_true", help="keep the database afterwards")
    a = ap.parse_args()
    s = get_settings().model_copy(update={"database": DB, "analyst_user": "loadspeed_analyst"})
    migrate.upgrade(s)
    t = time.perf_counter()
    rows = make_rows(s, a.rows)
    print(f"generated {len(rows):,} fee lines in {time.perf_counter() - t:.0f} s")
    conn = connect(s)
    ddl = show_create(conn.cursor())
    conn.close()
    by_label = {v.label: v for v in VARIANTS}
    root = Path(
        tempfile.mkdtemp(
            prefix="medhtap-loadspeed-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None
        )
    )
    try:
        if a.profile:
            v = by_label[a.profile]
            profile(
                s, v, write_parts(rows, v, keys_per_row(v.table.ddl(ddl)), root), ddl, a.seconds
            )
            return
        if a.scale:
            v = by_label[a.scale]
            scale(s, v, write_parts(rows, v, keys_per_row(v.table.ddl(ddl)), root), ddl)
            return
        chosen = [BASE] + [by_label[x] for x in a.only.split(";") if x and x != BASE.label]
        variants = chosen if a.only else VARIANTS
        keys = {v.label: keys_per_row(v.table.ddl(ddl)) for v in variants}
        files = {v.label: write_parts(rows, v, keys[v.label], root) for v in variants}
        results = {v.label: Result() for v in variants}
        started = dt.datetime.now(dt.UTC)
        for r in range(a.rounds):
            for v in variants if r % 2 == 0 else variants[::-1]:
                before = os.getloadavg()[0]
                took, warnings = load_once(s, v, files[v.label], ddl)
                after = os.getloadavg()[0]
                res = results[v.label]
                res.times.append(took)
                res.load.append((before, after))
                res.warnings = warnings
                print(
                    f"  round {r + 1} {v.label}: {took:.1f} s, {len(rows) / took:,.0f} rows/s, "
                    f"load avg {before:.1f} -> {after:.1f}",
                    flush=True,
                )
        version, store = server_info(s)
        base = statistics.median(results[BASE.label].times)
        print(
            f"\n{started:%Y-%m-%d %H:%M} UTC · {machine()} · TiDB {version} · store {store} · "
            f"{len(rows):,} fee lines · median of {a.rounds} · alternating order\n"
        )
        print(
            "| variant | keys/row | rows/part | conns | s | rows/s | x as migrated "
            "| load avg before -> after |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for v in variants:
            res = results[v.label]
            med = statistics.median(res.times)
            loads = ", ".join(f"{b:.1f}->{e:.1f}" for b, e in res.load)
            note = f" ({res.warnings:,} warnings)" if res.warnings else ""
            print(
                f"| {v.label}{note} | {keys[v.label]} | {v.part_rows(keys[v.label]):,} | {v.lanes} "
                f"| {med:.1f} "
                f"| {len(rows) / med:,.0f} | {base / med:.2f} | {loads} |"
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
        if not a.keep:
            migrate.drop_database(s)


if __name__ == "__main__":
    main()
