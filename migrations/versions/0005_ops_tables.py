"""audit log and risk alerts

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from medhtap.schema.base import AUTO_RANDOM

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), nullable=False, autoincrement=True, info=AUTO_RANDOM),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column(
            "created_at", mysql.DATETIME(fsp=6), server_default=sa.text("now(6)"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.create_index("ix_audit_log_created_at", "audit_log", ["created_at"], unique=False)
    op.create_index(
        "ix_audit_log_entity_entity_id", "audit_log", ["entity", "entity_id"], unique=False
    )
    op.create_table(
        "risk_alert",
        sa.Column("id", sa.BigInteger(), nullable=False, autoincrement=True, info=AUTO_RANDOM),
        sa.Column("rule_code", sa.String(length=32), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("psn_no", sa.String(length=32), nullable=True),
        sa.Column("fixmedins_code", sa.String(length=32), nullable=True),
        sa.Column("mdtrt_id", sa.String(length=40), nullable=True),
        sa.Column("score", sa.DECIMAL(precision=16, scale=4), nullable=False),
        sa.Column("summary", sa.String(length=400), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("alert_status", sa.String(length=16), nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column(
            "detected_at", mysql.DATETIME(fsp=6), server_default=sa.text("now(6)"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_alert")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.create_index("ix_risk_alert_psn_no", "risk_alert", ["psn_no"], unique=False)
    op.create_index(
        "ix_risk_alert_rule_code_dedupe_key", "risk_alert", ["rule_code", "dedupe_key"], unique=True
    )
    op.create_index(
        "ix_risk_alert_status_detected_at",
        "risk_alert",
        ["alert_status", "detected_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_risk_alert_status_detected_at", table_name="risk_alert")
    op.drop_index("ix_risk_alert_rule_code_dedupe_key", table_name="risk_alert")
    op.drop_index("ix_risk_alert_psn_no", table_name="risk_alert")
    op.drop_table("risk_alert")
    op.drop_index("ix_audit_log_entity_entity_id", table_name="audit_log")
    op.drop_index("ix_audit_log_created_at", table_name="audit_log")
    op.drop_table("audit_log")
