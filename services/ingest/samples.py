"""Export files made from the synthetic city (analytics/synthetic.py), as a hospital's
history would arrive: one CSV per table with a header. Used by the benchmark and tests."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

from sqlalchemy import Engine

from medhtap.analytics import synthetic

FILES = {
    "insured_person": "persons.csv",
    "visit": "visits.csv",
    "fee_detail": "fee_lines.csv",
    "settlement": "settlements.csv",
}


def write_exports(
    engine: Engine, out: Path, *, visits: int, seed: int, fee_lines: int | None = None
) -> dict[str, Path]:
    """CSV exports of `visits` synthetic visits (or as many as give `fee_lines` lines)."""
    ref = synthetic.read_reference(engine)
    out.mkdir(parents=True, exist_ok=True)
    paths = {t: out / name for t, name in FILES.items()}
    files = {t: p.open("w", newline="", encoding="utf-8") for t, p in paths.items()}
    writers = {t: csv.writer(f, lineterminator="\n") for t, f in files.items()}
    for t, w in writers.items():
        w.writerow(synthetic.COLUMN_LISTS[t])
    lines = 0
    try:
        for chunk in synthetic.generate(
            ref,
            visits=visits,
            seed=seed,
            start=dt.date(2024, 1, 1),
            days=365,
            persons=max(10, (visits if fee_lines is None else fee_lines // 4) // 5),
            chunk_visits=2_000,
        ):
            for t, w in writers.items():
                rows = chunk.rows[t]
                if t == "fee_detail" and fee_lines is not None:
                    rows = rows[: max(0, fee_lines - lines)]
                    lines += len(rows)
                w.writerows(["" if v == synthetic.NULL else v for v in r.split("\t")] for r in rows)
            if fee_lines is not None and lines >= fee_lines:
                break
    finally:
        for f in files.values():
            f.close()
    return paths
