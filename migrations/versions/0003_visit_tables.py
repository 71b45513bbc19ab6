"""visits and fee lines (fee_detail partitioned by month)

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "visit",
        sa.Column("mdtrt_id", sa.String(length=40), nullable=False),
        sa.Column("psn_no", sa.String(length=32), nullable=False),
        sa.Column("fixmedins_code", sa.String(length=32), nullable=False),
        sa.Column("med_type", sa.String(length=16), nullable=False),
        sa.Column("dept_name", sa.String(length=64), nullable=False),
        sa.Column("begntime", sa.DateTime(), nullable=False),
        sa.Column("endtime", sa.DateTime(), nullable=True),
        sa.Column("main_diag_code", sa.String(length=16), nullable=False),
        sa.Column("vis_status", sa.String(length=16), nullable=False),
        sa.Column(
            "created_at", mysql.DATETIME(fsp=6), server_default=sa.text("now(6)"), nullable=False
        ),
        sa.CheckConstraint(
            "med_type IN ('outpatient', 'inpatient')", name=op.f("ck_visit_med_type")
        ),
        sa.CheckConstraint("vis_status IN ('open', 'settled')", name=op.f("ck_visit_vis_status")),
        sa.PrimaryKeyConstraint("mdtrt_id", name=op.f("pk_visit")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.create_index(
        "ix_visit_fixmedins_code_begntime", "visit", ["fixmedins_code", "begntime"], unique=False
    )
    op.create_index("ix_visit_psn_no_begntime", "visit", ["psn_no", "begntime"], unique=False)
    op.create_table(
        "fee_detail",
        sa.Column("mdtrt_id", sa.String(length=40), nullable=False),
        sa.Column("feedetl_sn", sa.String(length=30), nullable=False),
        sa.Column("item_code", sa.String(length=64), nullable=False),
        sa.Column("cnt", sa.DECIMAL(precision=16, scale=4), nullable=False),
        sa.Column("pric", sa.DECIMAL(precision=16, scale=4), nullable=False),
        sa.Column("det_item_fee_sumamt", sa.DECIMAL(precision=16, scale=2), nullable=False),
        sa.Column("fee_ocur_time", sa.DateTime(), nullable=False),
        sa.Column("fee_status", sa.String(length=16), nullable=False),
        sa.Column("setl_id", sa.String(length=40), nullable=True),
        sa.Column("fulamt_ownpay_amt", sa.DECIMAL(precision=16, scale=2), nullable=False),
        sa.Column("overlmt_selfpay", sa.DECIMAL(precision=16, scale=2), nullable=False),
        sa.Column("preselfpay_amt", sa.DECIMAL(precision=16, scale=2), nullable=False),
        sa.Column("inscp_scp_amt", sa.DECIMAL(precision=16, scale=2), nullable=False),
        sa.Column("ownpay_reason", sa.String(length=32), nullable=True),
        sa.Column(
            "created_at", mysql.DATETIME(fsp=6), server_default=sa.text("now(6)"), nullable=False
        ),
        sa.CheckConstraint(
            "fee_status IN ('active', 'revoked', 'settled')", name=op.f("ck_fee_detail_fee_status")
        ),
        sa.PrimaryKeyConstraint(
            "mdtrt_id", "feedetl_sn", "fee_ocur_time", name=op.f("pk_fee_detail")
        ),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mysql_partition_by="RANGE COLUMNS(fee_ocur_time) INTERVAL (1 MONTH) FIRST PARTITION LESS THAN ('2020-01-01') LAST PARTITION LESS THAN ('2028-01-01') MAXVALUE PARTITION",
    )
    op.create_index("ix_fee_detail_item_code", "fee_detail", ["item_code"], unique=False)
    # GLOBAL: unique across every monthly partition (TiDB global index).
    op.execute(
        "ALTER TABLE fee_detail ADD UNIQUE INDEX uq_fee_detail_mdtrt_id_feedetl_sn (mdtrt_id, feedetl_sn) /*T![global_index] GLOBAL */"
    )


def downgrade() -> None:
    op.drop_index("uq_fee_detail_mdtrt_id_feedetl_sn", table_name="fee_detail")
    op.drop_index("ix_fee_detail_item_code", table_name="fee_detail")
    op.drop_table("fee_detail")
    op.drop_index("ix_visit_psn_no_begntime", table_name="visit")
    op.drop_index("ix_visit_fixmedins_code_begntime", table_name="visit")
    op.drop_table("visit")
