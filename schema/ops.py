"""Audit trail and fund risk-control alerts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import DECIMAL, JSON, BigInteger, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from medhtap.schema.base import AUTO_RANDOM, DATETIME6, TABLE_ARGS, Base


class AuditLog(Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_entity_entity_id", "entity", "entity_id"),
        Index("ix_audit_log_created_at", "created_at"),
        TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, info=AUTO_RANDOM)
    actor: Mapped[str] = mapped_column(String(64))  # api key role[:institution]
    action: Mapped[str] = mapped_column(String(32))  # settle, cancel, fee_upload, ...
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict] = mapped_column(JSON)
    request_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DATETIME6, server_default=func.now(6))


class RiskAlert(Base):
    """An alert raised by a fund risk-control rule, with the rows that prove it."""

    __tablename__ = "risk_alert"
    __table_args__ = (
        Index("ix_risk_alert_rule_code_dedupe_key", "rule_code", "dedupe_key", unique=True),
        Index("ix_risk_alert_psn_no", "psn_no"),
        Index("ix_risk_alert_status_detected_at", "alert_status", "detected_at"),
        TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, info=AUTO_RANDOM)
    rule_code: Mapped[str] = mapped_column(String(32))
    dedupe_key: Mapped[str] = mapped_column(String(200))  # same finding -> same alert
    psn_no: Mapped[str | None] = mapped_column(String(32))
    fixmedins_code: Mapped[str | None] = mapped_column(String(32))
    mdtrt_id: Mapped[str | None] = mapped_column(String(40))
    score: Mapped[Decimal] = mapped_column(DECIMAL(16, 4), default=Decimal("0"))
    summary: Mapped[str] = mapped_column(String(400))
    evidence: Mapped[list] = mapped_column(JSON)
    alert_status: Mapped[str] = mapped_column(String(16), default="open")
    run_id: Mapped[str] = mapped_column(String(40))
    detected_at: Mapped[dt.datetime] = mapped_column(DATETIME6, server_default=func.now(6))
