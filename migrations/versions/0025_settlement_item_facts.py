"""item-level analytic facts: setl_item_fact, read by the cost report's top items (issue 12)

One row per (settlement, sign, item_code): the item's lines of the settlement summed
(amount, quantity), the settlement's setl_time and the group keys a cost report groups by,
copied from its fact. Written wherever setl_fact is written (2207, 2208, the synthetic
loader, the ingest of imported settlements); a cancel writes the rows negated (sign -1,
same setl_time). Monthly partitions of setl_time with a clustered key that includes it, as
setl_fact; the analyst account reads it through v_setl_item_fact. TiFlash replica where the
cluster has TiFlash.

Settlements written before this migration have no item facts (a cancel of one writes no -1
rows either, so sums stay consistent): the top items of older periods are empty until
`medhtap report backfill-items` (analytics/item_backfill.py) has run. Not done here: one
INSERT ... SELECT over every fee line would be a transaction far above the local store's
key limit (platform/bulk.py), and Alembic runs a migration in one transaction.

Revision ID: 0025
Revises: 0024
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from medhtap.migrations.helpers import log, quote_ident, quote_str, settings, tiflash_stores

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VIEW = "v_setl_item_fact"


def _grant(verb: str) -> None:
    db = quote_ident(settings().database)
    account = f"{quote_str(settings().analyst_user)}@'%'"
    op.execute(f"{verb} SELECT ON {db}.{VIEW} {'TO' if verb == 'GRANT' else 'FROM'} {account}")


def upgrade() -> None:
    op.create_table(
        "setl_item_fact",
        sa.Column("setl_id", sa.String(length=40), nullable=False),
        sa.Column("sign", sa.SmallInteger(), nullable=False),
        sa.Column("item_code", sa.String(length=64), nullable=False),
        sa.Column("setl_time", mysql.DATETIME(fsp=6), nullable=False),
        sa.Column("fixmedins_code", sa.String(length=32), nullable=False),
        sa.Column("hosp_lv", sa.SmallInteger(), nullable=False),
        sa.Column("admdvs", sa.String(length=6), nullable=False),
        sa.Column("insutype", sa.String(length=3), nullable=False),
        sa.Column("med_type", sa.String(length=16), nullable=False),
        sa.Column("dept_name", sa.String(length=64), nullable=False),
        sa.Column("main_diag_code", sa.String(length=16), nullable=False),
        sa.Column("diag_chapter", sa.String(length=8), nullable=False),
        sa.Column("gend", sa.String(length=1), nullable=False),
        sa.Column("age_band", sa.String(length=8), nullable=False),
        sa.Column("det_item_fee_sumamt", sa.DECIMAL(precision=16, scale=2), nullable=False),
        sa.Column("cnt", sa.DECIMAL(precision=16, scale=4), nullable=False),
        sa.PrimaryKeyConstraint(
            "setl_id", "sign", "item_code", "setl_time", name=op.f("pk_setl_item_fact")
        ),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mysql_partition_by="RANGE COLUMNS(setl_time) INTERVAL (1 MONTH) FIRST PARTITION LESS THAN ('2020-01-01') LAST PARTITION LESS THAN ('2028-01-01') MAXVALUE PARTITION",
    )
    op.execute(
        f"CREATE OR REPLACE SQL SECURITY DEFINER VIEW {VIEW} AS SELECT * FROM setl_item_fact"
    )
    _grant("GRANT")
    stores = tiflash_stores()
    if stores:
        op.execute(f"ALTER TABLE setl_item_fact SET TIFLASH REPLICA {min(2, stores)}")
    else:
        log.warning("TiFlash replica of setl_item_fact skipped: the cluster has no TiFlash store")


def downgrade() -> None:
    _grant("REVOKE")
    op.execute(f"DROP VIEW IF EXISTS {VIEW}")
    op.drop_table("setl_item_fact")
