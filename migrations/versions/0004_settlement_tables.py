"""settlements (partitioned by month), idempotency, reconciliation

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "settlement",
        sa.Column("setl_id", sa.String(length=40), nullable=False),
        sa.Column("setl_type", sa.String(length=16), nullable=False),
        sa.Column("setl_status", sa.String(length=16), nullable=False),
        sa.Column("orig_setl_id", sa.String(length=40), nullable=True),
        sa.Column("mdtrt_id", sa.String(length=40), nullable=False),
        sa.Column("psn_no", sa.String(length=32), nullable=False),
        sa.Column("fixmedins_code", sa.String(length=32), nullable=False),
        sa.Column("insutype", sa.String(length=3), nullable=False),
        sa.Column("med_type", sa.String(length=16), nullable=False),
        sa.Column("hosp_lv", sa.Integer(), nullable=False),
        sa.Column("setl_time", mysql.DATETIME(fsp=6), nullable=False),
        sa.Column("cancel_time", mysql.DATETIME(fsp=6), nullable=True),
        sa.Column("medfee_sumamt", sa.DECIMAL(precision=16, scale=2), nullable=False),
        sa.Column("fulamt_ownpay_amt", sa.DECIMAL(precision=16, scale=2), nullable=False),
        sa.Column("overlmt_selfpay", sa.DECIMAL(precision=16, scale=2), nullable=False),
        sa.Column("preselfpay_amt", sa.DECIMAL(precision=16, scale=2), nullable=False),
        sa.Column("inscp_scp_amt", sa.DECIMAL(precision=16, scale=2), nullable=False),
        sa.Column("act_pay_dedc", sa.DECIMAL(precision=16, scale=2), nullable=False),
        sa.Column("hifp_pay", sa.DECIMAL(precision=16, scale=2), nullable=False),
        sa.Column("pool_prop_selfpay", sa.DECIMAL(precision=6, scale=4), nullable=False),
        sa.Column("psn_part_amt", sa.DECIMAL(precision=16, scale=2), nullable=False),
        sa.Column("acct_pay", sa.DECIMAL(precision=16, scale=2), nullable=False),
        sa.Column("psn_cash_pay", sa.DECIMAL(precision=16, scale=2), nullable=False),
        sa.Column("acct_balc_after", sa.DECIMAL(precision=16, scale=2), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("policy_id", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "setl_status IN ('settled', 'cancelled', 'reversal')",
            name=op.f("ck_settlement_setl_status"),
        ),
        sa.CheckConstraint(
            "setl_type IN ('normal', 'reversal')", name=op.f("ck_settlement_setl_type")
        ),
        sa.PrimaryKeyConstraint("setl_id", "setl_time", name=op.f("pk_settlement")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mysql_partition_by="RANGE COLUMNS(setl_time) INTERVAL (1 MONTH) FIRST PARTITION LESS THAN ('2020-01-01') LAST PARTITION LESS THAN ('2028-01-01') MAXVALUE PARTITION",
    )
    op.create_index(
        "ix_settlement_fixmedins_code_setl_time",
        "settlement",
        ["fixmedins_code", "setl_time"],
        unique=False,
    )
    op.create_index("ix_settlement_mdtrt_id", "settlement", ["mdtrt_id"], unique=False)
    op.create_index(
        "ix_settlement_psn_no_setl_time", "settlement", ["psn_no", "setl_time"], unique=False
    )
    # GLOBAL: unique across every monthly partition (TiDB global index).
    op.execute(
        "ALTER TABLE settlement ADD UNIQUE INDEX uq_settlement_setl_id (setl_id) /*T![global_index] GLOBAL */"
    )
    op.create_table(
        "idempotency_record",
        sa.Column("idem_key", sa.String(length=160), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column(
            "created_at", mysql.DATETIME(fsp=6), server_default=sa.text("now(6)"), nullable=False
        ),
        sa.PrimaryKeyConstraint("idem_key", name=op.f("pk_idempotency_record")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.create_table(
        "reconciliation",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("fixmedins_code", sa.String(length=32), nullable=False),
        sa.Column("stmt_date", sa.Date(), nullable=False),
        sa.Column("ins_setl_cnt", sa.Integer(), nullable=False),
        sa.Column("ins_medfee_sumamt", sa.DECIMAL(precision=16, scale=2), nullable=False),
        sa.Column("ins_hifp_pay", sa.DECIMAL(precision=16, scale=2), nullable=False),
        sa.Column("ins_acct_pay", sa.DECIMAL(precision=16, scale=2), nullable=False),
        sa.Column("plt_setl_cnt", sa.Integer(), nullable=False),
        sa.Column("plt_medfee_sumamt", sa.DECIMAL(precision=16, scale=2), nullable=False),
        sa.Column("plt_hifp_pay", sa.DECIMAL(precision=16, scale=2), nullable=False),
        sa.Column("plt_acct_pay", sa.DECIMAL(precision=16, scale=2), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column(
            "created_at", mysql.DATETIME(fsp=6), server_default=sa.text("now(6)"), nullable=False
        ),
        sa.CheckConstraint(
            "result IN ('match', 'mismatch')", name=op.f("ck_reconciliation_result")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.create_index(
        "ix_reconciliation_fixmedins_code_stmt_date",
        "reconciliation",
        ["fixmedins_code", "stmt_date"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_reconciliation_fixmedins_code_stmt_date", table_name="reconciliation")
    op.drop_table("reconciliation")
    op.drop_table("idempotency_record")
    op.drop_index("uq_settlement_setl_id", table_name="settlement")
    op.drop_index("ix_settlement_psn_no_setl_time", table_name="settlement")
    op.drop_index("ix_settlement_mdtrt_id", table_name="settlement")
    op.drop_index("ix_settlement_fixmedins_code_setl_time", table_name="settlement")
    op.drop_table("settlement")
