"""insured persons, yearly accumulators, account ledger

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from medhtap.schema.base import AUTO_RANDOM

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "insured_person",
        sa.Column("psn_no", sa.String(length=32), nullable=False),
        sa.Column("certno", sa.String(length=18), nullable=False),
        sa.Column("psn_name", sa.String(length=64), nullable=False),
        sa.Column("gend", sa.String(length=1), nullable=False),
        sa.Column("brdy", sa.Date(), nullable=False),
        sa.Column("insutype", sa.String(length=3), nullable=False),
        sa.Column("admdvs", sa.String(length=6), nullable=False),
        sa.Column("acct_balc", sa.DECIMAL(precision=16, scale=2), nullable=False),
        sa.Column("psn_status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("gend IN ('1', '2', '9')", name=op.f("ck_insured_person_gend")),
        sa.CheckConstraint("insutype IN ('310', '390')", name=op.f("ck_insured_person_insutype")),
        sa.CheckConstraint(
            "psn_status IN ('active', 'suspended')", name=op.f("ck_insured_person_psn_status")
        ),
        sa.CheckConstraint("acct_balc >= 0", name=op.f("ck_insured_person_acct_balc")),
        sa.PrimaryKeyConstraint("psn_no", name=op.f("pk_insured_person")),
        sa.UniqueConstraint("certno", name=op.f("uq_insured_person_certno")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.create_index(op.f("ix_insured_person_admdvs"), "insured_person", ["admdvs"], unique=False)
    op.create_table(
        "person_year_accumulator",
        sa.Column("psn_no", sa.String(length=32), nullable=False),
        sa.Column("year", sa.SmallInteger(), nullable=False),
        sa.Column("med_type", sa.String(length=16), nullable=False),
        sa.Column("dedc_used", sa.DECIMAL(precision=16, scale=2), nullable=False),
        sa.Column("hifp_paid", sa.DECIMAL(precision=16, scale=2), nullable=False),
        sa.Column("setl_cnt", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "psn_no", "year", "med_type", name=op.f("pk_person_year_accumulator")
        ),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.create_table(
        "account_ledger",
        sa.Column("id", sa.BigInteger(), nullable=False, autoincrement=True, info=AUTO_RANDOM),
        sa.Column("psn_no", sa.String(length=32), nullable=False),
        sa.Column("setl_id", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.DECIMAL(precision=16, scale=2), nullable=False),
        sa.Column("balance_after", sa.DECIMAL(precision=16, scale=2), nullable=False),
        sa.Column(
            "created_at", mysql.DATETIME(fsp=6), server_default=sa.text("now(6)"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_ledger")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.create_index(
        "ix_account_ledger_psn_no_created_at",
        "account_ledger",
        ["psn_no", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_account_ledger_psn_no_created_at", table_name="account_ledger")
    op.drop_table("account_ledger")
    op.drop_table("person_year_accumulator")
    op.drop_index(op.f("ix_insured_person_admdvs"), table_name="insured_person")
    op.drop_table("insured_person")
