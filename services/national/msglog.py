"""One national_message row per envelope (support and audit), and one log line. Neither
holds input or output: only ids, codes and times, so no personal data."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import Engine, insert
from sqlalchemy.exc import SQLAlchemyError

from medhtap.schema.national import NationalMessage

log = logging.getLogger("medhtap.national")


@dataclass
class Message:
    inf_refmsgid: str
    actor: str
    recv_time: dt.datetime
    msgid: str | None = None
    infno: str | None = None
    fixmedins_code: str | None = None
    infcode: int = -1
    err_code: str | None = None
    replay: bool = False
    duration_ms: int = 0


def _fit(value: str | None, size: int) -> str | None:
    return value[:size] if value is not None else None


def record(engine: Engine, m: Message) -> None:
    """Best effort: a log row that cannot be written must not change the answer."""
    log.info(
        "fsi infno=%s msgid=%s fixmedins=%s infcode=%s err=%s replay=%s ms=%s ref=%s",
        m.infno,
        m.msgid,
        m.fixmedins_code,
        m.infcode,
        m.err_code,
        m.replay,
        m.duration_ms,
        m.inf_refmsgid,
    )
    row = {
        "inf_refmsgid": m.inf_refmsgid,
        "msgid": _fit(m.msgid, 64),
        "infno": _fit(m.infno, 8),
        "fixmedins_code": _fit(m.fixmedins_code, 32),
        "actor": m.actor[:64],
        "recv_time": m.recv_time,
        "infcode": m.infcode,
        "err_code": m.err_code,
        "replay": m.replay,
        "duration_ms": m.duration_ms,
    }
    try:
        with engine.begin() as conn:
            conn.execute(insert(NationalMessage), row)
    except SQLAlchemyError:
        log.exception("national_message row not written ref=%s", m.inf_refmsgid)
