"""national interface: the message log of the envelope endpoint (issue 14)

Revision ID: 0018
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0018"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "national_message",
        sa.Column("inf_refmsgid", sa.String(32), nullable=False),
        sa.Column("msgid", sa.String(64), nullable=True),
        sa.Column("infno", sa.String(8), nullable=True),
        sa.Column("fixmedins_code", sa.String(32), nullable=True),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("recv_time", mysql.DATETIME(fsp=6), nullable=False),
        sa.Column("infcode", sa.SmallInteger(), nullable=False),
        sa.Column("err_code", sa.String(64), nullable=True),
        sa.Column("replay", sa.Boolean(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("inf_refmsgid", name=op.f("pk_national_message")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.create_index(
        "ix_national_message_fixmedins_code_msgid",
        "national_message",
        ["fixmedins_code", "msgid"],
    )
    op.create_index("ix_national_message_recv_time", "national_message", ["recv_time"])


def downgrade() -> None:
    op.drop_table("national_message")
