"""Closing a risk alert: a manager's decision, with its reason, audited in the same
transaction as the status change (no closed alert without its audit row, and vice versa).

Who, when and why live in the `audit_log` row (actor, created_at, detail.reason); the alert
keeps only its status. A later rule run leaves a closed alert closed (risk.store_alerts
refreshes evidence, never the status).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine, func, insert, select, update

from medhtap.platform.db import WriteSession
from medhtap.platform.errors import Conflict, NotFound
from medhtap.platform.tx import run_in_transaction
from medhtap.schema.base import table
from medhtap.schema.ops import AuditLog, RiskAlert

ALERTS = table(RiskAlert)
AUDIT = table(AuditLog)
CLOSED = "closed"


class AlertNotFound(NotFound):
    """No risk alert has this id."""

    code = "ALERT_NOT_FOUND"


class AlertAlreadyClosed(Conflict):
    """The alert was closed before; closing is done once, with one reason."""

    code = "ALERT_ALREADY_CLOSED"


def close_alert(
    write_engine: Engine, alert_id: int, *, actor: str, reason: str, request_id: str | None
) -> dict[str, Any]:
    """Set the alert's status to closed and write its audit row, in one transaction."""

    def unit(session: WriteSession) -> dict[str, Any]:
        # FOR UPDATE: two managers closing at once -> one closes, the other gets 409
        status = session.execute(
            select(ALERTS.c.alert_status).where(ALERTS.c.id == alert_id).with_for_update()
        ).scalar()
        if status is None:
            raise AlertNotFound(f"risk alert {alert_id} does not exist", alert_id=alert_id)
        if status == CLOSED:
            raise AlertAlreadyClosed(f"risk alert {alert_id} is already closed", alert_id=alert_id)
        now: dt.datetime = session.execute(select(func.now(6))).scalar_one()
        session.execute(update(ALERTS).where(ALERTS.c.id == alert_id).values(alert_status=CLOSED))
        session.execute(
            insert(AUDIT).values(
                actor=actor,
                action="alert_close",
                entity="risk_alert",
                entity_id=str(alert_id),
                detail={"reason": reason, "previous_status": status},
                request_id=request_id,
                created_at=now,
            )
        )
        return {
            "id": alert_id,
            "alert_status": CLOSED,
            "closed_by": actor,
            "closed_at": now.isoformat(),
            "reason": reason,
        }

    return run_in_transaction(write_engine, unit, name="risk_alert_close")
