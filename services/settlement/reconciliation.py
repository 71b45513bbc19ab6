"""3201/3202 reconciliation: an institution's view of a day against the platform's rows.

The platform's figures for a day are every settlement and reversal row of the institution
whose setl_time falls on that date: reversal rows carry negated amounts, so a settlement
cancelled the same day nets to zero in the sums while both rows still count.
"""

from __future__ import annotations

from medhtap.platform.db import WriteSession
from medhtap.services.settlement import errors
from medhtap.services.settlement import repository as repo
from medhtap.services.settlement.schemas import (
    DetailAmounts,
    DetailDiff,
    ReconcileDetailIn,
    ReconcileDetailOut,
    ReconcileIn,
    ReconcileOut,
    Totals,
)
from medhtap.services.settlement.units import Caller, Entry


def reconcile_unit(session: WriteSession, caller: Caller, body: ReconcileIn) -> ReconcileOut:
    caller.principal.check_institution(body.fixmedins_code)
    if repo.get_institution(session, body.fixmedins_code) is None:
        raise errors.UnknownInstitution(f"unknown institution {body.fixmedins_code!r}")
    cnt, medfee, hifp, acct = repo.day_totals(session, body.fixmedins_code, body.stmt_date)
    platform = Totals(setl_cnt=cnt, medfee_sumamt=medfee, hifp_pay=hifp, acct_pay=acct)
    mine = Totals(
        setl_cnt=body.setl_cnt,
        medfee_sumamt=body.medfee_sumamt,
        hifp_pay=body.hifp_pay,
        acct_pay=body.acct_pay,
    )
    result = "match" if platform == mine else "mismatch"
    repo.insert_reconciliation(
        session,
        {
            "fixmedins_code": body.fixmedins_code,
            "stmt_date": body.stmt_date,
            "ins_setl_cnt": body.setl_cnt,
            "ins_medfee_sumamt": body.medfee_sumamt,
            "ins_hifp_pay": body.hifp_pay,
            "ins_acct_pay": body.acct_pay,
            "plt_setl_cnt": cnt,
            "plt_medfee_sumamt": medfee,
            "plt_hifp_pay": hifp,
            "plt_acct_pay": acct,
            "result": result,
        },
    )
    repo.audit(
        session,
        caller.actor,
        "reconcile",
        "reconciliation",
        f"{body.fixmedins_code}/{body.stmt_date}",
        {"result": result},
        caller.request_id,
    )
    return ReconcileOut(
        fixmedins_code=body.fixmedins_code,
        stmt_date=body.stmt_date,
        result=result,
        institution=mine,
        platform=platform,
    )


def reconcile_detail_unit(
    session: WriteSession, caller: Caller, body: ReconcileDetailIn
) -> ReconcileDetailOut:
    caller.principal.check_institution(body.fixmedins_code)
    if repo.get_institution(session, body.fixmedins_code) is None:
        raise errors.UnknownInstitution(f"unknown institution {body.fixmedins_code!r}")
    platform = {
        r.setl_id: DetailAmounts(
            medfee_sumamt=r.medfee_sumamt, hifp_pay=r.hifp_pay, acct_pay=r.acct_pay
        )
        for r in repo.day_rows(session, body.fixmedins_code, body.stmt_date)
    }
    theirs = {
        i.setl_id: DetailAmounts(
            medfee_sumamt=i.medfee_sumamt, hifp_pay=i.hifp_pay, acct_pay=i.acct_pay
        )
        for i in body.items
    }
    differing = [
        DetailDiff(setl_id=k, institution=theirs[k], platform=platform[k])
        for k in sorted(platform.keys() & theirs.keys())
        if platform[k] != theirs[k]
    ]
    missing_plt = sorted(theirs.keys() - platform.keys())
    missing_ins = sorted(platform.keys() - theirs.keys())
    ok = not (differing or missing_plt or missing_ins)
    return ReconcileDetailOut(
        fixmedins_code=body.fixmedins_code,
        stmt_date=body.stmt_date,
        result="match" if ok else "mismatch",
        platform_cnt=len(platform),
        institution_cnt=len(body.items),
        missing_on_platform=missing_plt,
        missing_at_institution=missing_ins,
        differing=differing,
    )


# READ COMMITTED like every writing unit: the day's figures are one aggregate statement
# (one snapshot at either level), and its result is what the stored record says we saw.
reconcile = Entry(reconcile_unit, name="reconcile")
reconcile_detail = Entry(reconcile_detail_unit, name="reconcile_detail", writes=False)
