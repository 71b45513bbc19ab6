"""risk-rule thresholds the analytics rules need beyond those seeded in 0006

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence
from datetime import date
from decimal import Decimal as D

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_REGION = "000000"
SINCE = date(2020, 1, 1)
PARAMS = [
    ("risk.cost_outlier_min_group", "30", "settled visits a diagnosis group needs to be judged"),
    (
        "risk.restricted_selfpay_share",
        "0.20",
        "share of restricted-item lines refused (gender/age)",
    ),
    ("risk.restricted_min_lines", "10", "restricted-item lines an institution-month needs"),
]

policy_param = sa.table(
    "policy_param",
    sa.column("param_key"),
    sa.column("admdvs"),
    sa.column("begndate"),
    sa.column("enddate"),
    sa.column("value"),
    sa.column("description"),
)


def upgrade() -> None:
    op.bulk_insert(
        policy_param,
        [
            {
                "param_key": k,
                "admdvs": DEFAULT_REGION,
                "begndate": SINCE,
                "enddate": None,
                "value": D(v),
                "description": d,
            }
            for k, v, d in PARAMS
        ],
    )


def downgrade() -> None:
    op.execute(
        sa.text("DELETE FROM policy_param WHERE admdvs = :r AND param_key IN :keys").bindparams(
            sa.bindparam("r", DEFAULT_REGION),
            sa.bindparam("keys", [k for k, _, _ in PARAMS], expanding=True),
        )
    )
