"""Queries of the settlement service. Functions take a session; the service owns the
transaction. `lock=True` means SELECT ... FOR UPDATE (TiDB pessimistic lock)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from medhtap.platform.prepared import insert_rows, json_param
from medhtap.platform.tx import error_code
from medhtap.schema.base import table
from medhtap.schema.person import InsuredPerson, PersonYearAccumulator
from medhtap.schema.reference import CatalogItem, Diagnosis, Institution, Policy
from medhtap.schema.settlement import IdempotencyRecord, Reconciliation, Settlement
from medhtap.schema.visit import FeeDetail, Visit
from medhtap.services.settlement import statements as sql

DEFAULT_REGION = "000000"
ZERO = Decimal("0.00")
DUPLICATE_KEY = 1062

PERSON = table(InsuredPerson)
ACC = table(PersonYearAccumulator)
VISIT = table(Visit)
FEE = table(FeeDetail)
SETL = table(Settlement)
IDEM = table(IdempotencyRecord)
ITEM = table(CatalogItem)
POLICY = table(Policy)

# fee_detail is partitioned by month of fee_ocur_time, so its clustered key is local to each
# partition: "all lines of a visit" on the primary key is one cop task per partition (~98,
# measured ~7 ms). The global unique index (mdtrt_id, feedetl_sn) finds them in one range
# scan; without statistics the optimizer does not choose it, so name it.
FEE_BY_VISIT = sql.FEE_BY_VISIT
LINES_PER_UPDATE = 200


# The money path's reads are built once, here, with bind parameters: building a SQLAlchemy
# statement per call (literal values, .with_for_update()) and hashing its cache key was most
# of a settlement's Python time (bench/settlement_profile.py). Its writes are driver SQL
# (statements.py, run by platform/prepared.py): no SQLAlchemy execution at all.
class ByKey:
    """A point read by key, with its locking (FOR UPDATE) twin."""

    def __init__(self, stmt: Any) -> None:
        self.plain, self.locking = stmt, stmt.with_for_update()

    def first(self, session: Session, lock: bool, **params: Any) -> Row[Any] | None:
        return session.execute(self.locking if lock else self.plain, params).first()


PERSON_BY_NO = ByKey(select(PERSON).where(PERSON.c.psn_no == bindparam("psn_no")))
VISIT_BY_ID = ByKey(select(VISIT).where(VISIT.c.mdtrt_id == bindparam("mdtrt_id")))
IDEM_BY_KEY = ByKey(select(IDEM).where(IDEM.c.idem_key == bindparam("idem_key")))
SETL_BY_ID = ByKey(select(SETL).where(SETL.c.setl_id == bindparam("setl_id")))
ACC_BY_KEY = ByKey(
    select(ACC).where(
        ACC.c.psn_no == bindparam("psn_no"),
        ACC.c.year == bindparam("year"),
        ACC.c.med_type == bindparam("med_type"),
    )
)


# ---- persons ---------------------------------------------------------------------------------


def get_person(session: Session, psn_no: str, *, lock: bool = False) -> Row[Any] | None:
    return PERSON_BY_NO.first(session, lock, psn_no=psn_no)


def person_exists(session: Session, psn_no: str, certno: str) -> bool:
    stmt = select(PERSON.c.psn_no).where(or_(PERSON.c.psn_no == psn_no, PERSON.c.certno == certno))
    return session.execute(stmt.limit(1)).first() is not None


def insert_person(session: Session, values: dict[str, Any]) -> None:
    session.execute(insert(PERSON), values)


def set_balance(session: Session, psn_no: str, balance: Decimal) -> None:
    sql.SET_BALANCE.execute(session, (balance, psn_no))


def ledger(session: Session, psn_no: str, setl_id: str, amount: Decimal, after: Decimal) -> None:
    sql.LEDGER.execute(session, (psn_no, setl_id, amount, after))


def accumulators(session: Session, psn_no: str, year: int) -> Sequence[Row[Any]]:
    stmt = select(ACC).where(ACC.c.psn_no == psn_no, ACC.c.year == year).order_by(ACC.c.med_type)
    return session.execute(stmt).all()


def year_accumulators(
    session: Session, psn_no: str, year: int, *, lock: bool
) -> list[sql.Accumulator]:
    """The person's accumulator rows of `year`, every visit kind (locked if asked)."""
    query = sql.ACC_OF_YEAR_LOCKED if lock else sql.ACC_OF_YEAR
    return query.all(session, (psn_no, year))


def get_accumulator(
    session: Session, psn_no: str, year: int, med_type: str, *, lock: bool = False
) -> Row[Any] | None:
    return ACC_BY_KEY.first(session, lock, psn_no=psn_no, year=year, med_type=med_type)


def add_to_accumulator(
    session: Session,
    psn_no: str,
    year: int,
    med_type: str,
    *,
    exists: bool,
    dedc: Decimal,
    hifp: Decimal,
    cnt: int,
    funds: tuple[Decimal, Decimal, Decimal] = (ZERO, ZERO, ZERO),
) -> None:
    """Add (or, negative, take back) amounts; `funds` is (in-scope self-pay, secondary
    fund paid, assistance paid). The caller holds the person's row lock, which serialises
    every writer of this person's accumulators, so insert-if-missing is safe."""
    stmt = sql.ACC_ADD if exists else sql.ACC_NEW  # the same parameters, in the same order
    stmt.execute(session, (dedc, hifp, cnt, *funds, psn_no, year, med_type))


# ---- reference -------------------------------------------------------------------------------


INST = table(Institution)
INST_BY_CODE = select(INST).where(INST.c.fixmedins_code == bindparam("code"))


def get_institution(session: Session, code: str) -> Row[Any] | None:
    return session.execute(INST_BY_CODE, {"code": code}).first()


def diagnosis_exists(session: Session, code: str) -> bool:
    diag = table(Diagnosis)
    stmt = select(diag.c.diag_code).where(diag.c.diag_code == code)
    return session.execute(stmt).first() is not None


def known_items(session: Session, codes: Iterable[str]) -> set[str]:
    stmt = select(ITEM.c.item_code).where(ITEM.c.item_code.in_(set(codes)))
    return set(session.execute(stmt).scalars())


def find_policy(
    session: Session, admdvs: str, insutype: str, med_type: str, hosp_lv: int, day: dt.date
) -> Row[Any] | None:
    """The policy in force on `day`: the person's region first, else the default region."""
    params = {"admdvs": admdvs, "insutype": insutype, "med_type": med_type, "hosp_lv": hosp_lv}
    return session.execute(POLICY_IN_FORCE, params | {"day": day}).first()


POLICY_IN_FORCE = (
    select(POLICY)
    .where(
        POLICY.c.admdvs.in_([bindparam("admdvs"), DEFAULT_REGION]),
        POLICY.c.insutype == bindparam("insutype"),
        POLICY.c.med_type == bindparam("med_type"),
        POLICY.c.hosp_lv == bindparam("hosp_lv"),
        POLICY.c.begndate <= bindparam("day"),
        or_(POLICY.c.enddate.is_(None), POLICY.c.enddate >= bindparam("day")),
    )
    .order_by((POLICY.c.admdvs == DEFAULT_REGION).asc(), POLICY.c.begndate.desc())
    .limit(1)
)


# ---- visits and fee lines --------------------------------------------------------------------


def get_visit(session: Session, mdtrt_id: str, *, lock: bool = False) -> Row[Any] | None:
    return VISIT_BY_ID.first(session, lock, mdtrt_id=mdtrt_id)


def insert_visit(session: Session, values: dict[str, Any]) -> None:
    session.execute(insert(VISIT), values)


def set_visit_status(session: Session, mdtrt_id: str, status: str) -> None:
    sql.SET_VISIT_STATUS.execute(session, (status, mdtrt_id))


def existing_feedetl_sns(session: Session, mdtrt_id: str, sns: Iterable[str]) -> list[str]:
    stmt = (
        select(FEE.c.feedetl_sn)
        .prefix_with(FEE_BY_VISIT)
        .where(FEE.c.mdtrt_id == mdtrt_id, FEE.c.feedetl_sn.in_(list(sns)))
    )
    return sorted(session.execute(stmt).scalars())


def insert_fee_lines(session: Session, rows: list[dict[str, Any]]) -> None:
    session.execute(insert(FEE), rows)


def get_fee_line(session: Session, mdtrt_id: str, feedetl_sn: str) -> Row[Any] | None:
    stmt = select(FEE).where(FEE.c.mdtrt_id == mdtrt_id, FEE.c.feedetl_sn == feedetl_sn)
    return session.execute(stmt).first()


def revoke_fee_line(session: Session, mdtrt_id: str, feedetl_sn: str) -> None:
    session.execute(
        update(FEE)
        .where(FEE.c.mdtrt_id == mdtrt_id, FEE.c.feedetl_sn == feedetl_sn)
        .values(fee_status="revoked")
    )


def active_lines(session: Session, mdtrt_id: str) -> list[sql.LineRow]:
    """The visit's active lines with the catalog facts the money rules need."""
    return sql.ACTIVE_LINES.all(session, (mdtrt_id,))


def visit_for_settlement(session: Session, mdtrt_id: str, *, lock: bool) -> sql.VisitRow | None:
    """The visit's columns 2206/2207 use (locked if asked)."""
    return (sql.VISIT_LOCKED if lock else sql.VISIT).first(session, (mdtrt_id,))


def person_for_settlement(session: Session, psn_no: str, *, lock: bool) -> sql.PersonRow | None:
    return (sql.PERSON_LOCKED if lock else sql.PERSON).first(session, (psn_no,))


def mark_lines_settled(session: Session, mdtrt_id: str, setl_id: str, splits: list[Any]) -> None:
    """Store each line's split (the analytics read these columns): one UPDATE with CASE per
    chunk of lines instead of one round trip per line."""
    for i in range(0, len(splits), LINES_PER_UPDATE):
        chunk = splits[i : i + LINES_PER_UPDATE]
        stmt = sql.settle_lines(len(chunk))
        stmt.execute(session, sql.settle_lines_params(mdtrt_id, setl_id, chunk))


def unsettle_lines(session: Session, mdtrt_id: str, setl_id: str) -> int:
    zero = Decimal("0.00")
    result = session.execute(
        update(FEE)
        .prefix_with(FEE_BY_VISIT)
        .where(FEE.c.mdtrt_id == mdtrt_id, FEE.c.setl_id == setl_id)
        .values(
            fee_status="active",
            setl_id=None,
            fulamt_ownpay_amt=zero,
            overlmt_selfpay=zero,
            preselfpay_amt=zero,
            inscp_scp_amt=zero,
            ownpay_reason=None,
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


# ---- settlements and idempotency -------------------------------------------------------------


def get_idempotency(session: Session, idem_key: str, *, lock: bool) -> Row[Any] | None:
    """With lock=True at REPEATABLE READ TiDB locks the key even when no row exists yet
    (pessimistic point get). At READ COMMITTED it locks only existing keys (TiDB
    pkg/executor/point_get.go `getAndLock`: "Only Lock the existing keys in RC isolation"),
    so the money units claim their key with `claim_idempotency` instead."""
    return IDEM_BY_KEY.first(session, lock, idem_key=idem_key)


def claim_idempotency(session: Session, idem_key: str, request_hash: str) -> Row[Any] | None:
    """Take the key before doing the work: insert its record (status 0, finished by
    `finish_idempotency` in the same transaction, so no other session ever sees it).

    The INSERT's pessimistic lock is what serialises two requests with one key: the second
    waits for the first to end, then gets a duplicate key (the first committed) or the key
    (it rolled back). Returns None when claimed, else the committed record to replay."""
    try:
        sql.CLAIM_IDEM.execute(session, (idem_key, request_hash, 0, "{}"))
        return None
    except IntegrityError as exc:
        if error_code(exc) != DUPLICATE_KEY:
            raise
    # Only this statement failed; TiDB keeps the pessimistic transaction open. A locking
    # read: it reads the latest commit at any isolation level (a plain one at REPEATABLE
    # READ would read the snapshot from before the commit we waited for).
    record = get_idempotency(session, idem_key, lock=True)
    assert record is not None, "duplicate idempotency key but no committed record"
    return record


def finish_idempotency(
    session: Session, idem_key: str, status: int, response: dict[str, Any]
) -> None:
    sql.FINISH_IDEM.execute(session, (status, json_param(response), idem_key))


def put_idempotency(
    session: Session, idem_key: str, request_hash: str, status: int, response: dict[str, Any]
) -> None:
    session.execute(
        insert(IDEM).values(
            idem_key=idem_key, request_hash=request_hash, status_code=status, response=response
        )
    )


def get_settlement(session: Session, setl_id: str, *, lock: bool = False) -> Row[Any] | None:
    return SETL_BY_ID.first(session, lock, setl_id=setl_id)


def reversal_of(session: Session, mdtrt_id: str, setl_id: str) -> Row[Any] | None:
    stmt = select(SETL).where(
        SETL.c.mdtrt_id == mdtrt_id, SETL.c.orig_setl_id == setl_id, SETL.c.setl_type == "reversal"
    )
    return session.execute(stmt).first()


def lines_of_settlement(session: Session, mdtrt_id: str, setl_id: str) -> list[str]:
    stmt = (
        select(FEE.c.feedetl_sn)
        .prefix_with(FEE_BY_VISIT)
        .where(FEE.c.mdtrt_id == mdtrt_id, FEE.c.setl_id == setl_id, FEE.c.fee_status == "settled")
    )
    return sorted(session.execute(stmt).scalars())


def insert_settlement(session: Session, values: dict[str, Any]) -> None:
    insert_rows(session, SETL, [values])


def mark_cancelled(session: Session, setl_id: str, when: dt.datetime) -> None:
    session.execute(
        update(SETL)
        .where(SETL.c.setl_id == setl_id)
        .values(setl_status="cancelled", cancel_time=when)
    )


# The amounts 3201/3202 compare (fund_pay_sumamt only when the institution sends it) and
# report per fund.
RECONCILED = (
    "medfee_sumamt",
    "hifp_pay",
    "acct_pay",
    "fund_pay_sumamt",
    "hifob_pay",
    "hifmi_pay",
    "maf_pay",
)


def day_rows(session: Session, fixmedins_code: str, day: dt.date) -> Sequence[Row[Any]]:
    """Every settlement and reversal row of an institution timed on `day`."""
    start = dt.datetime.combine(day, dt.time())
    stmt = select(SETL.c.setl_id, *(SETL.c[k] for k in RECONCILED)).where(
        SETL.c.fixmedins_code == fixmedins_code,
        SETL.c.setl_time >= start,
        SETL.c.setl_time < start + dt.timedelta(days=1),
    )
    return session.execute(stmt).all()


def day_totals(session: Session, fixmedins_code: str, day: dt.date) -> Row[Any]:
    start = dt.datetime.combine(day, dt.time())
    zero = Decimal("0.00")
    stmt = select(
        func.count().label("setl_cnt"),
        *(func.coalesce(func.sum(SETL.c[k]), zero).label(k) for k in RECONCILED),
    ).where(
        SETL.c.fixmedins_code == fixmedins_code,
        SETL.c.setl_time >= start,
        SETL.c.setl_time < start + dt.timedelta(days=1),
    )
    return session.execute(stmt).one()


def insert_reconciliation(session: Session, values: dict[str, Any]) -> None:
    session.execute(insert(table(Reconciliation)).values(**values))


# ---- audit -----------------------------------------------------------------------------------


def audit(
    session: Session,
    actor: str,
    action: str,
    entity: str,
    entity_id: str,
    detail: dict[str, Any],
    request_id: str | None = None,
) -> None:
    params = (actor, action, entity, entity_id, json_param(detail), request_id)
    sql.AUDIT.execute(session, params)
