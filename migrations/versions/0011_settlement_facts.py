"""analytic facts: setl_fact (one narrow row per settlement, -1 rows for cancels), and the
risk watcher's watermark

Written by the settlement service in the settlement's own transaction (see schema/facts.py
and services/settlement/facts.py); reports and risk rules read it through v_setl_fact.
Monthly partitions of setl_time: report and rule plans are partition-pruned range scans;
one secondary index on recorded_at serves the risk watcher (analytics/watch.py). On a cluster with TiFlash it gets a columnar replica, as the
tables of 0008 do; on the local server that step is skipped.

Revision ID: 0011
Revises: 0009
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from medhtap.migrations.helpers import log, quote_ident, quote_str, settings, tiflash_stores

revision: str = "0011"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY: sa.types.TypeEngine[Any] = sa.DECIMAL(precision=16, scale=2)
SUMS = (
    "medfee_sumamt",
    "fulamt_ownpay_amt",
    "overlmt_selfpay",
    "preselfpay_amt",
    "inscp_scp_amt",
    "act_pay_dedc",
    "hifp_pay",
    "psn_part_amt",
    "acct_pay",
    "psn_cash_pay",
    "drug_amt",
    "material_amt",
    "service_amt",
)


def _account() -> str:
    return f"{quote_str(settings().analyst_user)}@'%'"


def _view() -> str:
    return f"{quote_ident(settings().database)}.v_setl_fact"


def upgrade() -> None:
    op.create_table(
        "setl_fact",
        sa.Column("setl_id", sa.String(length=40), nullable=False),
        sa.Column("sign", sa.SmallInteger(), nullable=False),
        sa.Column("setl_time", mysql.DATETIME(fsp=6), nullable=False),
        sa.Column("recorded_at", mysql.DATETIME(fsp=6), nullable=False),
        sa.Column("rev_setl_id", sa.String(length=40), nullable=True),
        sa.Column("mdtrt_id", sa.String(length=40), nullable=False),
        sa.Column("psn_no", sa.String(length=32), nullable=False),
        sa.Column("fixmedins_code", sa.String(length=32), nullable=False),
        sa.Column("hosp_lv", sa.SmallInteger(), nullable=False),
        sa.Column("admdvs", sa.String(length=6), nullable=False),
        sa.Column("insutype", sa.String(length=3), nullable=False),
        sa.Column("med_type", sa.String(length=16), nullable=False),
        sa.Column("dept_name", sa.String(length=64), nullable=False),
        sa.Column("main_diag_code", sa.String(length=16), nullable=False),
        sa.Column("diag_block", sa.String(length=16), nullable=False),
        sa.Column("diag_chapter", sa.String(length=8), nullable=False),
        sa.Column("gend", sa.String(length=1), nullable=False),
        sa.Column("age", sa.SmallInteger(), nullable=False),
        sa.Column("age_band", sa.String(length=8), nullable=False),
        sa.Column("begntime", sa.DateTime(), nullable=False),
        sa.Column("endtime", sa.DateTime(), nullable=True),
        sa.Column("los_days", sa.SmallInteger(), nullable=True),
        *(sa.Column(name, MONEY, nullable=False) for name in SUMS),
        sa.PrimaryKeyConstraint("setl_id", "sign", "setl_time", name=op.f("pk_setl_fact")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mysql_partition_by="RANGE COLUMNS(setl_time) INTERVAL (1 MONTH) FIRST PARTITION LESS THAN ('2020-01-01') LAST PARTITION LESS THAN ('2028-01-01') MAXVALUE PARTITION",
    )
    op.create_index("ix_setl_fact_recorded_at", "setl_fact", ["recorded_at"], unique=False)
    op.create_table(
        "risk_watermark",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("recorded_at", mysql.DATETIME(fsp=6), nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_risk_watermark")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.execute("CREATE OR REPLACE SQL SECURITY DEFINER VIEW v_setl_fact AS SELECT * FROM setl_fact")
    op.execute(f"GRANT SELECT ON {_view()} TO {_account()}")
    stores = tiflash_stores()
    if stores:
        op.execute(f"ALTER TABLE setl_fact SET TIFLASH REPLICA {min(2, stores)}")
    else:
        log.warning("TiFlash replica of setl_fact skipped: the cluster has no TiFlash store")


def downgrade() -> None:
    op.execute(f"REVOKE SELECT ON {_view()} FROM {_account()}")
    op.execute("DROP VIEW IF EXISTS v_setl_fact")
    op.drop_table("risk_watermark")
    op.drop_index("ix_setl_fact_recorded_at", table_name="setl_fact")
    op.drop_table("setl_fact")
