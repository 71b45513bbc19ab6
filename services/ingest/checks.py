"""Row checks of one batch against the schema and the catalogs, vectorised with pyarrow
compute: each check is a boolean mask over the batch; only failing rows reach Python."""

from __future__ import annotations

from collections import defaultdict

import pyarrow as pa
import pyarrow.compute as pc

from .spec import Column, TableSpec

Reasons = dict[int, list[str]]  # row index in the batch -> why it is rejected


def _mask_or(a: pa.Array | None, b: pa.Array) -> pa.Array:
    return b if a is None else pc.or_(a, b)


def add(reasons: Reasons, mask: pa.Array, why: str) -> None:
    """Record `why` for every row where `mask` is true (null counts as false)."""
    for i in pc.indices_nonzero(pc.fill_null(mask, False)).to_pylist():
        reasons[i].append(why)


def _format_mask(c: Column, v: pa.Array) -> pa.Array | None:
    """True where a non-empty value does not have the column's format."""
    if c.kind == "decimal":
        frac = f"(\\.[0-9]{{1,{c.scale}}})?" if c.scale else ""
        pattern = f"^-?[0-9]{{1,{c.digits}}}{frac}$"
    elif c.kind == "int":
        pattern = f"^-?[0-9]{{1,{c.digits}}}$"
    elif c.kind == "date":
        pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
    elif c.kind == "datetime":
        # more fractional digits than the column keeps would be rounded by the server
        frac = f"(\\.[0-9]{{1,{c.scale}}})?" if c.scale else "(\\.0{1,6})?"
        pattern = f"^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}} [0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}{frac}$"
    else:
        return None
    bad = pc.invert(pc.match_substring_regex(v, pattern))
    if c.kind in ("date", "datetime"):
        # the calendar: strptime is lenient (Feb 30 -> Mar 1), so print it back and compare
        n = 10 if c.kind == "date" else 19
        fmt = "%Y-%m-%d" if c.kind == "date" else "%Y-%m-%d %H:%M:%S"
        head = pc.utf8_slice_codeunits(v, 0, n)
        parsed = pc.strptime(head, format=fmt, unit="s", error_is_null=True)
        back = pc.strftime(parsed, format=fmt)
        bad = pc.or_(bad, pc.fill_null(pc.not_equal(back, head), True))
    return bad


def check_schema(spec: TableSpec, batch: pa.Table, reasons: Reasons) -> None:
    for c in spec.columns:
        if c.name not in batch.column_names:
            continue  # an optional column the file leaves out: NULL
        v = batch.column(c.name).combine_chunks()
        empty = pc.equal(pc.utf8_length(v), 0)
        if c.required:
            add(reasons, empty, f"required: {c.name} is empty")
        present = pc.invert(empty)
        if c.kind == "str":
            add(
                reasons, pc.greater(pc.utf8_length(v), c.length), f"too_long: {c.name} > {c.length}"
            )
        elif (bad := _format_mask(c, v)) is not None:
            add(reasons, pc.and_(present, bad), f"bad_{c.kind}: {c.name} ({c.describe()})")
        if c.allowed:
            out = pc.invert(pc.is_in(v, value_set=pa.array(c.allowed)))
            add(
                reasons,
                pc.and_(present, out),
                f"not_allowed: {c.name} not in {', '.join(c.allowed)}",
            )
        if c.nonneg:
            add(reasons, pc.starts_with(v, "-"), f"negative: {c.name}")


def check_catalogs(
    spec: TableSpec, batch: pa.Table, catalogs: dict[str, pa.Array], reasons: Reasons
) -> None:
    for column, catalog in spec.catalogs:
        if column not in batch.column_names:
            continue  # an optional column the file leaves out
        v = batch.column(column).combine_chunks()
        unknown = pc.and_(
            pc.greater(pc.utf8_length(v), 0), pc.invert(pc.is_in(v, value_set=catalogs[catalog]))
        )
        add(reasons, unknown, f"unknown_{catalog}: {column}")


def new_reasons() -> Reasons:
    return defaultdict(list)
