"""3201/3202 reconciliation: an institution's view of a day against the platform's rows.

The platform's figures for a day are every settlement and reversal row of the institution
whose setl_time falls on that date: reversal rows carry negated amounts, so a settlement
cancelled the same day nets to zero in the sums while both rows still count.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

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


def _compared(figures: BaseModel, sent: BaseModel) -> dict[str, Any]:
    """The figures the institution sent: a field it left out (null) is not compared."""
    return figures.model_dump(include={k for k, v in sent if v is not None})


def reconcile_unit(session: WriteSession, caller: Caller, body: ReconcileIn) -> ReconcileOut:
    caller.principal.check_institution(body.fixmedins_code)
    if repo.get_institution(session, body.fixmedins_code) is None:
        raise errors.UnknownInstitution(f"unknown institution {body.fixmedins_code!r}")
    day = repo.day_totals(session, body.fixmedins_code, body.stmt_date)
    platform = Totals.model_validate(day._mapping)
    mine = Totals(
        setl_cnt=body.setl_cnt,
        medfee_sumamt=body.medfee_sumamt,
        hifp_pay=body.hifp_pay,
        acct_pay=body.acct_pay,
        fund_pay_sumamt=body.fund_pay_sumamt,
    )
    result = "match" if _compared(platform, mine) == _compared(mine, mine) else "mismatch"
    repo.insert_reconciliation(
        session,
        {
            "fixmedins_code": body.fixmedins_code,
            "stmt_date": body.stmt_date,
            "ins_setl_cnt": body.setl_cnt,
            "ins_medfee_sumamt": body.medfee_sumamt,
            "ins_hifp_pay": body.hifp_pay,
            "ins_acct_pay": body.acct_pay,
            "ins_fund_pay_sumamt": body.fund_pay_sumamt,
            "plt_setl_cnt": platform.setl_cnt,
            "plt_medfee_sumamt": platform.medfee_sumamt,
            "plt_hifp_pay": platform.hifp_pay,
            "plt_acct_pay": platform.acct_pay,
            "plt_fund_pay_sumamt": platform.fund_pay_sumamt,
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
        r.setl_id: DetailAmounts.model_validate(r._mapping)
        for r in repo.day_rows(session, body.fixmedins_code, body.stmt_date)
    }
    theirs = {i.setl_id: DetailAmounts.model_validate(i.model_dump()) for i in body.items}
    differing = [
        DetailDiff(setl_id=k, institution=theirs[k], platform=platform[k])
        for k in sorted(platform.keys() & theirs.keys())
        if _compared(platform[k], theirs[k]) != _compared(theirs[k], theirs[k])
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
