"""Load the facts of one visit and apply the money rules (shared by 2206 and 2207)."""

from __future__ import annotations

from medhtap.platform.db import WriteSession
from medhtap.services.settlement import errors, funds, rules
from medhtap.services.settlement import fund_repository as fund_repo
from medhtap.services.settlement import repository as repo
from medhtap.services.settlement.mapping import Computed
from medhtap.services.settlement.reference import CACHE
from medhtap.services.settlement.statements import LineRow, PersonRow, VisitRow
from medhtap.services.settlement.units import MAX_VISIT_TOTAL


def visit_lines(session: WriteSession, visit: VisitRow) -> list[LineRow]:
    """The visit's active lines with their catalog facts, read once per settlement for the
    review gate and the money rules. With the visit locked (2207) this fresh read is final:
    uploads, revokes and cancels of this visit all lock the visit first. Without the lock
    (2206) it is a preview."""
    return repo.active_lines(session, visit.mdtrt_id)


def compute(
    session: WriteSession,
    visit: VisitRow,
    person: PersonRow,
    rows: list[LineRow],
    use_account: bool,
    *,
    lock: bool,
) -> Computed:
    """Load the facts of a visit and apply the money rules to its lines (`visit_lines`):
    the basic fund (`rules.settle`), then the fund split (`funds.split_funds`). Locks the
    visit kind's accumulator if asked; the person's yearly fund figures are final because
    the caller holds the person's lock (2207) or a preview (2206)."""
    code = visit.fixmedins_code
    inst = CACHE.get(
        session, ("institution", code), lambda: repo.get_institution(session, code), keep_none=False
    )
    if inst is None:  # reference data changed under an open visit
        raise errors.UnknownInstitution(f"unknown institution {visit.fixmedins_code!r}")
    day = visit.begntime.date()
    kind = rules.med_type(visit.med_type).benefit  # the policy row and accumulator it uses
    pkey = (person.admdvs, person.insutype, kind, inst.hosp_lv, day)
    policy = CACHE.get(
        session, ("policy", *pkey), lambda: repo.find_policy(session, *pkey), keep_none=False
    )
    if policy is None:
        raise errors.NoPolicy("no benefit policy applies to this visit")
    if not rows:
        raise errors.NoFeeLines("the visit has no active fee lines")
    # Every kind's row of the year in one read: this kind's (deductible, basic fund) and the
    # yearly fund figures, which span both kinds (locked in 2207: under the person's lock,
    # which every writer of these rows holds, so the extra row lock never waits).
    year_rows = repo.year_accumulators(session, person.psn_no, day.year, lock=lock)
    acc = next((a for a in year_rows if a.med_type == kind), None)
    lines = [rules.Line(r.feedetl_sn, rules.Item.from_row(r), r.cnt, r.pric) for r in rows]
    benefit = rules.benefit_for(
        visit.med_type,
        rules.Benefit(policy.dedc_amt, policy.dedc_scope, policy.pool_prop, policy.annual_cap),
    )
    used = rules.Used(acc.dedc_used, acc.hifp_paid) if acc else rules.Used()
    basic = rules.settle(
        lines,
        rules.Person(person.insutype, person.gend, person.brdy, person.acct_balc),
        day,
        benefit,
        used,
        use_account=use_account,
    )
    if basic.medfee_sumamt >= MAX_VISIT_TOTAL:
        raise errors.AmountTooLarge("the visit total is beyond what one settlement may carry")
    fkey = (person.admdvs, person.insutype, person.assistance_category, day)
    fund_policy = (
        CACHE.get(
            session, ("funds", *fkey), lambda: fund_repo.fund_policy(session, *fkey), keep_none=True
        )
        if rules.med_type(visit.med_type).pooled
        else funds.FundPolicy()  # 41 pharmacy purchase: account and cash only, no fund
    )
    split = funds.split_funds(
        insutype=person.insutype,
        medfee_sumamt=basic.medfee_sumamt,
        inscp_scp_amt=basic.inscp_scp_amt,
        hifp_pay=basic.hifp_pay,
        hifp_cap_left=rules.hifp_cap_left(benefit, used),
        year=funds.fund_year(year_rows),
        secondary=fund_policy.secondary,
        assistance=fund_policy.assistance,
        acct_balc=person.acct_balc,
        use_account=use_account,
    )
    result = funds.with_funds(basic, split)
    kinds = {ln.item.item_code: ln.item.item_kind for ln in lines}
    cnts = {ln.feedetl_sn: ln.cnt for ln in lines}
    return Computed(
        result, split, policy.policy_id, inst.hosp_lv, day.year, acc is not None, kinds, cnts
    )
