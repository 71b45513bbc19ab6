"""sync_position.part_gtid / part_changes: a big source transaction applied in pieces

A HIS transaction of many rows (a bulk correction, a night job) applied in one TiDB
transaction could pass TiDB's transaction limits and, from 100,000 keys, make the local
store split its region (platform/bulk.py). The sync now applies such a transaction in pieces
of at most MAX_BATCH_ROWS changes, each in its own TiDB transaction with the position: while
a transaction is partly applied, `gtid` stays at the last whole one and `part_gtid` /
`part_changes` say how many of its changes are in; the piece with its last change moves
`gtid` and clears them. A restart skips the changes already applied: still exactly once.

Revision ID: 0024
Revises: 0022
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("sync_position", sa.Column("part_gtid", sa.String(64), nullable=True))
    op.add_column(
        "sync_position",
        sa.Column("part_changes", sa.BigInteger(), server_default="0", nullable=False),
    )


def downgrade() -> None:
    op.drop_column("sync_position", "part_changes")
    op.drop_column("sync_position", "part_gtid")
