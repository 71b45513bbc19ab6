"""cost rollups: setl_fact.standing, cost_rollup and rollup_state (issue 12)

`standing` lets distinct counts and per-visit rules skip cancelled settlements without
joining their -1 facts (backfilled here: 0 on every -1 fact and on the +1 fact it cancels).
`cost_rollup` holds the facts added up per (dimension set, day, group), `rollup_state`
how far each dimension set is folded; both are kept by analytics/rollup.py. The dimension
sets every single-dimension report uses are registered here; others register when a report
first asks for them. The analyst account reads them through views, like every table.

Revision ID: 0020
Revises: 0013
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from medhtap.migrations.helpers import log, quote_ident, quote_str, settings, tiflash_stores

revision: str = "0020"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEYS = (
    "fixmedins_code",
    "dept_name",
    "main_diag_code",
    "diag_chapter",
    "insutype",
    "med_type",
    "age_band",
    "gend",
    "admdvs",
)
SUM: sa.types.TypeEngine[Any] = sa.DECIMAL(precision=18, scale=2)
SUMS = (
    "medfee_sumamt",
    "hifp_pay",
    "hifob_pay",
    "hifmi_pay",
    "maf_pay",
    "fund_pay_sumamt",
    "acct_pay",
    "psn_cash_pay",
    "psn_part_amt",
    "drug_amt",
    "material_amt",
    "service_amt",
)
# the group_by choices of one dimension (month needs none: the day gives it) and totals
SINGLE_SETS = ("", "fixmedins_code", "hosp_lv", *KEYS[1:])
VIEWS = {
    "v_cost_rollup": "SELECT * FROM cost_rollup",
    "v_rollup_state": "SELECT dims, folded_to, folded_at FROM rollup_state",
}


def _grant(verb: str, view: str) -> None:
    db = quote_ident(settings().database)
    account = f"{quote_str(settings().analyst_user)}@'%'"
    op.execute(f"{verb} SELECT ON {db}.{view} {'TO' if verb == 'GRANT' else 'FROM'} {account}")


def upgrade() -> None:
    op.add_column(
        "setl_fact", sa.Column("standing", sa.SmallInteger(), server_default="1", nullable=False)
    )
    op.execute(
        "UPDATE setl_fact f JOIN (SELECT setl_id, setl_time FROM setl_fact WHERE sign = -1) c "
        "ON c.setl_id = f.setl_id AND c.setl_time = f.setl_time SET f.standing = 0"
    )
    # a view's SELECT * is expanded when it is created: recreate it to show the new column
    op.execute("CREATE OR REPLACE SQL SECURITY DEFINER VIEW v_setl_fact AS SELECT * FROM setl_fact")
    op.create_table(
        "cost_rollup",
        sa.Column("dims", sa.String(160), nullable=False),
        sa.Column("setl_day", sa.Date(), nullable=False),
        sa.Column("fixmedins_code", sa.String(64), server_default="", nullable=False),
        sa.Column("hosp_lv", sa.SmallInteger(), server_default="0", nullable=False),
        *(sa.Column(k, sa.String(64), server_default="", nullable=False) for k in KEYS[1:]),
        sa.Column("visits", sa.BigInteger(), nullable=False),
        sa.Column("inpatient_visits", sa.BigInteger(), nullable=False),
        sa.Column("inpatient_days", sa.BigInteger(), nullable=False),
        *(sa.Column(k, SUM, nullable=False) for k in SUMS),
        sa.Column("latest_setl_time", mysql.DATETIME(fsp=6), nullable=False),
        sa.PrimaryKeyConstraint(
            "dims", "setl_day", "fixmedins_code", "hosp_lv", *KEYS[1:], name=op.f("pk_cost_rollup")
        ),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.create_table(
        "rollup_state",
        sa.Column("dims", sa.String(160), nullable=False),
        sa.Column("folded_to", mysql.DATETIME(fsp=6), nullable=True),
        sa.Column("folded_at", mysql.DATETIME(fsp=6), nullable=True),
        sa.Column("folded_facts", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("registered_at", mysql.DATETIME(fsp=6), nullable=False),
        sa.PrimaryKeyConstraint("dims", name=op.f("pk_rollup_state")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    values = ", ".join(f"({quote_str(d)}, NOW(6))" for d in SINGLE_SETS)
    op.execute(f"INSERT INTO rollup_state (dims, registered_at) VALUES {values}")
    for name, sql in VIEWS.items():
        op.execute(f"CREATE OR REPLACE SQL SECURITY DEFINER VIEW {name} AS {sql}")
        _grant("GRANT", name)
    stores = tiflash_stores()
    if stores:
        op.execute(f"ALTER TABLE cost_rollup SET TIFLASH REPLICA {min(2, stores)}")
    else:
        log.warning("TiFlash replica of cost_rollup skipped: the cluster has no TiFlash store")


def downgrade() -> None:
    for name in reversed(list(VIEWS)):
        _grant("REVOKE", name)
        op.execute(f"DROP VIEW IF EXISTS {name}")
    op.drop_table("rollup_state")
    op.drop_table("cost_rollup")
    op.drop_column("setl_fact", "standing")
    op.execute("CREATE OR REPLACE SQL SECURITY DEFINER VIEW v_setl_fact AS SELECT * FROM setl_fact")
