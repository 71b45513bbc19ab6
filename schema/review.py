"""Pre- and in-process review (事前事中审核, issue 14.3): the rules as rows, their results."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, Index, SmallInteger, String, func
from sqlalchemy.orm import Mapped, mapped_column

from medhtap.schema.base import DATETIME6, TABLE_ARGS, Base, Money


class ReviewRule(Base):
    """One review rule: its kind names the pure function of services/review/rules.py that
    evaluates it; severity and parameters are data, changed without code."""

    __tablename__ = "review_rule"
    __table_args__ = (CheckConstraint("sev_deg IN (1, 2)", name="sev_deg"), TABLE_ARGS)

    rule_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    rule_name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    sev_deg: Mapped[int] = mapped_column(SmallInteger)  # 1 forbidden, 2 warning
    vola_bhvr_type: Mapped[str] = mapped_column(String(8))  # 1 clear violation, 2 suspected
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[dt.datetime] = mapped_column(DATETIME6, server_default=func.now(6))


class ReviewResult(Base):
    """One rule that fired on one visit's lines (3101 orders or 3102/2207 fee lines).

    jr_id is derived from (stage, visit, rule, lines), so a re-run of the review finds the
    same row: a result the hospital handled (3103) stays handled while its lines are the
    same. The handling is kept when the review refreshes the rest."""

    __tablename__ = "review_result"
    __table_args__ = (
        CheckConstraint("stage IN ('pre', 'in')", name="stage"),
        CheckConstraint("dspo_way IS NULL OR dspo_way IN ('1', '2')", name="dspo_way"),
        Index("ix_review_result_mdtrt_id", "mdtrt_id"),
        Index("ix_review_result_fixmedins_code_created_at", "fixmedins_code", "created_at"),
        Index("ix_review_result_rule_id_created_at", "rule_id", "created_at"),
        TABLE_ARGS,
    )

    jr_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    stage: Mapped[str] = mapped_column(String(8))  # pre: 3101 orders; in: 3102 / 2207 lines
    mdtrt_id: Mapped[str] = mapped_column(String(40))
    psn_no: Mapped[str] = mapped_column(String(32))
    fixmedins_code: Mapped[str] = mapped_column(String(32))
    rule_id: Mapped[str] = mapped_column(String(16))
    rule_name: Mapped[str] = mapped_column(String(200))
    sev_deg: Mapped[int] = mapped_column(SmallInteger)
    vola_bhvr_type: Mapped[str] = mapped_column(String(8))
    vola_cont: Mapped[str] = mapped_column(String(400))
    vola_evid: Mapped[str] = mapped_column(String(400))
    vola_amt: Mapped[Money]
    line_ids: Mapped[list[Any]] = mapped_column(JSON)  # feedetl_sn (in) or rx_id (pre)
    details: Mapped[list[Any]] = mapped_column(JSON)  # one row per line: id, code, amount
    dspo_way: Mapped[str | None] = mapped_column(String(1))  # 1 continue, 2 go back, change
    dspo_way_rea: Mapped[str | None] = mapped_column(String(200))
    handled_at: Mapped[dt.datetime | None] = mapped_column(DATETIME6)
    handled_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DATETIME6, server_default=func.now(6))
    last_seen_at: Mapped[dt.datetime] = mapped_column(DATETIME6, server_default=func.now(6))


__all__ = ["ReviewResult", "ReviewRule"]
