"""Queries of the settlement service. Functions take a session; the service owns the
transaction. `lock=True` means SELECT ... FOR UPDATE (TiDB pessimistic lock)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import Row, and_, bindparam, case, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from medhtap.platform.tx import error_code
from medhtap.schema.base import table
from medhtap.schema.ops import AuditLog
from medhtap.schema.person import AccountLedger, InsuredPerson, PersonYearAccumulator
from medhtap.schema.reference import CatalogItem, Diagnosis, Institution, Policy
from medhtap.schema.settlement import IdempotencyRecord, Reconciliation, Settlement
from medhtap.schema.visit import FeeDetail, Visit

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
FEE_BY_VISIT = "/*+ USE_INDEX(fee_detail, uq_fee_detail_mdtrt_id_feedetl_sn) */"
LINES_PER_UPDATE = 200


# The money path's statements are built once, here, with bind parameters: building a
# SQLAlchemy statement per call (literal values, .with_for_update()) and hashing its cache key
# was most of a settlement's Python time (bench/settlement_profile.py). Values travel as
# parameters; the compiled form is cached by the engine.
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


SET_BALANCE = (
    update(PERSON).where(PERSON.c.psn_no == bindparam("b_psn_no")).values(acct_balc=bindparam("b"))
)
LEDGER = insert(table(AccountLedger))


def set_balance(session: Session, psn_no: str, balance: Decimal) -> None:
    session.execute(SET_BALANCE, {"b_psn_no": psn_no, "b": balance})


def ledger(session: Session, psn_no: str, setl_id: str, amount: Decimal, after: Decimal) -> None:
    session.execute(
        LEDGER, {"psn_no": psn_no, "setl_id": setl_id, "amount": amount, "balance_after": after}
    )


def accumulators(session: Session, psn_no: str, year: int) -> Sequence[Row[Any]]:
    stmt = select(ACC).where(ACC.c.psn_no == psn_no, ACC.c.year == year).order_by(ACC.c.med_type)
    return session.execute(stmt).all()


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
    inscp_self, secondary, assistance = funds
    if exists:
        key = and_(ACC.c.psn_no == psn_no, ACC.c.year == year, ACC.c.med_type == med_type)
        session.execute(
            update(ACC)
            .where(key)
            .values(
                dedc_used=ACC.c.dedc_used + dedc,
                hifp_paid=ACC.c.hifp_paid + hifp,
                setl_cnt=ACC.c.setl_cnt + cnt,
                inscp_selfpay=ACC.c.inscp_selfpay + inscp_self,
                secondary_paid=ACC.c.secondary_paid + secondary,
                assistance_paid=ACC.c.assistance_paid + assistance,
            )
        )
    else:
        session.execute(
            insert(ACC).values(
                psn_no=psn_no,
                year=year,
                med_type=med_type,
                dedc_used=dedc,
                hifp_paid=hifp,
                setl_cnt=cnt,
                inscp_selfpay=inscp_self,
                secondary_paid=secondary,
                assistance_paid=assistance,
            )
        )


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
    session.execute(update(VISIT).where(VISIT.c.mdtrt_id == mdtrt_id).values(vis_status=status))


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


def active_lines(session: Session, mdtrt_id: str) -> Sequence[Row[Any]]:
    """The visit's active lines with the catalog facts the money rules need."""
    return session.execute(ACTIVE_LINES, {"mdtrt_id": mdtrt_id}).all()


ACTIVE_LINES = (
    select(
        FEE.c.feedetl_sn,
        FEE.c.cnt,
        FEE.c.pric,
        FEE.c.fee_ocur_time,
        ITEM.c.item_code,
        ITEM.c.item_kind,
        ITEM.c.chrgitm_lv,
        ITEM.c.selfpay_prop,
        ITEM.c.pric_uplmt_amt,
        ITEM.c.gend_lmt,
        ITEM.c.age_min,
        ITEM.c.age_max,
    )
    .prefix_with(FEE_BY_VISIT)
    .join(ITEM, ITEM.c.item_code == FEE.c.item_code)
    .where(FEE.c.mdtrt_id == bindparam("mdtrt_id"), FEE.c.fee_status == "active")
    .order_by(FEE.c.feedetl_sn)
)


def mark_lines_settled(session: Session, mdtrt_id: str, setl_id: str, splits: list[Any]) -> None:
    """Store each line's split (the analytics read these columns): one UPDATE with CASE per
    chunk of lines instead of one round trip per line."""
    for i in range(0, len(splits), LINES_PER_UPDATE):
        chunk = splits[i : i + LINES_PER_UPDATE]
        params: dict[str, Any] = {"b_mdtrt_id": mdtrt_id, "b_setl_id": setl_id}
        for j, s in enumerate(chunk):
            params[f"sn{j}"] = s.feedetl_sn
            params.update({f"{col}{j}": getattr(s, col) for col in SPLIT_COLUMNS})
        session.execute(_settle_lines_stmt(len(chunk)), params)


SPLIT_COLUMNS = (
    "fulamt_ownpay_amt",
    "overlmt_selfpay",
    "preselfpay_amt",
    "inscp_scp_amt",
    "ownpay_reason",
)


@lru_cache(maxsize=64)
def _settle_lines_stmt(n: int) -> Any:
    """UPDATE of n lines, each column a CASE on feedetl_sn; one statement per line count."""
    values: dict[str, Any] = {"fee_status": "settled", "setl_id": bindparam("b_setl_id")}
    for col in SPLIT_COLUMNS:
        values[col] = case(
            {bindparam(f"sn{j}"): bindparam(f"{col}{j}", type_=FEE.c[col].type) for j in range(n)},
            value=FEE.c.feedetl_sn,
            else_=FEE.c[col],
        )
    return (
        update(FEE)
        .prefix_with(FEE_BY_VISIT)
        .where(
            FEE.c.mdtrt_id == bindparam("b_mdtrt_id"),
            FEE.c.feedetl_sn.in_([bindparam(f"sn{j}") for j in range(n)]),
        )
        .values(values)
    )


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
        params = {"idem_key": idem_key, "request_hash": request_hash, "status_code": 0}
        session.execute(insert(IDEM), params | {"response": {}})
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
    session.execute(FINISH_IDEM, {"k": idem_key, "status_code": status, "response": response})


FINISH_IDEM = (
    update(IDEM)
    .where(IDEM.c.idem_key == bindparam("k"))
    .values(status_code=bindparam("status_code"), response=bindparam("response"))
)


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
    session.execute(insert(SETL), values)


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
    session.execute(
        AUDIT,
        {
            "actor": actor,
            "action": action,
            "entity": entity,
            "entity_id": entity_id,
            "detail": detail,
            "request_id": request_id,
        },
    )


AUDIT = insert(table(AuditLog))
