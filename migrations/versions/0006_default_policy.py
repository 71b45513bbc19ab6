"""seed the default benefit policy and risk thresholds (a region changes rows, not code)

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence
from datetime import date
from decimal import Decimal as D

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_REGION = "000000"  # applies where a region has no row of its own
SINCE = date(2020, 1, 1)

# insutype, med_type, deductible by level L1/L2/L3, scope, ratio L1/L2/L3, annual cap
POLICY = [
    ("310", "outpatient", ("1800.00",) * 3, "year", ("0.90", "0.85", "0.80"), "20000.00"),
    (
        "310",
        "inpatient",
        ("300.00", "600.00", "1200.00"),
        "admission",
        ("0.95", "0.90", "0.85"),
        "500000.00",
    ),
    ("390", "outpatient", ("200.00",) * 3, "year", ("0.60", "0.55", "0.50"), "3000.00"),
    (
        "390",
        "inpatient",
        ("200.00", "500.00", "1000.00"),
        "admission",
        ("0.85", "0.75", "0.65"),
        "250000.00",
    ),
]
PARAMS = [
    (
        "risk.high_freq_outpatient_visits_30d",
        "8",
        "outpatient visits in 30 days that raise an alert",
    ),
    ("risk.split_admission_days", "15", "re-admission within N days of discharge is suspicious"),
    ("risk.cost_outlier_percentile", "0.99", "visit cost percentile within its diagnosis group"),
]

policy = sa.table(
    "policy",
    sa.column("admdvs"),
    sa.column("insutype"),
    sa.column("med_type"),
    sa.column("hosp_lv"),
    sa.column("dedc_amt"),
    sa.column("dedc_scope"),
    sa.column("pool_prop"),
    sa.column("annual_cap"),
    sa.column("begndate"),
    sa.column("enddate"),
)
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
    rows = [
        {
            "admdvs": DEFAULT_REGION,
            "insutype": ins,
            "med_type": kind,
            "hosp_lv": lv + 1,
            "dedc_amt": D(dedc[lv]),
            "dedc_scope": scope,
            "pool_prop": D(ratio[lv]),
            "annual_cap": D(cap),
            "begndate": SINCE,
            "enddate": None,
        }
        for ins, kind, dedc, scope, ratio, cap in POLICY
        for lv in range(3)
    ]
    op.bulk_insert(policy, rows)
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
    op.execute(sa.text("DELETE FROM policy_param WHERE admdvs = :r").bindparams(r=DEFAULT_REGION))
    op.execute(sa.text("DELETE FROM policy WHERE admdvs = :r").bindparams(r=DEFAULT_REGION))
