"""What an export file may contain, read from the models: one place for types, lengths,
required columns and allowed values, so the checks and the column docs cannot drift."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    DECIMAL,
    CheckConstraint,
    Date,
    DateTime,
    Integer,
    Numeric,
    SmallInteger,
    String,
)
from sqlalchemy import Column as SaColumn
from sqlalchemy import Table as SaTable

from medhtap.schema.base import Base, table
from medhtap.schema.person import InsuredPerson
from medhtap.schema.settlement import Settlement
from medhtap.schema.visit import FeeDetail, Visit
from medhtap.services.settlement import rules

from .errors import IngestError


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # str, decimal, int, date, datetime
    required: bool
    length: int = 0  # str: characters
    digits: int = 0  # decimal: digits before the point; int: at most this many digits
    scale: int = 0  # decimal: digits after the point; datetime: fractional second digits
    allowed: tuple[str, ...] = ()  # from an `x IN (...)` check constraint
    nonneg: bool = False  # from an `x >= 0` check constraint

    def describe(self) -> str:
        t = {
            "str": f"text, at most {self.length} characters",
            "decimal": f"decimal, {self.digits} digits and {self.scale} after the point",
            "int": f"integer, at most {self.digits} digits",
            "date": "date YYYY-MM-DD",
            "datetime": "YYYY-MM-DD HH:MM:SS" + (f"[.{'f' * self.scale}]" if self.scale else ""),
        }[self.kind]
        if self.allowed:
            t += ": one of " + ", ".join(self.allowed)
        if self.nonneg:
            t += ", not negative"
        return t


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[Column, ...]
    natural_key: tuple[str, ...]
    catalogs: tuple[tuple[str, str], ...]  # (column, catalog) that must hold a known code
    aliases: tuple[str, ...]  # file names (stems) that mean this table
    table: SaTable

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


_IN = re.compile(r"^\s*(\w+)\s+IN\s*\((.*)\)\s*$", re.S)
_NONNEG = re.compile(r"^\s*(\w+)\s*>=\s*0\s*$")


def _constraints(t: SaTable) -> tuple[dict[str, tuple[str, ...]], set[str]]:
    allowed: dict[str, tuple[str, ...]] = {}
    nonneg: set[str] = set()
    for c in t.constraints:
        if not isinstance(c, CheckConstraint):
            continue
        sql = str(c.sqltext)
        if m := _IN.match(sql):
            allowed[m[1]] = tuple(v.strip().strip("'") for v in m[2].split(","))
        elif m := _NONNEG.match(sql):
            nonneg.add(m[1])
    return allowed, nonneg


def _column(col: SaColumn[Any], allowed: dict[str, tuple[str, ...]], nonneg: set[str]) -> Column:
    name, typ, required = col.name, col.type, not col.nullable
    kw: dict[str, Any] = {"allowed": allowed.get(name, ()), "nonneg": name in nonneg}
    if isinstance(typ, DECIMAL):
        p, s = int(typ.precision or 10), int(typ.scale or 0)
        return Column(name, "decimal", required, digits=p - s, scale=s, **kw)
    if isinstance(typ, Integer):  # SmallInteger too: the schema's values fit 4 digits
        return Column(name, "int", required, digits=4 if isinstance(typ, SmallInteger) else 9, **kw)
    if isinstance(typ, DateTime):  # mysql.DATETIME(fsp=6) is one
        return Column(name, "datetime", required, scale=int(getattr(typ, "fsp", 0) or 0), **kw)
    if isinstance(typ, Date):
        return Column(name, "date", required, **kw)
    if isinstance(typ, String):
        return Column(name, "str", required, length=int(typ.length or 0), **kw)
    raise TypeError(f"no import rule for {name}: {typ!r}")


def _spec(
    model: type[Base],
    key: tuple[str, ...],
    catalogs: tuple[tuple[str, str], ...],
    aliases: tuple[str, ...],
) -> TableSpec:
    t = table(model)
    allowed, nonneg = _constraints(t)
    cols = tuple(
        _column(c, allowed, nonneg)
        for c in t.columns
        # created_at is the server's, not the export's; the fund columns' default (0.00, for
        # rows written before the fund split) must not stand in for a history's own figures
        if c.server_default is None or isinstance(c.type, Numeric)
    )
    return TableSpec(t.name, cols, key, catalogs, aliases, t)


# In load order: a visit's person, a line's visit, a settlement's visit come first.
TABLES: dict[str, TableSpec] = {
    s.name: s
    for s in (
        _spec(InsuredPerson, ("psn_no",), (), ("persons", "person", "insured_person")),
        _spec(
            Visit,
            ("mdtrt_id",),
            (
                ("fixmedins_code", "institution"),
                ("main_diag_code", "diagnosis"),
                ("dscg_maindiag_code", "diagnosis"),
            ),
            ("visits", "visit"),
        ),
        _spec(
            FeeDetail,
            ("mdtrt_id", "feedetl_sn"),
            (("item_code", "catalog_item"),),
            ("fee_lines", "fee_line", "fees", "fee_detail", "fee_details"),
        ),
        _spec(
            Settlement,
            ("setl_id",),
            (("fixmedins_code", "institution"),),
            ("settlements", "settlement"),
        ),
    )
}

# The reference table and column each catalog check reads.
CATALOGS = {
    "catalog_item": ("catalog_item", "item_code"),
    "institution": ("institution", "fixmedins_code"),
    "diagnosis": ("diagnosis", "diag_code"),  # ICD-10
}


def table_for(stem: str, explicit: str | None = None) -> TableSpec:
    """The target of a file: `--table`, else the file name (`fee_lines_2019.csv` -> fee_detail)."""
    name = (explicit or stem).lower()
    if explicit and name in TABLES:
        return TABLES[name]
    for spec in TABLES.values():
        if any(
            name == a or name.startswith(a + "_") or name.startswith(a + "-") for a in spec.aliases
        ):
            return spec
    if explicit:
        for spec in TABLES.values():
            if name in spec.aliases:
                return spec
    raise IngestError(
        f"cannot tell the table of {stem!r}: name it persons*, visits*, fee_lines*, "
        "settlements* or pass --table",
        code="INGEST_UNKNOWN_TABLE",
    )


def columns_markdown() -> str:
    """The documented input columns (docs/ingest-columns.md is this text)."""
    out = [
        "# Bulk import: input columns",
        "",
        "Generated from the models by `medhtap ingest --columns`; do not edit by hand.",
        'CSV: UTF-8, a header row naming the columns (any order), comma-separated, `"` quotes,',
        "one row per line. An empty field is NULL. Parquet: the same column names, any types",
        "that print as the text below (strings, decimals, integers, dates, timestamps).",
        "",
    ]
    for spec in TABLES.values():
        out += [
            f"## {spec.name}",
            "",
            f"Files named {', '.join(a + '*' for a in spec.aliases)}. "
            f"Natural key: ({', '.join(spec.natural_key)}).",
            "",
            "| column | required | format | must exist in |",
            "|---|---|---|---|",
        ]
        cats = dict(spec.catalogs)
        for c in spec.columns:
            cat = CATALOGS[cats[c.name]] if c.name in cats else None
            where = f"`{cat[0]}.{cat[1]}`" if cat else ""
            out.append(f"| `{c.name}` | {'yes' if c.required else ''} | {c.describe()} | {where} |")
        out.append("")
    out += [
        "## Money checks (services/settlement/rules.py)",
        "",
        "- fee_detail: `det_item_fee_sumamt = line_amount(cnt, pric)` (ROUND_HALF_UP to 0.01).",
        "- fee_detail, `fee_status` settled: "
        + ", ".join(f"`{rules.sum_label(t, p)}`" for t, p in rules.line_sums("settled"))
        + "; any other status: "
        + ", ".join(f"`{rules.sum_label(t, p)}`" for t, p in rules.line_sums("active"))
        + ".",
        "- settlement: "
        + ", ".join(f"`{rules.sum_label(t, p)}`" for t, p in rules.SETTLEMENT_SUMS)
        + ".",
        "",
    ]
    return "\n".join(out)
