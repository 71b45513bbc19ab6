"""Declarative base shared by every MedHTAP table."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, cast

from sqlalchemy import DECIMAL, MetaData, String, Table
from sqlalchemy.dialects import mysql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, mapped_column
from sqlalchemy.schema import CreateColumn, CreateTable

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Money is DECIMAL(16,2) everywhere: yuan with fen, never a float.
Money = Annotated[Decimal, mapped_column(DECIMAL(16, 2), nullable=False, default=Decimal("0.00"))]
Ratio = Annotated[Decimal, mapped_column(DECIMAL(6, 4), nullable=False)]
Code = Annotated[str, mapped_column(String(32))]
# Microsecond timestamps: settlement order within a second matters to audits.
DATETIME6 = mysql.DATETIME(fsp=6)

TABLE_ARGS = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def PARTITION_BY_MONTH(column: str) -> dict[str, str]:  # noqa: N802 - reads like a constant
    """Table args for TiDB INTERVAL partitioning: one partition per month, 2020 to 2027,
    then MAXVALUE. Operations extend it yearly with `ALTER TABLE t LAST PARTITION LESS THAN`."""
    return {
        **TABLE_ARGS,
        "mysql_partition_by": f"RANGE COLUMNS({column}) INTERVAL (1 MONTH) "
        "FIRST PARTITION LESS THAN ('2020-01-01') LAST PARTITION LESS THAN ('2028-01-01') "
        "MAXVALUE PARTITION",
    }


# Column.info marker: render the key as TiDB AUTO_RANDOM instead of AUTO_INCREMENT, so
# high-insert tables spread their writes over TiKV regions rather than one hot region.
AUTO_RANDOM: dict[str, Any] = {"auto_random_bits": 5}


@compiles(CreateColumn, "mysql")
def _render_auto_random(element: CreateColumn, compiler: Any, **kw: Any) -> str:
    ddl: str = compiler.visit_create_column(element, **kw)
    bits = element.element.info.get("auto_random_bits")
    if bits:
        # The /*T![auto_rand] */ comment form is executed by TiDB only.
        ddl = ddl.replace("AUTO_INCREMENT", f"/*T![auto_rand] AUTO_RANDOM({bits}) */")
    return ddl


@compiles(CreateTable, "mysql")
def _strip_trailing_whitespace(element: CreateTable, compiler: Any, **kw: Any) -> str:
    # TiDB (v8.5 line) re-reads an INTERVAL partition clause from the statement text and
    # fails with "Can't find INTERVAL definition" when whitespace follows it; SQLAlchemy
    # ends CREATE TABLE with blank lines.
    ddl: str = compiler.visit_create_table(element, **kw)
    return ddl.rstrip()


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def table(model: type[Base]) -> Table:
    """A model's Core table, typed as `Table` (SQLAlchemy types `__table__` as FromClause)."""
    return cast(Table, model.__table__)
