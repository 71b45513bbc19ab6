"""The settlement service: each operation is one unit of work on a WriteSession.

`*_unit(session, ...)` functions do the reads, rules and writes of one request and never
commit; the public functions run them through `platform.tx.run_in_transaction`, which owns
the TiDB transaction and re-runs the whole unit on a retryable error.

Lock order, the same in every unit, so units cannot deadlock each other:
idempotency key -> settlement row (cancel) -> visit -> person -> accumulator rows.
The person row lock serialises all money of one person (balance, deductible, annual cap).

Isolation (issue 10.1): every unit that writes runs at READ COMMITTED (see platform/tx.py
for TiDB's documentation and source). Each statement then reads what was committed before it
started, so a read that follows a lock wait sees the work of the transaction it waited for;
at TiDB's REPEATABLE READ a plain SELECT would read the transaction's start snapshot instead.
Why each unit's reads are safe at READ COMMITTED is argued at the unit. The rule they share:
every row a money decision depends on is either locked by this unit before it is read
(idempotency key, settlement, visit, person, accumulator), or written only by units that
hold the lock of its owner (a visit's fee lines: every writer locks the visit first), so once
the owner's lock is held the statement's fresh read is also the final state; reference data
(institution, catalog, policy, diagnosis) is read as of the statement, like any other
commit-time fact. The read-only units (person read, 2206 pre-settlement) keep REPEATABLE READ:
they write nothing, and want their reads to be one consistent snapshot.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, Row
from sqlalchemy.exc import IntegrityError

from medhtap.platform.db import WriteSession
from medhtap.platform.tx import READ_COMMITTED, error_code, run_in_transaction
from medhtap.services.auth import Principal
from medhtap.services.privacy import mask_certno as mask_certno  # re-export
from medhtap.services.privacy import person_view
from medhtap.services.settlement import errors, rules
from medhtap.services.settlement import fact_repository as facts
from medhtap.services.settlement import repository as repo
from medhtap.services.settlement.schemas import (
    AccumulatorOut,
    FeeBatchIn,
    FeeBatchOut,
    FeeLineOut,
    FeeRevokeOut,
    LineSplitOut,
    PersonIn,
    PersonOut,
    SettleIn,
    SettlementOut,
    VisitIn,
    VisitOut,
)

log = logging.getLogger(__name__)
DUPLICATE_KEY = 1062
MAX_VISIT_TOTAL = Decimal("1e13")  # DECIMAL(16,2) holds < 1e14; keep a margin for sums


@dataclass(frozen=True)
class Caller:
    principal: Principal
    request_id: str | None = None

    @property
    def actor(self) -> str:
        return self.principal.name


def new_id() -> str:
    return uuid.uuid4().hex


def request_hash(op: str, **fields: Any) -> str:
    canonical = json.dumps({"op": op, **fields}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotency_scope(op: str, caller: Caller, key: str) -> str:
    """Keys are per caller and per operation; a scope too long for the column is hashed."""
    scoped = f"{op}:{caller.actor}:{key}"
    if len(scoped) > 160:
        scoped = f"{op}:{hashlib.sha256(scoped.encode()).hexdigest()}"
    return scoped


# ---- 1101 persons ----------------------------------------------------------------------------


def _person_out(session: WriteSession, row: Row[Any], caller: Caller, year: int) -> PersonOut:
    accs = repo.accumulators(session, row.psn_no, year)
    return PersonOut(
        psn_no=row.psn_no,
        **person_view(caller.principal, row),  # per role: services/privacy.py
        gend=row.gend,
        insutype=row.insutype,
        admdvs=row.admdvs,
        psn_status=row.psn_status,
        acct_balc=row.acct_balc,
        accumulators=[
            AccumulatorOut(
                year=a.year,
                med_type=a.med_type,
                dedc_used=a.dedc_used,
                hifp_paid=a.hifp_paid,
                setl_cnt=a.setl_cnt,
            )
            for a in accs
        ],
    )


def create_person_unit(session: WriteSession, caller: Caller, body: PersonIn) -> PersonOut:
    # The existence read is only a friendly early answer: the unique keys on psn_no and
    # certno decide (a concurrent registration gets 1062 below). The last read is our own row.
    psn_no = body.psn_no or new_id()
    if repo.person_exists(session, psn_no, body.certno):
        raise errors.PersonExists("a person with this psn_no or certno exists", psn_no=psn_no)
    values = body.model_dump(exclude={"psn_no"}) | {"psn_no": psn_no, "psn_status": "active"}
    try:
        repo.insert_person(session, values)
    except IntegrityError as exc:  # a concurrent registration of the same person
        if error_code(exc) == DUPLICATE_KEY:
            raise errors.PersonExists("a person with this psn_no or certno exists") from exc
        raise
    repo.audit(
        session,
        caller.actor,
        "person_create",
        "insured_person",
        psn_no,
        {"insutype": body.insutype, "acct_balc": str(body.acct_balc)},
        caller.request_id,
    )
    row = repo.get_person(session, psn_no)
    assert row is not None
    return _person_out(session, row, caller, dt.date.today().year)


def get_person_unit(session: WriteSession, caller: Caller, psn_no: str, year: int) -> PersonOut:
    row = repo.get_person(session, psn_no)
    if row is None:
        raise errors.PersonNotFound(f"no insured person {psn_no!r}")
    return _person_out(session, row, caller, year)


# ---- 2201/2401 visits ------------------------------------------------------------------------


def normalise_icd10(code: str) -> str:
    """'e119' and 'E11.9' name the same code; the table stores the dotted form."""
    code = code.strip().upper()
    if "." not in code and len(code) > 3:
        code = f"{code[:3]}.{code[3:]}"
    return code


def _visit_out(row: Row[Any]) -> VisitOut:
    return VisitOut.model_validate(row._mapping, from_attributes=False)


def create_visit_unit(session: WriteSession, caller: Caller, body: VisitIn) -> VisitOut:
    # Reads reference data and the person's status as of each statement; no money moves here,
    # and a settlement re-checks the person's status under the person's lock.
    inst = repo.get_institution(session, body.fixmedins_code)
    if inst is None:
        raise errors.UnknownInstitution(f"unknown institution {body.fixmedins_code!r}")
    caller.principal.check_institution(body.fixmedins_code)
    person = repo.get_person(session, body.psn_no)
    if person is None:
        raise errors.PersonNotFound(f"no insured person {body.psn_no!r}")
    if person.psn_status != "active":
        raise errors.PersonSuspended("the person's insurance is suspended")
    diag = normalise_icd10(body.main_diag_code)
    if not repo.diagnosis_exists(session, diag):
        raise errors.UnknownDiagnosis(f"{body.main_diag_code!r} is not a known ICD-10 code")
    mdtrt_id = new_id()
    values = body.model_dump() | {
        "mdtrt_id": mdtrt_id,
        "main_diag_code": diag,
        "vis_status": "open",
    }
    repo.insert_visit(session, values)
    repo.audit(
        session,
        caller.actor,
        "visit_create",
        "visit",
        mdtrt_id,
        {"psn_no": body.psn_no, "med_type": body.med_type, "fixmedins_code": body.fixmedins_code},
        caller.request_id,
    )
    row = repo.get_visit(session, mdtrt_id)
    assert row is not None
    return _visit_out(row)


def _open_visit(session: WriteSession, caller: Caller, mdtrt_id: str) -> Row[Any]:
    """Lock the visit, check the caller's institution and that fees may still change."""
    visit = repo.get_visit(session, mdtrt_id, lock=True)
    if visit is None:
        raise errors.VisitNotFound(f"no visit {mdtrt_id!r}")
    caller.principal.check_institution(visit.fixmedins_code)
    if visit.vis_status != "open":
        raise errors.VisitNotOpen("the visit is settled; cancel the settlement first")
    return visit


# ---- 2204/2205 fee lines ---------------------------------------------------------------------


def upload_fees_unit(
    session: WriteSession, caller: Caller, mdtrt_id: str, body: FeeBatchIn
) -> FeeBatchOut:
    # The visit lock orders uploads against a settlement of the same visit: no line can
    # land between the settlement's read of the lines and its commit. The duplicate check
    # below runs after that lock, so at READ COMMITTED it sees every committed line (every
    # writer of a visit's lines holds the visit lock); the unique index is the last guard.
    _open_visit(session, caller, mdtrt_id)
    sns = [ln.feedetl_sn for ln in body.lines]
    repeated = sorted({sn for sn in sns if sns.count(sn) > 1})
    if repeated:
        raise errors.DuplicateFeeLine("feedetl_sn repeated in the batch", feedetl_sn=repeated)
    stored = repo.existing_feedetl_sns(session, mdtrt_id, sns)
    if stored:
        raise errors.DuplicateFeeLine("feedetl_sn already stored for this visit", feedetl_sn=stored)
    unknown = sorted(
        {ln.item_code for ln in body.lines}
        - repo.known_items(session, (ln.item_code for ln in body.lines))
    )
    if unknown:
        raise errors.UnknownItem("item codes not in the catalog", item_code=unknown)
    rows: list[dict[str, Any]] = [
        {
            "mdtrt_id": mdtrt_id,
            "feedetl_sn": ln.feedetl_sn,
            "item_code": ln.item_code,
            "cnt": ln.cnt,
            "pric": ln.pric,
            "det_item_fee_sumamt": rules.money(ln.cnt * ln.pric),
            "fee_ocur_time": ln.fee_ocur_time,
            "fee_status": "active",
        }
        for ln in body.lines
    ]
    try:
        repo.insert_fee_lines(session, rows)
    except IntegrityError as exc:
        if error_code(exc) == DUPLICATE_KEY:
            raise errors.DuplicateFeeLine("feedetl_sn already stored for this visit") from exc
        raise
    repo.audit(
        session,
        caller.actor,
        "fee_upload",
        "visit",
        mdtrt_id,
        {"feedetl_sn": sns, "sum": str(sum((r["det_item_fee_sumamt"] for r in rows), rules.ZERO))},
        caller.request_id,
    )
    return FeeBatchOut(
        mdtrt_id=mdtrt_id,
        stored=len(rows),
        lines=[FeeLineOut.model_validate(r) for r in rows],
    )


def revoke_fee_unit(
    session: WriteSession, caller: Caller, mdtrt_id: str, feedetl_sn: str
) -> FeeRevokeOut:
    # Read after the visit lock: a concurrent revoke of the same line has committed (we see
    # 'revoked') or waits behind us; a settlement of the visit makes _open_visit refuse.
    _open_visit(session, caller, mdtrt_id)
    line = repo.get_fee_line(session, mdtrt_id, feedetl_sn)
    if line is None:
        raise errors.FeeLineNotFound(f"no fee line {feedetl_sn!r} on this visit")
    if line.fee_status == "revoked":
        raise errors.FeeLineRevoked(f"fee line {feedetl_sn!r} is already revoked")
    repo.revoke_fee_line(session, mdtrt_id, feedetl_sn)
    repo.audit(
        session,
        caller.actor,
        "fee_revoke",
        "fee_detail",
        f"{mdtrt_id}/{feedetl_sn}",
        {"amount": str(line.det_item_fee_sumamt)},
        caller.request_id,
    )
    return FeeRevokeOut(mdtrt_id=mdtrt_id, feedetl_sn=feedetl_sn, fee_status="revoked")


# ---- 2206/2207 settlement --------------------------------------------------------------------


@dataclass(frozen=True)
class Computed:
    result: rules.Result
    policy_id: int
    hosp_lv: int
    year: int
    accumulator_exists: bool


def compute(
    session: WriteSession, visit: Row[Any], person: Row[Any], use_account: bool, *, lock: bool
) -> Computed:
    """Load the facts of a visit and apply the money rules (locks accumulators if asked)."""
    inst = repo.get_institution(session, visit.fixmedins_code)
    if inst is None:  # reference data changed under an open visit
        raise errors.UnknownInstitution(f"unknown institution {visit.fixmedins_code!r}")
    day = visit.begntime.date()
    policy = repo.find_policy(
        session, person.admdvs, person.insutype, visit.med_type, inst.hosp_lv, day
    )
    if policy is None:
        raise errors.NoPolicy("no benefit policy applies to this visit")
    # With the visit locked (2207) this fresh read is final: uploads, revokes and cancels of
    # this visit all lock the visit first. Without the lock (2206) it is a preview.
    rows = repo.active_lines(session, visit.mdtrt_id)
    if not rows:
        raise errors.NoFeeLines("the visit has no active fee lines")
    acc = repo.get_accumulator(session, person.psn_no, day.year, visit.med_type, lock=lock)
    lines = [rules.Line(r.feedetl_sn, rules.Item.from_row(r), r.cnt, r.pric) for r in rows]
    result = rules.settle(
        lines,
        rules.Person(person.insutype, person.gend, person.brdy, person.acct_balc),
        day,
        rules.Benefit(policy.dedc_amt, policy.dedc_scope, policy.pool_prop, policy.annual_cap),
        rules.Used(acc.dedc_used, acc.hifp_paid) if acc else rules.Used(),
        use_account=use_account,
    )
    if result.medfee_sumamt >= MAX_VISIT_TOTAL:
        raise errors.AmountTooLarge("the visit total is beyond what one settlement may carry")
    return Computed(result, policy.policy_id, inst.hosp_lv, day.year, acc is not None)


def _line_out(s: rules.LineSplit) -> LineSplitOut:
    return LineSplitOut(
        feedetl_sn=s.feedetl_sn,
        item_code=s.item_code,
        amount=s.amount,
        fulamt_ownpay_amt=s.fulamt_ownpay_amt,
        overlmt_selfpay=s.overlmt_selfpay,
        preselfpay_amt=s.preselfpay_amt,
        inscp_scp_amt=s.inscp_scp_amt,
        ownpay_reason=s.ownpay_reason,
    )


def _settlement_out(
    visit: Row[Any],
    person: Row[Any],
    c: Computed,
    *,
    setl_id: str | None,
    setl_time: dt.datetime | None,
    balance_after: Decimal,
) -> SettlementOut:
    r = c.result
    return SettlementOut(
        setl_id=setl_id,
        mdtrt_id=visit.mdtrt_id,
        psn_no=person.psn_no,
        fixmedins_code=visit.fixmedins_code,
        insutype=person.insutype,
        med_type=visit.med_type,
        hosp_lv=c.hosp_lv,
        policy_id=c.policy_id,
        setl_time=setl_time,
        medfee_sumamt=r.medfee_sumamt,
        fulamt_ownpay_amt=r.fulamt_ownpay_amt,
        overlmt_selfpay=r.overlmt_selfpay,
        preselfpay_amt=r.preselfpay_amt,
        inscp_scp_amt=r.inscp_scp_amt,
        act_pay_dedc=r.act_pay_dedc,
        hifp_pay=r.hifp_pay,
        pool_prop_selfpay=r.pool_prop_selfpay,
        psn_part_amt=r.psn_part_amt,
        acct_pay=r.acct_pay,
        psn_cash_pay=r.psn_cash_pay,
        acct_balc_after=balance_after,
        lines=[_line_out(s) for s in r.lines],
        selfpay_lines=[_line_out(s) for s in r.selfpay_lines],
    )


def _visit_and_person(
    session: WriteSession, caller: Caller, mdtrt_id: str, *, lock: bool
) -> tuple[Row[Any], Row[Any]]:
    visit = repo.get_visit(session, mdtrt_id, lock=lock)
    if visit is None:
        raise errors.VisitNotFound(f"no visit {mdtrt_id!r}")
    caller.principal.check_institution(visit.fixmedins_code)
    if visit.vis_status != "open":
        raise errors.AlreadySettled("the visit is already settled; cancel it first")
    person = repo.get_person(session, visit.psn_no, lock=lock)
    if person is None:
        raise errors.PersonNotFound(f"no insured person {visit.psn_no!r}")
    if person.psn_status != "active":
        raise errors.PersonSuspended("the person's insurance is suspended")
    return visit, person


def pre_settle_unit(
    session: WriteSession, caller: Caller, mdtrt_id: str, body: SettleIn
) -> SettlementOut:
    """2206: the same computation as 2207 without locks or writes."""
    visit, person = _visit_and_person(session, caller, mdtrt_id, lock=False)
    c = compute(session, visit, person, body.use_account, lock=False)
    return _settlement_out(
        visit,
        person,
        c,
        setl_id=None,
        setl_time=None,
        balance_after=person.acct_balc - c.result.acct_pay,
    )


def _stored_answer(record: Row[Any], digest: str) -> SettlementOut:
    if record.request_hash != digest:
        raise errors.IdempotencyConflict("this Idempotency-Key was used for a different request")
    if record.status_code != 200:
        _inconsistent(record, "the stored answer was never finished")
    return SettlementOut.model_validate(record.response)


def _inconsistent(record: Row[Any], problem: str, **details: Any) -> None:
    """Refuse to replay an answer the database no longer backs (issue 10.2)."""
    log.critical(
        "idempotency record %s vouches for data the database does not hold: %s %s",
        record.idem_key,
        problem,
        details,
    )
    raise errors.ReplayInconsistent(
        f"the stored answer for this Idempotency-Key is not backed by the database: {problem}",
        **details,
    )


def _replay_settlement(session: WriteSession, record: Row[Any], digest: str) -> SettlementOut:
    """2207 replay: the settlement must exist as answered, its visit settled by it with its
    lines; a settlement cancelled since is reported as such (409 with the reversal)."""
    out = _stored_answer(record, digest)
    assert out.setl_id is not None
    setl = repo.get_settlement(session, out.setl_id)
    if setl is None:
        _inconsistent(record, "settlement row missing", setl_id=out.setl_id)
    assert setl is not None
    if (setl.setl_type, setl.mdtrt_id, setl.medfee_sumamt, setl.acct_pay) != (
        "normal",
        out.mdtrt_id,
        out.medfee_sumamt,
        out.acct_pay,
    ):
        _inconsistent(record, "settlement row differs from the answer", setl_id=out.setl_id)
    if setl.setl_status == "cancelled":
        reversal = repo.reversal_of(session, setl.mdtrt_id, setl.setl_id)
        if reversal is None:
            _inconsistent(record, "cancelled without a reversal row", setl_id=out.setl_id)
        assert reversal is not None
        raise errors.SettlementCancelled(
            "this settlement was cancelled; the visit is not settled by it",
            setl_id=setl.setl_id,
            setl_status="cancelled",
            reversal_setl_id=reversal.setl_id,
            cancel_time=setl.cancel_time.isoformat() if setl.cancel_time else None,
        )
    visit = repo.get_visit(session, out.mdtrt_id)
    if visit is None or visit.vis_status != "settled":
        _inconsistent(
            record,
            "visit not settled",
            setl_id=out.setl_id,
            vis_status=visit.vis_status if visit else None,
        )
    lines = repo.lines_of_settlement(session, out.mdtrt_id, setl.setl_id)
    if lines != sorted(ln.feedetl_sn for ln in out.lines):
        _inconsistent(record, "fee lines differ from the answer", setl_id=out.setl_id)
    out.replay = True
    return out


def _replay_cancel(session: WriteSession, record: Row[Any], digest: str) -> SettlementOut:
    """2208 replay: the reversal row and the cancelled original must both exist."""
    out = _stored_answer(record, digest)
    assert out.setl_id is not None and out.orig_setl_id is not None
    reversal = repo.get_settlement(session, out.setl_id)
    orig = repo.get_settlement(session, out.orig_setl_id)
    if reversal is None or reversal.setl_type != "reversal":
        _inconsistent(record, "reversal row missing", setl_id=out.setl_id)
    if orig is None or orig.setl_status != "cancelled":
        _inconsistent(record, "original not cancelled", setl_id=out.orig_setl_id)
    out.replay = True
    return out


def settle_unit(
    session: WriteSession, caller: Caller, mdtrt_id: str, idem_key: str, body: SettleIn
) -> SettlementOut:
    """2207: settle a visit; the answer is stored under the key in the same transaction, so
    a reply lost after the commit is replayed, never settled twice.

    Reads at READ COMMITTED: the key is claimed by an INSERT (its lock serialises retries of
    one key); the visit, person and accumulator are locked before they are read; the lines
    are read after the visit lock (see `compute`); a replay checks the rows it vouches for."""
    scoped = idempotency_scope("2207", caller, idem_key)
    digest = request_hash("2207", mdtrt_id=mdtrt_id, **body.model_dump())
    record = repo.claim_idempotency(session, scoped, digest)
    if record is not None:
        return _replay_settlement(session, record, digest)

    visit, person = _visit_and_person(session, caller, mdtrt_id, lock=True)
    c = compute(session, visit, person, body.use_account, lock=True)
    r = c.result
    setl_id = new_id()
    now = dt.datetime.now()
    balance_after = person.acct_balc - r.acct_pay

    repo.insert_settlement(
        session,
        {
            "setl_id": setl_id,
            "setl_type": "normal",
            "setl_status": "settled",
            "mdtrt_id": mdtrt_id,
            "psn_no": person.psn_no,
            "fixmedins_code": visit.fixmedins_code,
            "insutype": person.insutype,
            "med_type": visit.med_type,
            "hosp_lv": c.hosp_lv,
            "setl_time": now,
            "medfee_sumamt": r.medfee_sumamt,
            "fulamt_ownpay_amt": r.fulamt_ownpay_amt,
            "overlmt_selfpay": r.overlmt_selfpay,
            "preselfpay_amt": r.preselfpay_amt,
            "inscp_scp_amt": r.inscp_scp_amt,
            "act_pay_dedc": r.act_pay_dedc,
            "hifp_pay": r.hifp_pay,
            "pool_prop_selfpay": r.pool_prop_selfpay,
            "psn_part_amt": r.psn_part_amt,
            "acct_pay": r.acct_pay,
            "psn_cash_pay": r.psn_cash_pay,
            "acct_balc_after": balance_after,
            "idempotency_key": idem_key,
            "policy_id": c.policy_id,
        },
    )
    repo.mark_lines_settled(session, mdtrt_id, setl_id, r.lines)
    repo.add_to_accumulator(
        session,
        person.psn_no,
        c.year,
        visit.med_type,
        exists=c.accumulator_exists,
        dedc=r.act_pay_dedc,
        hifp=r.hifp_pay,
        cnt=1,
    )
    if r.acct_pay:
        repo.set_balance(session, person.psn_no, balance_after)
        repo.ledger(session, person.psn_no, setl_id, -r.acct_pay, balance_after)
    repo.set_visit_status(session, mdtrt_id, "settled")
    out = _settlement_out(
        visit, person, c, setl_id=setl_id, setl_time=now, balance_after=balance_after
    )
    facts.record_settlement(session, out, visit, person, r.lines)
    repo.audit(
        session,
        caller.actor,
        "settle",
        "settlement",
        setl_id,
        {
            "mdtrt_id": mdtrt_id,
            "idempotency_key": idem_key,
            "medfee_sumamt": str(r.medfee_sumamt),
            "hifp_pay": str(r.hifp_pay),
            "acct_pay": str(r.acct_pay),
        },
        caller.request_id,
    )
    repo.finish_idempotency(session, scoped, 200, out.model_dump(mode="json"))
    return out


# ---- 2208 cancel -----------------------------------------------------------------------------


def cancel_unit(
    session: WriteSession, caller: Caller, setl_id: str, idem_key: str
) -> SettlementOut:
    """2208: mark the settlement cancelled, write its reversal row, give back exactly what
    it took (accumulators, balance) and reopen the visit for correction.

    Reads at READ COMMITTED: every row it reads is locked first (settlement, visit, person,
    accumulator); the lines are changed by one UPDATE, which reads the latest data anyway."""
    scoped = idempotency_scope("2208", caller, idem_key)
    digest = request_hash("2208", setl_id=setl_id)
    record = repo.claim_idempotency(session, scoped, digest)
    if record is not None:
        return _replay_cancel(session, record, digest)

    orig = repo.get_settlement(session, setl_id, lock=True)
    if orig is None:
        raise errors.SettlementNotFound(f"no settlement {setl_id!r}")
    caller.principal.check_institution(orig.fixmedins_code)
    if orig.setl_type != "normal" or orig.setl_status != "settled":
        raise errors.NotCancellable(f"settlement {setl_id!r} is {orig.setl_status}")
    visit = repo.get_visit(session, orig.mdtrt_id, lock=True)
    person = repo.get_person(session, orig.psn_no, lock=True)
    assert visit is not None and person is not None, "settlement without visit or person"
    year = visit.begntime.year
    acc = repo.get_accumulator(session, person.psn_no, year, orig.med_type, lock=True)
    repo.add_to_accumulator(
        session,
        person.psn_no,
        year,
        orig.med_type,
        exists=acc is not None,
        dedc=-orig.act_pay_dedc,
        hifp=-orig.hifp_pay,
        cnt=-1,
    )
    reversal_id = new_id()
    now = dt.datetime.now()
    balance_after = person.acct_balc + orig.acct_pay
    if orig.acct_pay:
        repo.set_balance(session, person.psn_no, balance_after)
        repo.ledger(session, person.psn_no, reversal_id, orig.acct_pay, balance_after)
    repo.mark_cancelled(session, setl_id, now)
    negated = {k: -getattr(orig, k) for k in rules.AMOUNTS}
    same = {
        k: getattr(orig, k)
        for k in (
            "mdtrt_id",
            "psn_no",
            "fixmedins_code",
            "insutype",
            "med_type",
            "hosp_lv",
            "pool_prop_selfpay",
            "policy_id",
        )
    }
    row = {
        "setl_id": reversal_id,
        "setl_type": "reversal",
        "setl_status": "reversal",
        "orig_setl_id": setl_id,
        "setl_time": now,
        "acct_balc_after": balance_after,
        "idempotency_key": idem_key,
        **same,
        **negated,
    }
    repo.insert_settlement(session, row)
    facts.record_cancel(session, orig, reversal_id, now)
    repo.unsettle_lines(session, orig.mdtrt_id, setl_id)
    repo.set_visit_status(session, orig.mdtrt_id, "open")
    repo.audit(
        session,
        caller.actor,
        "cancel",
        "settlement",
        setl_id,
        {"reversal_setl_id": reversal_id, "idempotency_key": idem_key},
        caller.request_id,
    )
    out = SettlementOut.model_validate(
        {k: v for k, v in row.items() if k in SettlementOut.model_fields}
    )
    repo.finish_idempotency(session, scoped, 200, out.model_dump(mode="json"))
    return out


# ---- entry points: one transaction each, retried by the platform helper ------------------


def create_person(engine: Engine, caller: Caller, body: PersonIn) -> PersonOut:
    return run_in_transaction(
        engine,
        lambda s: create_person_unit(s, caller, body),
        name="person_create",
        isolation=READ_COMMITTED,
    )


def get_person(engine: Engine, caller: Caller, psn_no: str, year: int) -> PersonOut:
    return run_in_transaction(
        engine, lambda s: get_person_unit(s, caller, psn_no, year), name="person_get"
    )


def create_visit(engine: Engine, caller: Caller, body: VisitIn) -> VisitOut:
    return run_in_transaction(
        engine,
        lambda s: create_visit_unit(s, caller, body),
        name="visit_create",
        isolation=READ_COMMITTED,
    )


def upload_fees(engine: Engine, caller: Caller, mdtrt_id: str, body: FeeBatchIn) -> FeeBatchOut:
    return run_in_transaction(
        engine,
        lambda s: upload_fees_unit(s, caller, mdtrt_id, body),
        name="fee_upload",
        isolation=READ_COMMITTED,
    )


def revoke_fee(engine: Engine, caller: Caller, mdtrt_id: str, feedetl_sn: str) -> FeeRevokeOut:
    return run_in_transaction(
        engine,
        lambda s: revoke_fee_unit(s, caller, mdtrt_id, feedetl_sn),
        name="fee_revoke",
        isolation=READ_COMMITTED,
    )


def pre_settle(engine: Engine, caller: Caller, mdtrt_id: str, body: SettleIn) -> SettlementOut:
    return run_in_transaction(
        engine, lambda s: pre_settle_unit(s, caller, mdtrt_id, body), name="pre_settle"
    )


def settle(
    engine: Engine,
    caller: Caller,
    mdtrt_id: str,
    idem_key: str,
    body: SettleIn,
    *,
    max_attempts: int = 5,
) -> SettlementOut:
    # idempotent=True: after a connection loss during COMMIT the re-run finds the stored
    # answer under the key if the commit landed, and settles if it did not.
    return run_in_transaction(
        engine,
        lambda s: settle_unit(s, caller, mdtrt_id, idem_key, body),
        name="settle",
        idempotent=True,
        isolation=READ_COMMITTED,
        max_attempts=max_attempts,
    )


def cancel(
    engine: Engine, caller: Caller, setl_id: str, idem_key: str, *, max_attempts: int = 5
) -> SettlementOut:
    return run_in_transaction(
        engine,
        lambda s: cancel_unit(s, caller, setl_id, idem_key),
        name="cancel",
        idempotent=True,
        isolation=READ_COMMITTED,
        max_attempts=max_attempts,
    )
