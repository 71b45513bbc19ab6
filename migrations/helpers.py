"""Small helpers for migrations that depend on the cluster (accounts, TiFlash)."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from alembic import op

from medhtap.platform.settings import Settings, get_settings

log = logging.getLogger("medhtap.migrations")


def settings() -> Settings:
    config = op.get_context().config
    s: Settings | None = config.attributes.get("settings") if config is not None else None
    return s or get_settings()


def scalar(sql: str) -> Any:
    return op.get_bind().execute(sa.text(sql)).scalar()


def is_tidb() -> bool:
    return "TiDB" in str(scalar("SELECT VERSION()"))


def tiflash_stores() -> int:
    if not is_tidb():
        return 0
    return int(
        scalar("SELECT COUNT(*) FROM information_schema.cluster_info WHERE type = 'tiflash'") or 0
    )


def resource_control_on() -> bool:
    """Resource groups can be used: TiDB with resource control on, and durable groups.

    Not on unistore: it loses resource groups on restart, and a user still bound to a lost
    group makes the store unreachable for every session (see platform/capabilities.py).
    """
    if not is_tidb() or "Store: unistore" in str(scalar("SELECT tidb_version()")):
        return False
    return str(scalar("SELECT @@global.tidb_enable_resource_control")).upper() in ("1", "ON")


def quote_ident(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"refusing unusual identifier {name!r}")
    return f"`{name}`"


def quote_str(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


ANALYST_WHO = "CURRENT_USER() LIKE '%analyst%@%'"


def analyst_init_connect(limits: dict[str, int]) -> str:
    """The server-wide init_connect that gives accounts named like the analyst account
    these session values at login (every other account keeps the global ones)."""
    return "SET SESSION " + ", ".join(
        f"{var} = IF({ANALYST_WHO}, {int(value)}, @@global.{var})" for var, value in limits.items()
    )
