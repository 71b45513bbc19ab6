"""2206 pre-settlement, 2207 settlement and 2208 cancel: the units that move money."""

from __future__ import annotations

import datetime as dt

from medhtap.platform.db import WriteSession
from medhtap.services.review import service as review
from medhtap.services.settlement import errors, funds, rules
from medhtap.services.settlement import fact_repository as facts
from medhtap.services.settlement import fund_repository as fund_repo
from medhtap.services.settlement import repository as repo
from medhtap.services.settlement.compute import compute, visit_lines
from medhtap.services.settlement.idempotency import (
    idempotency_scope,
    replay_cancel,
    replay_settlement,
    request_hash,
)
from medhtap.services.settlement.lifecycle import check_settleable
from medhtap.services.settlement.mapping import (
    reversal_out,
    reversal_row,
    settlement_out,
    settlement_row,
)
from medhtap.services.settlement.schemas import SettleIn, SettlementOut
from medhtap.services.settlement.statements import PersonRow, VisitRow
from medhtap.services.settlement.units import Caller, Entry, new_id


def visit_and_person(
    session: WriteSession, caller: Caller, mdtrt_id: str, *, lock: bool
) -> tuple[VisitRow, PersonRow]:
    visit = repo.visit_for_settlement(session, mdtrt_id, lock=lock)
    if visit is None:
        raise errors.VisitNotFound(f"no visit {mdtrt_id!r}")
    caller.principal.check_institution(visit.fixmedins_code)
    check_settleable(visit, final=lock)  # cancelled; an inpatient stay not discharged (2207)
    if visit.vis_status != "open":
        raise errors.AlreadySettled("the visit is already settled; cancel it first")
    person = repo.person_for_settlement(session, visit.psn_no, lock=lock)
    if person is None:
        raise errors.PersonNotFound(f"no insured person {visit.psn_no!r}")
    if person.psn_status != "active":
        raise errors.PersonSuspended("the person's insurance is suspended")
    return visit, person


def pre_settle_unit(
    session: WriteSession, caller: Caller, mdtrt_id: str, body: SettleIn
) -> SettlementOut:
    """2206: the same computation as 2207 without locks or writes."""
    visit, person = visit_and_person(session, caller, mdtrt_id, lock=False)
    c = compute(session, visit, person, visit_lines(session, visit), body.use_account, lock=False)
    return settlement_out(
        visit,
        person,
        c,
        setl_id=None,
        setl_time=None,
        balance_after=rules.balance_after_pay(person.acct_balc, c.result.acct_pay),
    )


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
        return replay_settlement(session, record, digest)

    visit, person = visit_and_person(session, caller, mdtrt_id, lock=True)
    lines = visit_lines(session, visit)  # once, for the review and the money
    review.gate(session, visit, person, lines)  # REVIEW_BLOCKED: a forbidden result not handled
    c = compute(session, visit, person, lines, body.use_account, lock=True)
    r = c.result
    setl_id = new_id()
    now = dt.datetime.now()
    balance_after = rules.balance_after_pay(person.acct_balc, r.acct_pay)
    out = settlement_out(
        visit, person, c, setl_id=setl_id, setl_time=now, balance_after=balance_after
    )

    repo.insert_settlement(session, settlement_row(out, idem_key))
    repo.mark_lines_settled(session, mdtrt_id, setl_id, r.lines)
    repo.add_to_accumulator(
        session,
        person.psn_no,
        c.year,
        rules.med_type(visit.med_type).benefit,  # the accumulator of its policy row
        exists=c.accumulator_exists,
        dedc=r.act_pay_dedc,
        hifp=r.hifp_pay,
        cnt=1,
        funds=(c.split.inscp_self, c.split.secondary_pay, c.split.maf_pay),
    )
    fund_repo.insert_setl_detail(session, setl_id, c.split.setldetail)
    if r.acct_pay:
        repo.set_balance(session, person.psn_no, balance_after)
        repo.ledger(session, person.psn_no, setl_id, -r.acct_pay, balance_after)
    repo.set_visit_status(session, mdtrt_id, "settled")
    facts.record_settlement(session, out, visit, person, r.lines, c.item_kinds, c.line_cnt)
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
            "fund_pay_sumamt": str(c.split.fund_pay_sumamt),
            "acct_pay": str(r.acct_pay),
        },
        caller.request_id,
    )
    repo.finish_idempotency(session, scoped, 200, out.model_dump(mode="json"))
    return out


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
        return replay_cancel(session, record, digest)

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
    kind = rules.med_type(orig.med_type).benefit
    acc = repo.get_accumulator(session, person.psn_no, year, kind, lock=True)
    repo.add_to_accumulator(
        session,
        person.psn_no,
        year,
        kind,
        exists=acc is not None,
        dedc=-orig.act_pay_dedc,
        hifp=-orig.hifp_pay,
        cnt=-1,
        funds=funds.year_refund(orig),
    )
    reversal_id = new_id()
    now = dt.datetime.now()
    balance_after = rules.balance_after_refund(person.acct_balc, orig.acct_pay)
    if orig.acct_pay:
        repo.set_balance(session, person.psn_no, balance_after)
        repo.ledger(session, person.psn_no, reversal_id, orig.acct_pay, balance_after)
    repo.mark_cancelled(session, setl_id, now)
    row = reversal_row(orig, reversal_id, now, balance_after, idem_key)
    repo.insert_settlement(session, row)
    detail = funds.negated_detail(fund_repo.setl_detail(session, setl_id))
    fund_repo.insert_setl_detail(session, reversal_id, detail)
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
    out = reversal_out(row, detail)
    repo.finish_idempotency(session, scoped, 200, out.model_dump(mode="json"))
    return out


pre_settle = Entry(pre_settle_unit, name="pre_settle", writes=False)
settle = Entry(settle_unit, name="settle", idempotent=True)
cancel = Entry(cancel_unit, name="cancel", idempotent=True)
