"""setl_fact: index (psn_no, setl_time), for recounting the persons of new facts

A cost report's persons (a distinct count) used to be counted from a year of facts on every
request. analytics/persons.py keeps a base count per report and recounts only the persons
whose facts arrived since: it reads those persons' facts of the period through this index.
One more key per fact (a settlement writes one fact, a cancel two).

Revision ID: 0027
Revises: 0026
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_setl_fact_psn_no", "setl_fact", ["psn_no", "setl_time"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_setl_fact_psn_no", table_name="setl_fact")
