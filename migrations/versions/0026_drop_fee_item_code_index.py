"""fee_detail: drop ix_fee_detail_item_code (no plan reads it; it costs every fee-line load)

Measured with bench/load_speed.py (bench/README.md, "LOAD DATA speed of fee lines"): the
same fee lines load 1.17x-1.51x faster without it, in three runs of 100,000-200,000 lines,
quiet and contended. No query reads it: the settlement, the sync and the review read a
visit's lines through the global unique index (the FEE_BY_VISIT hint, which also keeps the
review's `item_code IN (...)` on it), and the analytics (cost_top_items,
risk_duplicate_charge, risk_restricted_items) scan the partitions of a fee_ocur_time range
and join the catalog by its primary key (EXPLAIN on 45,921 lines with statistics, 2026-12-04).
Constraints are unchanged: the primary key and the global unique (mdtrt_id, feedetl_sn).
Each fee line now writes two keys, so a LOAD DATA part holds twice the rows under
bulk.MAX_TXN_KEYS.

Revision ID: 0026
Revises: 0025
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_fee_detail_item_code", table_name="fee_detail")


def downgrade() -> None:
    op.create_index("ix_fee_detail_item_code", "fee_detail", ["item_code"], unique=False)
