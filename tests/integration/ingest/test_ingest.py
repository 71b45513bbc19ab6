"""`medhtap ingest` on the real TiDB: planted bad rows of every kind, a Ctrl-C and a
kill -9 in the middle of files, resume, re-run. The tables must end up holding the good
rows exactly once and the reject files must list exactly the planted rows."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
from sqlalchemy import Engine, text

from medhtap.platform.settings import Settings
from medhtap.services.ingest import samples
from medhtap.services.ingest.spec import TABLES, TableSpec

SEED = 731  # ids carry the seed: no other test's synthetic rows share them
PARQUET_SEED = 732


def _env(settings: Settings) -> dict[str, str]:
    return os.environ | {"MEDHTAP_DATABASE": settings.database, "COLUMNS": "120"}


def ingest_cmd(files: list[Path], *extra: str) -> list[str]:
    code = "from medhtap.services.cli import app; app()"
    return [sys.executable, "-c", code, "ingest", *map(str, files), *extra]


def run_ingest(settings: Settings, files: list[Path], *extra: str) -> str:
    p = subprocess.run(
        ingest_cmd(files, *extra), env=_env(settings), capture_output=True, text=True, timeout=300
    )
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout + p.stderr


def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def write_rows(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


# ---- planted bad rows: (table, what to change, reason the reject must give) -----------------


def _fee(row: dict[str, str], n: int) -> dict[str, str]:
    return row | {"feedetl_sn": f"BAD{n:04d}"}  # a key no good row has


FEE_PLANTS: list[tuple[str, Any]] = [
    ("required", lambda r, n: _fee(r, n) | {"item_code": ""}),
    ("too_long", lambda r, n: r | {"feedetl_sn": "X" * 31}),
    ("bad_decimal", lambda r, n: _fee(r, n) | {"cnt": "1,5"}),
    ("bad_decimal", lambda r, n: _fee(r, n) | {"pric": "12.34567"}),  # more places than kept
    ("bad_datetime", lambda r, n: _fee(r, n) | {"fee_ocur_time": "2024-02-30 10:00:00"}),
    ("not_allowed", lambda r, n: _fee(r, n) | {"fee_status": "paid"}),
    ("unknown_catalog_item", lambda r, n: _fee(r, n) | {"item_code": "NOPE000001"}),
    (
        "money: breaks det_item_fee_sumamt = line_amount",
        lambda r, n: (
            _fee(r, n)
            | {"det_item_fee_sumamt": str(Decimal(r["det_item_fee_sumamt"]) + Decimal("0.01"))}
        ),
    ),
    (
        "money: breaks det_item_fee_sumamt = fulamt_ownpay_amt",
        lambda r, n: (
            _fee(r, n) | {"inscp_scp_amt": str(Decimal(r["inscp_scp_amt"]) + Decimal("0.01"))}
        ),
    ),
]
VISIT_PLANTS: list[tuple[str, Any]] = [
    ("unknown_institution", lambda r, n: r | {"mdtrt_id": f"BADV{n}", "fixmedins_code": "H0"}),
    ("unknown_diagnosis", lambda r, n: r | {"mdtrt_id": f"BADV{n}", "main_diag_code": "Z99.99"}),
    ("bad_datetime", lambda r, n: r | {"mdtrt_id": f"BADV{n}", "begntime": "2024-13-01 00:00:00"}),
]
SETTLEMENT_PLANTS: list[tuple[str, Any]] = [
    (
        "money: breaks psn_part_amt = acct_pay + psn_cash_pay",
        lambda r, n: (
            r | {"setl_id": f"BADS{n}", "psn_cash_pay": str(Decimal(r["psn_cash_pay"]) + 1)}
        ),
    ),
    ("bad_int", lambda r, n: r | {"setl_id": f"BADS{n}", "hosp_lv": "two"}),
]
PERSON_PLANTS: list[tuple[str, Any]] = [
    ("negative", lambda r, n: r | {"psn_no": f"BADP{n}", "acct_balc": "-1.00"}),
    ("bad_date", lambda r, n: r | {"psn_no": f"BADP{n}", "brdy": "1990-02-29"}),
    # the id-card number as the API checks it: its check digit, then its gender
    ("invalid_certno", lambda r, n: r | {"psn_no": f"BADP{n}", "certno": _bad_digit(r["certno"])}),
    ("invalid_certno", lambda r, n: r | {"psn_no": f"BADP{n}", "gend": _other(r["gend"])}),
]


def _bad_digit(certno: str) -> str:
    last = certno[-1]
    return certno[:-1] + ("0" if last != "0" else "1")


def _other(gend: str) -> str:
    return "2" if gend == "1" else "1"


PLANTS = {
    "insured_person": PERSON_PLANTS,
    "visit": VISIT_PLANTS,
    "fee_detail": FEE_PLANTS,
    "settlement": SETTLEMENT_PLANTS,
}


def plant(path: Path, plants: list[tuple[str, Any]]) -> tuple[list[list[str]], dict[int, str]]:
    """Insert bad rows spread through the file; the good rows, and line -> expected reason."""
    header, rows = read_rows(path)
    good = [list(r) for r in rows]
    out: list[list[str]] = []
    expected: dict[int, str] = {}
    step = max(1, len(rows) // (len(plants) + 1))
    todo = list(enumerate(plants))
    for i, row in enumerate(rows):
        out.append(row)
        if todo and i % step == step - 1:
            n, (reason, change) = todo.pop(0)
            bad = change(dict(zip(header, row, strict=True)), n)
            out.append([bad[c] for c in header])
            expected[len(out) + 1] = reason  # the header is line 1
    if path.name.startswith("fee_lines"):
        out.append(["only", "three", "fields"])  # does not split into the header's columns
        expected[len(out) + 1] = "split: wrong number of columns"
    write_rows(path, header, out)
    return good, expected


# ---- the database side ---------------------------------------------------------------------


def _value(spec: TableSpec, name: str, v: Any) -> Any:
    c = spec.column(name)
    if v is None or v == "":
        return None
    if c.kind == "decimal":
        return Decimal(v)
    if c.kind == "int":
        return int(v)
    if c.kind == "date":
        return v if isinstance(v, dt.date) else dt.date.fromisoformat(v)
    if c.kind == "datetime":
        return v if isinstance(v, dt.datetime) else dt.datetime.fromisoformat(v)
    return v


def expected_rows(
    spec: TableSpec, header: list[str], rows: list[list[str]]
) -> set[tuple[Any, ...]]:
    cols = [c.name for c in spec.columns]
    return {
        tuple(_value(spec, c, dict(zip(header, r, strict=True)).get(c)) for c in cols) for r in rows
    }


def table_rows(engine: Engine, spec: TableSpec, key: str, like: str) -> list[tuple[Any, ...]]:
    cols = [c.name for c in spec.columns]
    with engine.connect() as conn:
        got = conn.execute(
            text(f"SELECT {', '.join(cols)} FROM {spec.name} WHERE {key} LIKE :p"), {"p": like}
        ).all()
    return [tuple(_value(spec, c, v) for c, v in zip(cols, r, strict=True)) for r in got]


KEYS = {  # a column carrying the seed in every synthetic row, and its pattern
    "insured_person": ("psn_no", f"SY{SEED:03d}P%"),
    "visit": ("mdtrt_id", f"%S{SEED:03d}V%"),
    "fee_detail": ("mdtrt_id", f"%S{SEED:03d}V%"),
    "settlement": ("mdtrt_id", f"%S{SEED:03d}V%"),
}


def checkpoint(engine: Engine, table: str) -> dict[str, Any] | None:
    """Where this test's file of `table` stands, over its lanes."""
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT MAX(line_no) AS line_no, SUM(rows_loaded) AS rows_loaded, "
                "MAX(done) AS done FROM ingest_checkpoint "
                "WHERE target_table = :t AND file_name LIKE :f GROUP BY content_sha256"
            ),
            {"t": table, "f": f"%ingest{SEED}%"},
        ).first()
    return dict(row._mapping) if row else None


def rejects(path: Path) -> dict[int, str]:
    text_ = path.read_text(encoding="utf-8") if path.exists() else ""
    out: dict[int, str] = {}
    for line in text_.splitlines():
        r = json.loads(line)
        assert r["file"] == str(path.with_name(path.name.removesuffix(".rejects.jsonl")))
        assert r["line"] not in out, f"line {r['line']} rejected twice"
        out[r["line"]] = r["reason"]
    return out


def wait_for(pred: Any, timeout: float, what: str) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if v := pred():
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


# ---- the test ------------------------------------------------------------------------------


class TestImportInterruptedResumedRerun:
    def test_good_rows_once_and_exactly_the_planted_rejects(
        self, settings: Settings, engine: Engine, tmp_path: Path
    ) -> None:
        # Given exports of 300 synthetic visits with bad rows planted in every file
        d = tmp_path / f"ingest{SEED}"
        paths = samples.write_exports(engine, d, visits=300, seed=SEED)
        good: dict[str, tuple[list[str], list[list[str]]]] = {}
        planted: dict[str, dict[int, str]] = {}
        for t, p in paths.items():
            header = read_rows(p)[0]
            rows, planted[t] = plant(p, PLANTS[t])
            good[t] = (header, rows)
        files = list(paths.values())
        small = ["--batch-mb", "0.015", "--pause", "0.3"]  # many batches, time to interrupt

        # When the import gets Ctrl-C while loading visits ...
        proc = subprocess.Popen(
            ingest_cmd(files, *small), env=_env(settings), stderr=subprocess.PIPE
        )
        wait_for(lambda: (checkpoint(engine, "visit") or {}).get("line_no"), 60, "visits")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert b"interrupted" in err
        # ... and a kill -9 in the middle of the fee lines
        proc = subprocess.Popen(ingest_cmd(files, *small), env=_env(settings))
        cp = wait_for(
            lambda: (c := checkpoint(engine, "fee_detail")) and c["line_no"] > 0 and c,
            120,
            "fee lines under way",
        )
        proc.kill()
        proc.wait(timeout=30)
        cp = checkpoint(engine, "fee_detail")
        assert cp is not None and not cp["done"]
        total = len(good["fee_detail"][1]) + len(planted["fee_detail"])
        assert 0 < cp["line_no"] - 1 < total, "killed mid-file"
        # the rows and the position were committed together
        assert (
            len(table_rows(engine, TABLES["fee_detail"], *KEYS["fee_detail"])) == cp["rows_loaded"]
        )

        # Then resuming finishes the job ...
        out = run_ingest(settings, files)
        assert "LOAD DATA LOCAL INFILE" in out  # the write path is said
        for t, (header, rows) in good.items():
            spec = TABLES[t]
            got = table_rows(engine, spec, *KEYS[t])
            assert len(got) == len(rows), f"{t}: {len(got)} rows, {len(rows)} good ones"
            assert set(got) == expected_rows(spec, header, rows), t
            got_rejects = rejects(paths[t].with_name(paths[t].name + ".rejects.jsonl"))
            assert set(got_rejects) == set(planted[t]), t
            for line, reason in planted[t].items():
                assert reason in got_rejects[line], (t, line, got_rejects[line])

        # ... and running it again, or on a copy of the same bytes, loads nothing
        before = {t: sorted(table_rows(engine, TABLES[t], *KEYS[t])) for t in good}
        reject_text = {
            t: (p.parent / (p.name + ".rejects.jsonl")).read_text() for t, p in paths.items()
        }
        run_ingest(settings, files)
        copy = d / "fee_lines_copy.csv"
        # other bytes (a blank line more, which is no row): a new import of the same rows
        copy.write_bytes(paths["fee_detail"].read_bytes() + b"\n")
        out = run_ingest(settings, [copy])
        assert {t: sorted(table_rows(engine, TABLES[t], *KEYS[t])) for t in good} == before
        for t, p in paths.items():
            assert (p.parent / (p.name + ".rejects.jsonl")).read_text() == reject_text[t]
        with engine.connect() as conn:
            again = conn.execute(
                text(
                    "SELECT SUM(rows_loaded), SUM(rows_present), SUM(rows_rejected) "
                    "FROM ingest_checkpoint WHERE file_name LIKE :f"
                ),
                {"f": "%fee_lines_copy.csv"},
            ).one()
        assert tuple(again) == (0, len(good["fee_detail"][1]), len(planted["fee_detail"]))


class TestParquet:
    def test_typed_parquet_loads_good_rows_and_rejects_by_row_number(
        self, settings: Settings, engine: Engine, tmp_path: Path
    ) -> None:
        # Given a Parquet export with real types (decimals, timestamps) and two bad rows
        paths = samples.write_exports(engine, tmp_path, visits=80, seed=PARQUET_SEED)
        spec = TABLES["fee_detail"]
        types = {
            c.name: pa.decimal128(16, c.scale)
            if c.kind == "decimal"
            else pa.timestamp("s")
            if c.kind == "datetime"
            else pa.string()
            for c in spec.columns
        }
        t = pcsv.read_csv(
            paths["fee_detail"], convert_options=pcsv.ConvertOptions(column_types=types)
        )
        rows = t.to_pylist()
        rows[3]["det_item_fee_sumamt"] += Decimal("1.00")  # money
        rows[10]["item_code"] = "NOPE000002"  # catalog
        bad = {4: "money: breaks det_item_fee_sumamt", 11: "unknown_catalog_item"}
        target = tmp_path / "fee_lines.parquet"
        pq.write_table(pa.Table.from_pylist(rows, schema=t.schema), target, row_group_size=25)

        # When it is imported in small batches, twice
        run_ingest(settings, [target], "--batch-rows", "20")
        run_ingest(settings, [target], "--batch-rows", "20")

        # Then the good rows are there once, and the rejects name the bad rows
        good = [r for i, r in enumerate(rows, 1) if i not in bad]
        want = {tuple(_value(spec, c.name, r.get(c.name)) for c in spec.columns) for r in good}
        got = table_rows(engine, spec, "mdtrt_id", f"%S{PARQUET_SEED:03d}V%")
        assert len(got) == len(good) and set(got) == want
        got_rejects = rejects(tmp_path / "fee_lines.parquet.rejects.jsonl")
        assert set(got_rejects) == set(bad)
        for line, reason in bad.items():
            assert reason in got_rejects[line]


class TestBadFiles:
    def test_unknown_columns_refuse_the_file_before_anything_loads(
        self, settings: Settings, tmp_path: Path
    ) -> None:
        f = tmp_path / "visits.csv"
        f.write_text("mdtrt_id,nonsense\nV1,x\n")
        p = subprocess.run(ingest_cmd([f]), env=_env(settings), capture_output=True, text=True)
        assert p.returncode == 2
        assert "INGEST_BAD_HEADER" in p.stderr and "nonsense" in p.stderr

    def test_a_file_of_no_known_table_is_refused(self, settings: Settings, tmp_path: Path) -> None:
        f = tmp_path / "whatever.csv"
        f.write_text("a\n1\n")
        p = subprocess.run(ingest_cmd([f]), env=_env(settings), capture_output=True, text=True)
        assert p.returncode == 2 and "INGEST_UNKNOWN_TABLE" in p.stderr
