"""The national-interface message log: one row per envelope received (issue 14)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from medhtap.schema.base import DATETIME6, TABLE_ARGS, Base


class NationalMessage(Base):
    """Every envelope, for support and audit: who sent which transaction when, how it ended
    and how long it took. No input or output is kept here, so no personal data: the
    answers that writes replay live in idempotency_record, under the msgid."""

    __tablename__ = "national_message"
    __table_args__ = (
        Index("ix_national_message_fixmedins_code_msgid", "fixmedins_code", "msgid"),
        Index("ix_national_message_recv_time", "recv_time"),
        TABLE_ARGS,
    )

    inf_refmsgid: Mapped[str] = mapped_column(String(32), primary_key=True)  # our id
    msgid: Mapped[str | None] = mapped_column(String(64))  # as sent (may be malformed)
    infno: Mapped[str | None] = mapped_column(String(8))
    fixmedins_code: Mapped[str | None] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))  # the API key's role:institution
    recv_time: Mapped[dt.datetime] = mapped_column(DATETIME6)
    infcode: Mapped[int] = mapped_column(SmallInteger)
    err_code: Mapped[str | None] = mapped_column(String(64))
    replay: Mapped[bool] = mapped_column(Boolean)
    duration_ms: Mapped[int] = mapped_column(Integer)
