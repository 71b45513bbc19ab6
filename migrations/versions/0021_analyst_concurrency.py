"""direct analyst logins also get the service's per-statement concurrency (issue 12.3)

Migration 0010 gave analyst logins the time, memory and idle-transaction limits of the
service. An analyst's statement could still use TiDB's default 5 executor workers and 15
coprocessor tasks in flight, which on the local server is both cores settlement runs on.
init_connect now also sets `tidb_executor_concurrency` and `tidb_distsql_scan_concurrency`
to the service's analyst values (MEDHTAP_ANALYST_EXECUTOR_CONCURRENCY / _SCAN_CONCURRENCY).
Like 0010's, these are session defaults the analyst may change; server-wide, shared by every
database's analyst account.

Revision ID: 0021
Revises: 0020
"""

from collections.abc import Sequence

from alembic import op

from medhtap.migrations.helpers import analyst_init_connect, is_tidb, log, quote_str, settings

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _limits(with_concurrency: bool) -> dict[str, int]:
    s = settings()
    limits = {
        "tidb_idle_transaction_timeout": s.analyst_idle_txn_timeout_s,
        "max_execution_time": s.analyst_max_execution_ms,
        "tidb_mem_quota_query": s.analyst_mem_quota_bytes,
    }
    if with_concurrency:
        limits |= {
            "tidb_executor_concurrency": s.analyst_executor_concurrency,
            "tidb_distsql_scan_concurrency": s.analyst_scan_concurrency,
        }
    return limits


def upgrade() -> None:
    if not is_tidb():
        log.warning("not TiDB: analyst session defaults not set (set them in your clients)")
        return
    op.execute(f"SET GLOBAL init_connect = {quote_str(analyst_init_connect(_limits(True)))}")


def downgrade() -> None:
    if is_tidb():  # back to 0010's defaults
        op.execute(f"SET GLOBAL init_connect = {quote_str(analyst_init_connect(_limits(False)))}")
