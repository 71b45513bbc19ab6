"""fund split (issue 13.1): fund policy as effective-dated rows, the person's assistance
category, yearly fund accumulators, the settlement's fund fields and setldetail, the fund
columns of the analytic facts and of reconciliation

Existing settlements paid from the basic fund only: their fund_pay_sumamt is set to hifp_pay
(the other funds 0.00), so medfee_sumamt = fund_pay_sumamt + psn_part_amt holds for them too.

Revision ID: 0013
Revises: 0018
"""

from collections.abc import Sequence
from datetime import date
from decimal import Decimal as D
from typing import Any

import sqlalchemy as sa
from alembic import op

from medhtap.migrations.helpers import log, quote_ident, quote_str, settings, tiflash_stores

revision: str = "0013"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY: sa.types.TypeEngine[Any] = sa.DECIMAL(precision=16, scale=2)
RATIO: sa.types.TypeEngine[Any] = sa.DECIMAL(precision=6, scale=4)
ZERO = sa.text("'0.00'")
DEFAULT_REGION = "000000"
SINCE = date(2020, 1, 1)
FUNDS = ("hifob_pay", "hifmi_pay", "maf_pay", "fund_pay_sumamt", "hosp_part_amt")
ACCUMULATORS = ("inscp_selfpay", "secondary_paid", "assistance_paid")

# fund_pay_type, name, kind, field, insutype, category, annual cap, [(lower, upper, ratio)]
POLICY: list[tuple[str, str, str, str, str | None, str | None, str, list[Any]]] = [
    (
        "330100",
        "职工大额医疗费用补助基金",
        "secondary",
        "hifob_pay",
        "310",
        None,
        "300000.00",
        [("5000.00", None, "0.8500")],
    ),
    (
        "390200",
        "城乡居民大病医疗保险资金",
        "secondary",
        "hifmi_pay",
        "390",
        None,
        "400000.00",
        [
            ("15000.00", "50000.00", "0.6000"),
            ("50000.00", "100000.00", "0.7000"),
            ("100000.00", None, "0.8000"),
        ],
    ),
    (
        "610100",
        "医疗救助基金",
        "assistance",
        "maf_pay",
        None,
        "dibao",
        "30000.00",
        [("0.00", None, "0.7000")],
    ),
    (
        "610100",
        "医疗救助基金",
        "assistance",
        "maf_pay",
        None,
        "tekun",
        "30000.00",
        [("0.00", None, "1.0000")],
    ),
]

V_SETTLEMENT_OLD = (
    "SELECT setl_id, setl_type, setl_status, orig_setl_id, mdtrt_id, psn_no,"
    " fixmedins_code, insutype, med_type, hosp_lv, setl_time, cancel_time, medfee_sumamt,"
    " fulamt_ownpay_amt, overlmt_selfpay, preselfpay_amt, inscp_scp_amt, act_pay_dedc,"
    " hifp_pay, pool_prop_selfpay, psn_part_amt, acct_pay, psn_cash_pay, policy_id"
    " FROM settlement"
)
V_SETTLEMENT = V_SETTLEMENT_OLD.replace(
    ", policy_id FROM",
    ", hifob_pay, hifmi_pay, maf_pay, fund_pay_sumamt, hosp_part_amt, policy_id FROM",
)
# SELECT * views list their columns when created: re-create them to show the new ones.
STAR_VIEWS = {
    "v_setl_fact": "setl_fact",
    "v_person_year_accumulator": "person_year_accumulator",
    "v_reconciliation": "reconciliation",
}
NEW_VIEWS = {
    "v_fund_policy": "fund_policy",
    "v_fund_segment": "fund_segment",
    "v_setl_detail": "setl_detail",
}


def _account() -> str:
    return f"{quote_str(settings().analyst_user)}@'%'"


def _db() -> str:
    return quote_ident(settings().database)


def _view(name: str, sql: str) -> None:
    op.execute(f"CREATE OR REPLACE SQL SECURITY DEFINER VIEW {name} AS {sql}")


def upgrade() -> None:
    op.create_table(
        "fund_policy",
        sa.Column("fund_policy_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("admdvs", sa.String(length=6), nullable=False),
        sa.Column("fund_pay_type", sa.String(length=6), nullable=False),
        sa.Column("fund_pay_type_name", sa.String(length=64), nullable=False),
        sa.Column("fund_kind", sa.String(length=16), nullable=False),
        sa.Column("setl_field", sa.String(length=16), nullable=False),
        sa.Column("insutype", sa.String(length=3), nullable=True),
        sa.Column("assistance_category", sa.String(length=8), nullable=True),
        sa.Column("annual_cap", MONEY, nullable=False),
        sa.Column("begndate", sa.Date(), nullable=False),
        sa.Column("enddate", sa.Date(), nullable=True),
        sa.CheckConstraint(
            "fund_kind IN ('secondary', 'assistance')", name=op.f("ck_fund_policy_fund_kind")
        ),
        sa.CheckConstraint(
            "setl_field IN ('hifob_pay', 'hifmi_pay', 'maf_pay')",
            name=op.f("ck_fund_policy_setl_field"),
        ),
        sa.PrimaryKeyConstraint("fund_policy_id", name=op.f("pk_fund_policy")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.create_index(
        "ix_fund_policy_lookup", "fund_policy", ["admdvs", "fund_kind", "begndate"], unique=False
    )
    op.create_table(
        "fund_segment",
        sa.Column("fund_policy_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seg_no", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("lower_amt", MONEY, nullable=False),
        sa.Column("upper_amt", MONEY, nullable=True),
        sa.Column("ratio", RATIO, nullable=False),
        sa.PrimaryKeyConstraint("fund_policy_id", "seg_no", name=op.f("pk_fund_segment")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.create_table(
        "setl_detail",
        sa.Column("setl_id", sa.String(length=40), nullable=False),
        sa.Column("fund_pay_type", sa.String(length=6), nullable=False),
        sa.Column("fund_pay_type_name", sa.String(length=64), nullable=False),
        sa.Column("inscp_scp_amt", MONEY, nullable=False),
        sa.Column("crt_payb_lmt_amt", MONEY, nullable=True),
        sa.Column("fund_payamt", MONEY, nullable=False),
        sa.Column("setl_proc_info", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("setl_id", "fund_pay_type", name=op.f("pk_setl_detail")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    _seed()

    # values checked by the API (PersonIn); TiDB enforces CHECK only when
    # tidb_enable_check_constraint is on, so the model's constraint documents it
    op.add_column(
        "insured_person",
        sa.Column(
            "assistance_category", sa.String(length=8), server_default="none", nullable=False
        ),
    )
    for name in ACCUMULATORS:
        op.add_column(
            "person_year_accumulator", sa.Column(name, MONEY, server_default=ZERO, nullable=False)
        )
    for table in ("settlement", "setl_fact"):
        for name in FUNDS:
            op.add_column(table, sa.Column(name, MONEY, server_default=ZERO, nullable=False))
        op.execute(f"UPDATE {table} SET fund_pay_sumamt = hifp_pay")
    op.add_column("reconciliation", sa.Column("ins_fund_pay_sumamt", MONEY, nullable=True))
    op.add_column(
        "reconciliation",
        sa.Column("plt_fund_pay_sumamt", MONEY, server_default=ZERO, nullable=False),
    )

    _view("v_settlement", V_SETTLEMENT)
    for name, table in {**STAR_VIEWS, **NEW_VIEWS}.items():
        _view(name, f"SELECT * FROM {table}")
    for name in NEW_VIEWS:
        op.execute(f"GRANT SELECT ON {_db()}.{name} TO {_account()}")
    stores = tiflash_stores()
    if stores:
        op.execute(f"ALTER TABLE setl_detail SET TIFLASH REPLICA {min(2, stores)}")
    else:
        log.warning("TiFlash replica of setl_detail skipped: the cluster has no TiFlash store")


def _seed() -> None:
    policy = sa.table(
        "fund_policy",
        *(
            sa.column(c)
            for c in (
                "fund_policy_id",
                "admdvs",
                "fund_pay_type",
                "fund_pay_type_name",
                "fund_kind",
                "setl_field",
                "insutype",
                "assistance_category",
                "annual_cap",
                "begndate",
                "enddate",
            )
        ),
    )
    segment = sa.table(
        "fund_segment",
        *(sa.column(c) for c in ("fund_policy_id", "seg_no", "lower_amt", "upper_amt", "ratio")),
    )
    policies, segments = [], []
    for n, (code, name, kind, field, insutype, category, cap, segs) in enumerate(POLICY, 1):
        policies.append(
            {
                "fund_policy_id": n,
                "admdvs": DEFAULT_REGION,
                "fund_pay_type": code,
                "fund_pay_type_name": name,
                "fund_kind": kind,
                "setl_field": field,
                "insutype": insutype,
                "assistance_category": category,
                "annual_cap": D(cap),
                "begndate": SINCE,
                "enddate": None,
            }
        )
        segments += [
            {
                "fund_policy_id": n,
                "seg_no": i,
                "lower_amt": D(lower),
                "upper_amt": D(upper) if upper else None,
                "ratio": D(ratio),
            }
            for i, (lower, upper, ratio) in enumerate(segs, 1)
        ]
    op.bulk_insert(policy, policies)
    op.bulk_insert(segment, segments)


def downgrade() -> None:
    for name in NEW_VIEWS:
        op.execute(f"REVOKE SELECT ON {_db()}.{name} FROM {_account()}")
        op.execute(f"DROP VIEW IF EXISTS {name}")
    op.drop_column("reconciliation", "plt_fund_pay_sumamt")
    op.drop_column("reconciliation", "ins_fund_pay_sumamt")
    for table in ("setl_fact", "settlement"):
        for name in reversed(FUNDS):
            op.drop_column(table, name)
    for name in reversed(ACCUMULATORS):
        op.drop_column("person_year_accumulator", name)
    op.drop_column("insured_person", "assistance_category")
    _view("v_settlement", V_SETTLEMENT_OLD)
    for name, table in STAR_VIEWS.items():
        _view(name, f"SELECT * FROM {table}")
    op.drop_table("setl_detail")
    op.drop_table("fund_segment")
    op.drop_index("ix_fund_policy_lookup", table_name="fund_policy")
    op.drop_table("fund_policy")
