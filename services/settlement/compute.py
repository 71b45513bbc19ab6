"""Load the facts of one visit and apply the money rules (shared by 2206 and 2207)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from medhtap.platform.db import WriteSession
from medhtap.services.settlement import errors, rules
from medhtap.services.settlement import repository as repo
from medhtap.services.settlement.mapping import Computed
from medhtap.services.settlement.units import MAX_VISIT_TOTAL


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
