"""Read-backs (issue 13.2): a settlement by setl_id with its lines, and a person's visits and
settlements a page at a time. Read-only units at REPEATABLE READ: one snapshot per page.

Pages are keyset pages, newest first: ordered by (time, id) descending, the cursor is the
last row's (time, id), opaque to clients (base64 of JSON), so a page is one index range
read however deep it is, and rows added meanwhile never shift a later page. An HIS key bound
to an institution sees that institution's rows only.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from typing import Any

from sqlalchemy import Row, Select, literal, select, tuple_

from medhtap.platform.db import WriteSession
from medhtap.services.settlement import errors
from medhtap.services.settlement import fund_repository as fund_repo
from medhtap.services.settlement import repository as repo
from medhtap.services.settlement.lifecycle import record_out
from medhtap.services.settlement.lifecycle_schemas import (
    SettlementPage,
    SettlementRecordOut,
    SettlementSummaryOut,
    VisitPage,
)
from medhtap.services.settlement.schemas import LineSplitOut, SetlDetailOut
from medhtap.services.settlement.units import Caller, Entry

VISIT, SETL, FEE = repo.VISIT, repo.SETL, repo.FEE


def encode_cursor(at: dt.datetime, key: str) -> str:
    raw = json.dumps([at.isoformat(), key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, key = json.loads(raw)
        if not isinstance(key, str) or not isinstance(at, str):
            raise ValueError("cursor parts")
        return dt.datetime.fromisoformat(at), key
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise errors.InvalidCursor("cursor is not a next_cursor of this list") from exc


def _page(
    session: WriteSession, stmt: Select[Any], at: Any, key: Any, cursor: str | None, limit: int
) -> tuple[list[Row[Any]], str | None]:
    """Rows after the cursor, newest first, and the cursor of the next page (None: last)."""
    if cursor is not None:
        c_at, c_key = decode_cursor(cursor)
        stmt = stmt.where(
            tuple_(at, key) < tuple_(literal(c_at, at.type), literal(c_key, key.type))
        )
    rows = list(session.execute(stmt.order_by(at.desc(), key.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1]._mapping if rows and more else None
    return rows, encode_cursor(last[at.key], last[key.key]) if last is not None else None


def _require_person(session: WriteSession, psn_no: str) -> None:
    if repo.get_person(session, psn_no) is None:
        raise errors.PersonNotFound(f"no insured person {psn_no!r}")


def person_visits_unit(
    session: WriteSession, caller: Caller, psn_no: str, cursor: str | None, limit: int
) -> VisitPage:
    _require_person(session, psn_no)
    stmt = select(VISIT).where(VISIT.c.psn_no == psn_no)
    if inst := _bound(caller):
        stmt = stmt.where(VISIT.c.fixmedins_code == inst)
    rows, nxt = _page(session, stmt, VISIT.c.begntime, VISIT.c.mdtrt_id, cursor, limit)
    return VisitPage(items=[record_out(r) for r in rows], next_cursor=nxt)


def person_settlements_unit(
    session: WriteSession, caller: Caller, psn_no: str, cursor: str | None, limit: int
) -> SettlementPage:
    _require_person(session, psn_no)
    stmt = select(SETL).where(SETL.c.psn_no == psn_no)
    if inst := _bound(caller):
        stmt = stmt.where(SETL.c.fixmedins_code == inst)
    rows, nxt = _page(session, stmt, SETL.c.setl_time, SETL.c.setl_id, cursor, limit)
    items = [SettlementSummaryOut.model_validate(r._mapping, from_attributes=False) for r in rows]
    return SettlementPage(items=items, next_cursor=nxt)


def _line_out(row: Row[Any]) -> LineSplitOut:
    return LineSplitOut(
        feedetl_sn=row.feedetl_sn,
        item_code=row.item_code,
        amount=row.det_item_fee_sumamt,
        fulamt_ownpay_amt=row.fulamt_ownpay_amt,
        overlmt_selfpay=row.overlmt_selfpay,
        preselfpay_amt=row.preselfpay_amt,
        inscp_scp_amt=row.inscp_scp_amt,
        ownpay_reason=row.ownpay_reason,
    )


def _bound(caller: Caller) -> str | None:
    """The institution an HIS key is bound to (its rows only), else None (all rows)."""
    p = caller.principal
    return p.institution if p.role == "his" else None


def settlement_unit(session: WriteSession, caller: Caller, setl_id: str) -> SettlementRecordOut:
    """A settlement or reversal row as stored, with the fee lines it holds."""
    setl = repo.get_settlement(session, setl_id)
    if setl is None:
        raise errors.SettlementNotFound(f"no settlement {setl_id!r}")
    caller.principal.check_institution(setl.fixmedins_code)
    lines = session.execute(
        select(FEE)
        .prefix_with(repo.FEE_BY_VISIT)
        .where(FEE.c.mdtrt_id == setl.mdtrt_id, FEE.c.setl_id == setl_id)
        .order_by(FEE.c.feedetl_sn)
    ).all()
    split = [_line_out(r) for r in lines]
    fields = {k: v for k, v in setl._mapping.items() if k in SettlementRecordOut.model_fields}
    selfpay = [ln for ln in split if ln.ownpay_reason]
    detail = [
        SetlDetailOut.model_validate(d._mapping) for d in fund_repo.setl_detail(session, setl_id)
    ]
    return SettlementRecordOut.model_validate(
        fields | {"lines": split, "selfpay_lines": selfpay, "setldetail": detail}
    )


person_visits = Entry(person_visits_unit, name="person_visits", writes=False)
person_settlements = Entry(person_settlements_unit, name="person_settlements", writes=False)
get_settlement = Entry(settlement_unit, name="settlement_get", writes=False)
