"""session defaults for direct analyst logins, set by the server at login (init_connect)

A mariadb/DBeaver session of the analyst account starts with TiDB's defaults: no statement
time limit, and a transaction may stay open (holding the locks a `SELECT ... FOR UPDATE`
through a view takes, TiDB #60468) for as long as the client keeps the connection. TiDB runs
the global `init_connect` for every login without SUPER, before the client's first
statement. It sets, for accounts named like the analyst account:
- `tidb_idle_transaction_timeout`: the server closes a session idle inside a transaction,
  which rolls it back and frees its locks through the ordinary close path (a `KILL` of such a
  session panics tidb-server at our pin: see services/analyst/watchdog.py);
- `max_execution_time` and `tidb_mem_quota_query`: the limits /v1/sql uses.
These are defaults: the session may change them. The analyst watchdog in the API process is
what enforces time and memory; this covers the forgotten transaction, the common case.

The setting is server-wide (as the `analyst` resource group is): the statement matches every
account whose name contains "analyst", so databases sharing a server agree on it, and the
downgrade leaves it in place. Other accounts keep the global values.

Revision ID: 0010
Revises: 0011
"""

from collections.abc import Sequence

from alembic import op

from medhtap.migrations.helpers import is_tidb, log, quote_str, scalar, settings

revision: str = "0010"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHO = "CURRENT_USER() LIKE '%analyst%@%'"


def init_connect(idle_s: int, max_ms: int, mem_bytes: int) -> str:
    def per_analyst(var: str, value: int) -> str:
        return f"{var} = IF({WHO}, {int(value)}, @@global.{var})"

    return "SET SESSION " + ", ".join(
        [
            per_analyst("tidb_idle_transaction_timeout", idle_s),
            per_analyst("max_execution_time", max_ms),
            per_analyst("tidb_mem_quota_query", mem_bytes),
        ]
    )


def upgrade() -> None:
    if not is_tidb():
        log.warning("not TiDB: analyst session defaults not set (set them in your clients)")
        return
    s = settings()
    if "analyst" not in s.analyst_user:
        log.warning(
            "analyst account %s does not contain 'analyst': init_connect does not cover it",
            s.analyst_user,
        )
    wanted = init_connect(
        s.analyst_idle_txn_timeout_s, s.analyst_max_execution_ms, s.analyst_mem_quota_bytes
    )
    current = str(scalar("SELECT @@global.init_connect") or "")
    if current and current != wanted:
        log.warning("replacing init_connect %r", current)
    op.execute(f"SET GLOBAL init_connect = {quote_str(wanted)}")


def downgrade() -> None:
    # Server-wide and shared by every database's analyst account: left in place.
    log.info("init_connect left in place (server-wide analyst session defaults)")
