"""pre- and in-process review: review_rule (seeded), review_result, catalog limits (issue 14.3)

Rules are rows: a kind (the pure function in services/review/rules.py that evaluates it), a
severity (1 forbidden, 2 warning) and JSON parameters, changed without code. Catalog items
gain the limits three kinds read: the med_types an item is allowed for, the fewest days
between two of one exam, and the days one unit of a drug supplies. Results are read by the
analyst account through v_review_result, and by the risk rule review_overridden, whose
thresholds are policy_param rows.

Severities seeded: only R004 (an item outside its med_type, e.g. a ward bed billed to an
outpatient visit) forbids; the others warn, because settlement already turns gender/age
breaches wholly self-paid and the fund's risk rules judge repeated charging afterwards.
Change a row to make a rule forbid.

Revision ID: 0022
Revises: 0021
"""

from collections.abc import Sequence
from datetime import date
from decimal import Decimal as D
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from medhtap.migrations.helpers import quote_ident, quote_str, settings

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DT6 = mysql.DATETIME(fsp=6)
RULES = [
    ("R001", "Quantity per day above the catalog limit", "qty_per_day", 2, "1",
     {"tolerance": "0"}),
    ("R002", "Item restricted to one gender or an age range", "gender_age", 2, "1",
     {"check_gender": True, "check_age": True}),
    ("R003", "The same item billed more than once on one day", "same_day_repeat", 2, "2",
     {"max_per_day": 1, "item_kinds": ["service", "material"]}),
    ("R004", "Item not allowed for this med_type", "med_type", 1, "1", {}),
    ("R005", "Exam repeated within its interval for one person", "exam_frequency", 2, "2",
     {"default_days": None, "item_kinds": ["service"]}),
    ("R006", "Drug supply overlapping an earlier prescription", "supply_overlap", 2, "2",
     {"tolerance_days": 0, "lookback_days": 180, "med_types": ["11", "14", "41"]}),
]  # fmt: skip
PARAMS = [
    ("risk.review_overridden_forbidden", "1", "forbidden review results continued (month)"),
    ("risk.review_overridden_warnings", "20", "review warnings continued (institution-month)"),
]
VIEWS = {
    "v_review_rule": "SELECT * FROM review_rule",
    "v_review_result": "SELECT * FROM review_result",
}
STR: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def _grant(verb: str, view: str) -> None:
    db = quote_ident(settings().database)
    account = f"{quote_str(settings().analyst_user)}@'%'"
    op.execute(f"{verb} SELECT ON {db}.{view} {'TO' if verb == 'GRANT' else 'FROM'} {account}")


def upgrade() -> None:
    op.add_column("catalog_item", sa.Column("med_type_lmt", sa.String(32), nullable=True))
    op.add_column("catalog_item", sa.Column("exam_intv_days", sa.SmallInteger(), nullable=True))
    op.add_column("catalog_item", sa.Column("supply_days", sa.DECIMAL(8, 2), nullable=True))
    # a view's SELECT * is expanded when it is created: recreate it to show the new columns
    op.execute("CREATE OR REPLACE SQL SECURITY DEFINER VIEW v_catalog_item AS "
               "SELECT * FROM catalog_item")  # fmt: skip
    rule = op.create_table(
        "review_rule",
        sa.Column("rule_id", sa.String(16), nullable=False),
        sa.Column("rule_name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("sev_deg", sa.SmallInteger(), nullable=False),
        sa.Column("vola_bhvr_type", sa.String(8), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", DT6, server_default=sa.text("now(6)"), nullable=False),
        sa.CheckConstraint("sev_deg IN (1, 2)", name=op.f("ck_review_rule_sev_deg")),
        sa.PrimaryKeyConstraint("rule_id", name=op.f("pk_review_rule")),
        **STR,
    )
    op.create_table(
        "review_result",
        sa.Column("jr_id", sa.String(32), nullable=False),
        sa.Column("stage", sa.String(8), nullable=False),
        sa.Column("mdtrt_id", sa.String(40), nullable=False),
        sa.Column("psn_no", sa.String(32), nullable=False),
        sa.Column("fixmedins_code", sa.String(32), nullable=False),
        sa.Column("rule_id", sa.String(16), nullable=False),
        sa.Column("rule_name", sa.String(200), nullable=False),
        sa.Column("sev_deg", sa.SmallInteger(), nullable=False),
        sa.Column("vola_bhvr_type", sa.String(8), nullable=False),
        sa.Column("vola_cont", sa.String(400), nullable=False),
        sa.Column("vola_evid", sa.String(400), nullable=False),
        sa.Column("vola_amt", sa.DECIMAL(16, 2), nullable=False),
        sa.Column("line_ids", sa.JSON(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("dspo_way", sa.String(1), nullable=True),
        sa.Column("dspo_way_rea", sa.String(200), nullable=True),
        sa.Column("handled_at", DT6, nullable=True),
        sa.Column("handled_by", sa.String(64), nullable=True),
        sa.Column("created_at", DT6, server_default=sa.text("now(6)"), nullable=False),
        sa.Column("last_seen_at", DT6, server_default=sa.text("now(6)"), nullable=False),
        sa.CheckConstraint(
            "dspo_way IS NULL OR dspo_way IN ('1', '2')", name=op.f("ck_review_result_dspo_way")
        ),
        sa.CheckConstraint("stage IN ('pre', 'in')", name=op.f("ck_review_result_stage")),
        sa.PrimaryKeyConstraint("jr_id", name=op.f("pk_review_result")),
        **STR,
    )
    op.create_index("ix_review_result_mdtrt_id", "review_result", ["mdtrt_id"])
    op.create_index(
        "ix_review_result_fixmedins_code_created_at",
        "review_result",
        ["fixmedins_code", "created_at"],
    )
    op.create_index(
        "ix_review_result_rule_id_created_at", "review_result", ["rule_id", "created_at"]
    )
    op.bulk_insert(
        rule,
        [
            {
                "rule_id": rid,
                "rule_name": name,
                "kind": kind,
                "sev_deg": sev,
                "vola_bhvr_type": bhvr,
                "params": params,
                "enabled": True,
            }
            for rid, name, kind, sev, bhvr, params in RULES
        ],
    )
    policy_param = sa.table(
        "policy_param",
        *(sa.column(c) for c in ("param_key", "admdvs", "begndate", "value", "description")),
    )
    op.bulk_insert(
        policy_param,
        [
            {
                "param_key": k,
                "admdvs": "000000",
                "begndate": date(2020, 1, 1),
                "value": D(v),
                "description": d,
            }
            for k, v, d in PARAMS
        ],
    )
    for name, sql in VIEWS.items():
        op.execute(f"CREATE OR REPLACE SQL SECURITY DEFINER VIEW {name} AS {sql}")
        _grant("GRANT", name)


def downgrade() -> None:
    for name in reversed(list(VIEWS)):
        _grant("REVOKE", name)
        op.execute(f"DROP VIEW IF EXISTS {name}")
    keys = ", ".join(quote_str(k) for k, _, _ in PARAMS)
    op.execute(f"DELETE FROM policy_param WHERE param_key IN ({keys})")
    op.drop_table("review_result")
    op.drop_table("review_rule")
    for col in ("supply_days", "exam_intv_days", "med_type_lmt"):
        op.drop_column("catalog_item", col)
    op.execute("CREATE OR REPLACE SQL SECURITY DEFINER VIEW v_catalog_item AS "
               "SELECT * FROM catalog_item")  # fmt: skip
