"""Queries of the fund split: fund policy rows, the person's yearly fund figures, setldetail.

Functions take a session; the settlement unit owns the transaction and the locks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, bindparam, or_, select, update
from sqlalchemy.orm import Session

from medhtap.platform.prepared import insert_rows
from medhtap.schema.base import table
from medhtap.schema.funds import FundPolicy, FundSegment, SetlDetail
from medhtap.schema.person import InsuredPerson, PersonYearAccumulator
from medhtap.services.settlement import funds
from medhtap.services.settlement.repository import DEFAULT_REGION

FUND = table(FundPolicy)
SEGMENT = table(FundSegment)
DETAIL = table(SetlDetail)
ACC = table(PersonYearAccumulator)
PERSON = table(InsuredPerson)
ZERO = Decimal("0.00")

# The fund in force on a day: the person's region first, else the default region; per
# region the newest validity period.
FUND_IN_FORCE = (
    select(FUND)
    .where(
        FUND.c.admdvs.in_([bindparam("admdvs"), DEFAULT_REGION]),
        FUND.c.fund_kind == bindparam("kind"),
        or_(FUND.c.insutype.is_(None), FUND.c.insutype == bindparam("insutype")),
        or_(FUND.c.assistance_category.is_(None), FUND.c.assistance_category == bindparam("cat")),
        FUND.c.begndate <= bindparam("day"),
        or_(FUND.c.enddate.is_(None), FUND.c.enddate >= bindparam("day")),
    )
    .order_by((FUND.c.admdvs == DEFAULT_REGION).asc(), FUND.c.begndate.desc())
    .limit(1)
)
SEGMENTS = (
    select(SEGMENT.c.lower_amt, SEGMENT.c.upper_amt, SEGMENT.c.ratio)
    .where(SEGMENT.c.fund_policy_id == bindparam("id"))
    .order_by(SEGMENT.c.seg_no)
)


def _fund(
    session: Session, kind: str, **params: Any
) -> tuple[Row[Any], list[funds.Segment]] | None:
    row = session.execute(FUND_IN_FORCE, {"kind": kind, **params}).first()
    if row is None:
        return None
    segs = [
        funds.Segment(s.lower_amt, s.upper_amt, s.ratio)
        for s in session.execute(SEGMENTS, {"id": row.fund_policy_id})
    ]
    return row, segs


def fund_policy(
    session: Session, admdvs: str, insutype: str, category: str, day: dt.date
) -> funds.FundPolicy:
    """The secondary fund of the person's insurance type and, with an assistance category,
    the assistance fund, as in force on `day` (None where no row applies)."""
    params = {"admdvs": admdvs, "insutype": insutype, "day": day}
    secondary = assistance = None
    found = _fund(session, "secondary", cat=None, **params)
    if found:
        row, segs = found
        secondary = funds.SecondaryFund(
            row.fund_pay_type, row.fund_pay_type_name, row.setl_field, tuple(segs), row.annual_cap
        )
    if category != "none":
        found = _fund(session, "assistance", cat=category, **params)
        if found:
            row, segs = found
            # one segment from 0: the category's share of the base (funds.AssistanceFund)
            ratio = segs[0].ratio if segs else ZERO
            assistance = funds.AssistanceFund(
                row.fund_pay_type, row.fund_pay_type_name, ratio, row.annual_cap
            )
    return funds.FundPolicy(secondary, assistance)


def insert_setl_detail(session: Session, setl_id: str, detail: Iterable[Any]) -> None:
    rows = [
        {
            "setl_id": setl_id,
            "fund_pay_type": d.fund_pay_type,
            "fund_pay_type_name": d.fund_pay_type_name,
            "inscp_scp_amt": d.inscp_scp_amt,
            "crt_payb_lmt_amt": d.crt_payb_lmt_amt,
            "fund_payamt": d.fund_payamt,
            "setl_proc_info": d.setl_proc_info[:255],
        }
        for d in detail
    ]
    insert_rows(session, DETAIL, rows)  # one multi-row INSERT


def setl_detail(session: Session, setl_id: str) -> list[Row[Any]]:
    """A settlement's setldetail in the order it was computed: the funds by code (basic,
    secondary, assistance), then the employee account."""
    stmt = (
        select(DETAIL)
        .where(DETAIL.c.setl_id == setl_id)
        .order_by(DETAIL.c.fund_pay_type == funds.ACCOUNT_FUND[0], DETAIL.c.fund_pay_type)
    )
    return list(session.execute(stmt).all())


def set_assistance_category(session: Session, psn_no: str, category: str) -> int:
    stmt = update(PERSON).where(PERSON.c.psn_no == psn_no).values(assistance_category=category)
    return int(session.execute(stmt).rowcount)  # type: ignore[attr-defined]
