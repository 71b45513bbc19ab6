"""idempotency records expire: TiDB TTL option when the server runs TTL jobs, an index on
created_at for the bounded purge that replaces it elsewhere (issue 13.3); visit lifecycle:
discharge diagnosis and disposition (2402), cancelled visits (2202/2404), national med_type
codes on visits, settlements and facts: outpatient -> 11, inpatient -> 21 (issue 13.2; the
policy rows and yearly accumulators keep the benefit kind, rules.MED_TYPES maps each code)

Revision ID: 0014
Revises: 0015

The days come from MEDHTAP_IDEMPOTENCY_TTL_DAYS; the API re-applies a changed setting at
start (services/settlement/expiry.py `ensure`). Self-contained SQL: a migration must keep
doing what it did when later code changes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from medhtap.migrations.helpers import is_tidb, settings

revision: str = "0014"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "idempotency_record"
INDEX = "ix_idempotency_record_created_at"
VIS_STATUS = "ck_visit_vis_status"
MED_TYPE = "ck_visit_med_type"
RECODED = ("visit", "settlement", "setl_fact")


def _checks_enforced() -> bool:
    # TiDB keeps CHECK constraints only with tidb_enable_check_constraint on (off here).
    row = op.get_bind().exec_driver_sql("SHOW VARIABLES LIKE 'tidb_enable_check_constraint'")
    found = row.first()
    return found is None or str(found[1]).upper() in ("1", "ON")


def _visit_check(name: str, condition: str) -> None:
    if _checks_enforced():
        op.drop_constraint(name, "visit", type_="check")
        op.create_check_constraint(name, "visit", condition)


def _recode(pairs: tuple[tuple[str, str], ...]) -> None:
    for table in RECODED:
        for old, new in pairs:
            op.execute(f"UPDATE {table} SET med_type = '{new}' WHERE med_type = '{old}'")


def _ttl_jobs_run() -> bool:
    if not is_tidb():
        return False
    row = op.get_bind().exec_driver_sql("SHOW GLOBAL VARIABLES LIKE 'tidb_ttl_job_enable'")
    found = row.first()
    return found is not None and str(found[1]).upper() in ("1", "ON")


def upgrade() -> None:
    op.add_column("visit", sa.Column("dscg_maindiag_code", sa.String(16), nullable=True))
    op.add_column("visit", sa.Column("dscg_way", sa.String(2), nullable=True))
    _visit_check(VIS_STATUS, "vis_status IN ('open', 'settled', 'cancelled')")
    _recode((("outpatient", "11"), ("inpatient", "21")))
    _visit_check(MED_TYPE, "med_type IN ('11', '14', '21', '41')")
    op.create_index(INDEX, TABLE, ["created_at"])
    if _ttl_jobs_run():
        days = int(settings().idempotency_ttl_days)
        op.execute(
            f"ALTER TABLE {TABLE} TTL = `created_at` + INTERVAL {days} DAY "
            "TTL_ENABLE = 'ON' TTL_JOB_INTERVAL = '1h'"
        )


def downgrade() -> None:
    ddl = str(op.get_bind().exec_driver_sql(f"SHOW CREATE TABLE {TABLE}").one()[1])
    if "TTL=" in ddl:
        op.execute(f"ALTER TABLE {TABLE} REMOVE TTL")
    op.drop_index(INDEX, table_name=TABLE)
    # Where checks are enforced, a database holding cancelled visits refuses to go back.
    _visit_check(VIS_STATUS, "vis_status IN ('open', 'settled')")
    _recode((("11", "outpatient"), ("14", "outpatient"), ("41", "outpatient"), ("21", "inpatient")))
    _visit_check(MED_TYPE, "med_type IN ('outpatient', 'inpatient')")
    op.drop_column("visit", "dscg_way")
    op.drop_column("visit", "dscg_maindiag_code")
