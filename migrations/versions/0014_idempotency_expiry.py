"""idempotency records expire: TiDB TTL option when the server runs TTL jobs, an index on
created_at for the bounded purge that replaces it elsewhere (issue 13.3)

Revision ID: 0014
Revises: 0015

The days come from MEDHTAP_IDEMPOTENCY_TTL_DAYS; the API re-applies a changed setting at
start (services/settlement/expiry.py `ensure`). Self-contained SQL: a migration must keep
doing what it did when later code changes.
"""

from collections.abc import Sequence

from alembic import op

from medhtap.migrations.helpers import is_tidb, settings

revision: str = "0014"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "idempotency_record"
INDEX = "ix_idempotency_record_created_at"


def _ttl_jobs_run() -> bool:
    if not is_tidb():
        return False
    row = op.get_bind().exec_driver_sql("SHOW GLOBAL VARIABLES LIKE 'tidb_ttl_job_enable'")
    found = row.first()
    return found is not None and str(found[1]).upper() in ("1", "ON")


def upgrade() -> None:
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
