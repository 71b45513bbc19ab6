"""reference data: institutions, catalog, ICD-10, benefit policy

Revision ID: 0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "institution",
        sa.Column("fixmedins_code", sa.String(length=32), nullable=False),
        sa.Column("fixmedins_name", sa.String(length=200), nullable=False),
        sa.Column("hosp_lv", sa.SmallInteger(), nullable=False),
        sa.Column("fixmedins_type", sa.String(length=16), nullable=False),
        sa.Column("admdvs", sa.String(length=6), nullable=False),
        sa.CheckConstraint(
            "fixmedins_type IN ('hospital', 'pharmacy')", name=op.f("ck_institution_fixmedins_type")
        ),
        sa.CheckConstraint("hosp_lv IN (1, 2, 3)", name=op.f("ck_institution_hosp_lv")),
        sa.PrimaryKeyConstraint("fixmedins_code", name=op.f("pk_institution")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.create_index(op.f("ix_institution_admdvs"), "institution", ["admdvs"], unique=False)
    op.create_table(
        "catalog_item",
        sa.Column("item_code", sa.String(length=64), nullable=False),
        sa.Column("item_name", sa.String(length=200), nullable=False),
        sa.Column("item_kind", sa.String(length=16), nullable=False),
        sa.Column("chrgitm_lv", sa.String(length=1), nullable=False),
        sa.Column("selfpay_prop", sa.DECIMAL(precision=6, scale=4), nullable=False),
        sa.Column("pric_uplmt_amt", sa.DECIMAL(precision=16, scale=4), nullable=True),
        sa.Column("gend_lmt", sa.String(length=1), nullable=True),
        sa.Column("age_min", sa.SmallInteger(), nullable=True),
        sa.Column("age_max", sa.SmallInteger(), nullable=True),
        sa.Column("max_qty_per_day", sa.DECIMAL(precision=16, scale=4), nullable=True),
        sa.CheckConstraint(
            "chrgitm_lv IN ('A', 'B', 'C')", name=op.f("ck_catalog_item_chrgitm_lv")
        ),
        sa.CheckConstraint(
            "item_kind IN ('drug', 'service', 'material')", name=op.f("ck_catalog_item_item_kind")
        ),
        sa.CheckConstraint(
            "selfpay_prop >= 0 AND selfpay_prop <= 1", name=op.f("ck_catalog_item_selfpay_prop")
        ),
        sa.PrimaryKeyConstraint("item_code", name=op.f("pk_catalog_item")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.create_table(
        "diagnosis",
        sa.Column("diag_code", sa.String(length=16), nullable=False),
        sa.Column("diag_name", sa.String(length=400), nullable=False),
        sa.Column("chapter", sa.String(length=8), nullable=False),
        sa.Column("block", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("diag_code", name=op.f("pk_diagnosis")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.create_index(op.f("ix_diagnosis_chapter"), "diagnosis", ["chapter"], unique=False)
    op.create_table(
        "policy",
        sa.Column("policy_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("admdvs", sa.String(length=6), nullable=False),
        sa.Column("insutype", sa.String(length=3), nullable=False),
        sa.Column("med_type", sa.String(length=16), nullable=False),
        sa.Column("hosp_lv", sa.SmallInteger(), nullable=False),
        sa.Column("dedc_amt", sa.DECIMAL(precision=16, scale=2), nullable=False),
        sa.Column("dedc_scope", sa.String(length=16), nullable=False),
        sa.Column("pool_prop", sa.DECIMAL(precision=6, scale=4), nullable=False),
        sa.Column("annual_cap", sa.DECIMAL(precision=16, scale=2), nullable=False),
        sa.Column("begndate", sa.Date(), nullable=False),
        sa.Column("enddate", sa.Date(), nullable=True),
        sa.CheckConstraint(
            "dedc_scope IN ('year', 'admission')", name=op.f("ck_policy_dedc_scope")
        ),
        sa.PrimaryKeyConstraint("policy_id", name=op.f("pk_policy")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.create_index(
        "ix_policy_lookup",
        "policy",
        ["admdvs", "insutype", "med_type", "hosp_lv", "begndate"],
        unique=False,
    )
    op.create_table(
        "policy_param",
        sa.Column("param_key", sa.String(length=64), nullable=False),
        sa.Column("admdvs", sa.String(length=6), nullable=False),
        sa.Column("begndate", sa.Date(), nullable=False),
        sa.Column("enddate", sa.Date(), nullable=True),
        sa.Column("value", sa.DECIMAL(precision=16, scale=4), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("param_key", "admdvs", "begndate", name=op.f("pk_policy_param")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )


def downgrade() -> None:
    op.drop_table("policy_param")
    op.drop_index("ix_policy_lookup", table_name="policy")
    op.drop_table("policy")
    op.drop_index(op.f("ix_diagnosis_chapter"), table_name="diagnosis")
    op.drop_table("diagnosis")
    op.drop_table("catalog_item")
    op.drop_index(op.f("ix_institution_admdvs"), table_name="institution")
    op.drop_table("institution")
