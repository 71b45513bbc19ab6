"""One batch: which rows are good, and why each bad one is not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from . import checks, identity, money
from .source import Batch
from .spec import TableSpec

# Checks that need whole rows that passed the format checks: money, identity.
ROW_CHECKS = money.CHECKS | {"insured_person": identity.check_persons}


@dataclass
class Checked:
    data: bytes  # the good rows as CSV, for LOAD DATA
    good: int
    rejects: list[dict[str, Any]]
    batch: Batch
    skip: set[int]  # rows of batch.table not loaded (rejected or blank)

    def good_values(self, column: str) -> list[Any]:
        """A column's values in the rows that were loaded."""
        values = self.batch.table.column(column).to_pylist()
        return [v for i, v in enumerate(values) if i not in self.skip]


def check(spec: TableSpec, file: str, b: Batch, catalogs: dict[str, pa.Array]) -> Checked:
    t = b.table
    reasons = checks.new_reasons()
    checks.check_schema(spec, t, reasons)
    checks.check_catalogs(spec, t, catalogs, reasons)
    if spec.name in ROW_CHECKS:
        ok = [True] * t.num_rows
        for i in reasons:
            ok[i] = False
        ROW_CHECKS[spec.name](t, pa.array(ok, pa.bool_()), reasons)
    rejects: list[dict[str, Any]] = [
        {
            "file": file,
            "line": line,
            "table": spec.name,
            "reason": "split: wrong number of columns",
            "row": text,
        }
        for line, text in b.invalid
    ]
    # an empty line (a trailing one, say) is no row: neither loaded nor rejected
    blank = set(_blank_rows(t)) if b.raw is not None else set()
    for i in blank:
        reasons.pop(i, None)
    if reasons:
        bad = sorted(reasons)
        rows = t.take(pa.array(bad, pa.int64())).to_pylist()
        rejects += [
            {
                "file": file,
                "line": b.lines[i],
                "table": spec.name,
                "reason": "; ".join(reasons[i]),
                "row": r,
            }
            for i, r in zip(bad, rows, strict=True)
        ]
        rejects.sort(key=lambda r: r["line"])
    good = t.num_rows - len(reasons) - len(blank)
    if b.raw is not None and not rejects and not blank:
        data = b.raw  # every line is good: send the bytes as they came
    elif b.raw is not None:
        data = _good_lines(b, {r["line"] for r in rejects} | {b.lines[i] for i in blank})
    else:
        keep = (
            t
            if not reasons
            else t.filter(
                pc.invert(pc.is_in(pa.array(range(t.num_rows)), pa.array(sorted(reasons))))
            )
        )
        data = _as_csv(keep)
    return Checked(data, good, rejects, b, set(reasons) | blank)


def _blank_rows(t: pa.Table) -> list[int]:
    if not t.num_columns:
        return []
    empty = None
    for col in t.columns:
        e = pc.equal(pc.utf8_length(col.combine_chunks()), 0)
        empty = e if empty is None else pc.and_(empty, e)
    return pc.indices_nonzero(empty).to_pylist() if t.num_columns > 1 else []


def _good_lines(b: Batch, bad: set[int]) -> bytes:
    assert b.raw is not None
    first = b.end_line - b.size + 1
    lines = b.raw.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    return b"".join(ln + b"\n" for k, ln in enumerate(lines) if first + k not in bad)


def _as_csv(t: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    if t.num_rows:
        pcsv.write_csv(t, sink, pcsv.WriteOptions(include_header=False, quoting_style="needed"))
    return sink.getvalue().to_pybytes()
