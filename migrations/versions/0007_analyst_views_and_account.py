"""analyst views with masked personal data, and the SELECT-only analyst account

The analyst account can read the v_* views and nothing else: no base table, no audit log,
no idempotency records, no system schema. Personal data is masked in the views themselves
(id-card number: first 6 + last 4; name: surname + *; birth date: year only), so a parser
bypass in /v1/sql still cannot reveal it. When resource control is on, the account runs in
resource group `analyst` (low priority, burstable) so reports cannot starve settlement.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

from alembic import op

from medhtap.migrations.helpers import log, quote_ident, quote_str, resource_control_on, settings

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RESOURCE_GROUP = "analyst"

VIEWS = {
    "v_institution": "SELECT * FROM institution",
    "v_catalog_item": "SELECT * FROM catalog_item",
    "v_diagnosis": "SELECT * FROM diagnosis",
    "v_policy": "SELECT * FROM policy",
    "v_policy_param": "SELECT * FROM policy_param",
    "v_person": (
        "SELECT psn_no,"
        " CONCAT(LEFT(certno, 6), REPEAT('*', GREATEST(CHAR_LENGTH(certno) - 10, 0)),"
        " RIGHT(certno, 4)) AS certno_masked,"
        " CONCAT(LEFT(psn_name, 1), '*') AS psn_name_masked,"
        " gend, YEAR(brdy) AS birth_year, insutype, admdvs, psn_status, created_at"
        " FROM insured_person"
    ),
    "v_person_year_accumulator": "SELECT * FROM person_year_accumulator",
    "v_visit": "SELECT * FROM visit",
    "v_fee_detail": "SELECT * FROM fee_detail",
    "v_settlement": (
        "SELECT setl_id, setl_type, setl_status, orig_setl_id, mdtrt_id, psn_no,"
        " fixmedins_code, insutype, med_type, hosp_lv, setl_time, cancel_time, medfee_sumamt,"
        " fulamt_ownpay_amt, overlmt_selfpay, preselfpay_amt, inscp_scp_amt, act_pay_dedc,"
        " hifp_pay, pool_prop_selfpay, psn_part_amt, acct_pay, psn_cash_pay, policy_id"
        " FROM settlement"
    ),
    "v_reconciliation": "SELECT * FROM reconciliation",
    "v_risk_alert": "SELECT * FROM risk_alert",
}


def _account() -> str:
    return f"{quote_str(settings().analyst_user)}@'%'"


def upgrade() -> None:
    for name, sql in VIEWS.items():
        op.execute(f"CREATE OR REPLACE SQL SECURITY DEFINER VIEW {name} AS {sql}")
    s = settings()
    account, password = _account(), quote_str(s.analyst_password.get_secret_value())
    op.execute(f"CREATE USER IF NOT EXISTS {account} IDENTIFIED BY {password}")
    op.execute(f"ALTER USER {account} IDENTIFIED BY {password}")
    db = quote_ident(s.database)
    for name in VIEWS:
        op.execute(f"GRANT SELECT ON {db}.{name} TO {account}")
    if resource_control_on():
        op.execute(
            f"CREATE RESOURCE GROUP IF NOT EXISTS {RESOURCE_GROUP} "
            "RU_PER_SEC = 2000 PRIORITY = LOW BURSTABLE"
        )
        op.execute(f"ALTER USER {account} RESOURCE GROUP {RESOURCE_GROUP}")
    else:
        log.warning("resource control is off: analyst account runs in the default group")


def downgrade() -> None:
    op.execute(f"DROP USER IF EXISTS {_account()}")
    for name in reversed(list(VIEWS)):
        op.execute(f"DROP VIEW IF EXISTS {name}")
    # The resource group is server-wide and may serve other databases' analyst accounts;
    # it is left in place (an empty group costs nothing).
