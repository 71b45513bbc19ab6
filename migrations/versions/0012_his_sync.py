"""live sync from hospital databases: sources, positions, unified coding, dead letters

Revision ID: 0012
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from medhtap.migrations.helpers import quote_ident, quote_str, settings
from medhtap.schema.base import AUTO_RANDOM

revision: str = "0012"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW6 = sa.text("now(6)")
# Analysts see what a HIS corrected after settlement (data quality), not the raw sync state.
VIEW = "v_data_quality_event"


def _account() -> str:
    return f"{quote_str(settings().analyst_user)}@'%'"


def upgrade() -> None:
    op.create_table(
        "sync_source",
        sa.Column("source_id", sa.String(16), nullable=False),
        sa.Column("fixmedins_code", sa.String(32), nullable=False),
        sa.Column("mapping", sa.JSON(), nullable=False),
        sa.Column("created_at", mysql.DATETIME(fsp=6), server_default=NOW6, nullable=False),
        sa.PrimaryKeyConstraint("source_id", name=op.f("pk_sync_source")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.create_table(
        "sync_position",
        sa.Column("source_id", sa.String(16), nullable=False),
        sa.Column("gtid", sa.String(200), nullable=False),
        sa.Column("snapshot_done", sa.Boolean(), nullable=False),
        sa.Column("source_commit_time", sa.DateTime(), nullable=True),
        sa.Column("applied_at", mysql.DATETIME(fsp=6), server_default=NOW6, nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("source_id", name=op.f("pk_sync_position")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.create_table(
        "sync_item_map",
        sa.Column("source_id", sa.String(16), nullable=False),
        sa.Column("local_item_code", sa.String(32), nullable=False),
        sa.Column("item_code", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("source_id", "local_item_code", name=op.f("pk_sync_item_map")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.create_table(
        "sync_patient",
        sa.Column("source_id", sa.String(16), nullable=False),
        sa.Column("patient_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("psn_no", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("source_id", "patient_id", name=op.f("pk_sync_patient")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.create_table(
        "sync_dead_letter",
        sa.Column("id", sa.BigInteger(), nullable=False, autoincrement=True, info=AUTO_RANDOM),
        sa.Column("source_id", sa.String(16), nullable=False),
        sa.Column("his_table", sa.String(64), nullable=False),
        sa.Column("op", sa.String(8), nullable=False),
        sa.Column("his_key", sa.String(64), nullable=False),
        sa.Column("gtid", sa.String(200), nullable=False),
        sa.Column("reason", sa.String(400), nullable=False),
        sa.Column("row_data", sa.JSON(), nullable=False),
        sa.Column("created_at", mysql.DATETIME(fsp=6), server_default=NOW6, nullable=False),
        sa.Column("replayed_at", mysql.DATETIME(fsp=6), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_dead_letter")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.create_index(
        "ix_sync_dead_letter_source_id_replayed_at",
        "sync_dead_letter",
        ["source_id", "replayed_at"],
    )
    op.create_table(
        "data_quality_event",
        sa.Column("id", sa.BigInteger(), nullable=False, autoincrement=True, info=AUTO_RANDOM),
        sa.Column("source_id", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("his_table", sa.String(64), nullable=False),
        sa.Column("his_key", sa.String(64), nullable=False),
        sa.Column("mdtrt_id", sa.String(40), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("created_at", mysql.DATETIME(fsp=6), server_default=NOW6, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_quality_event")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.create_index("ix_data_quality_event_created_at", "data_quality_event", ["created_at"])
    op.execute(
        f"CREATE OR REPLACE SQL SECURITY DEFINER VIEW {VIEW} AS SELECT id, source_id, kind,"
        " his_table, his_key, mdtrt_id, created_at FROM data_quality_event"
    )
    op.execute(f"GRANT SELECT ON {quote_ident(settings().database)}.{VIEW} TO {_account()}")


def downgrade() -> None:
    op.execute(f"REVOKE SELECT ON {quote_ident(settings().database)}.{VIEW} FROM {_account()}")
    op.execute(f"DROP VIEW IF EXISTS {VIEW}")
    op.drop_index("ix_data_quality_event_created_at", table_name="data_quality_event")
    op.drop_table("data_quality_event")
    op.drop_index("ix_sync_dead_letter_source_id_replayed_at", table_name="sync_dead_letter")
    op.drop_table("sync_dead_letter")
    op.drop_table("sync_patient")
    op.drop_table("sync_item_map")
    op.drop_table("sync_position")
    op.drop_table("sync_source")
