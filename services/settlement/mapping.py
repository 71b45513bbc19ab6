"""Response mapping: the computed settlement as the API answers it and as its row is stored."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Row

from medhtap.services.settlement import funds, rules
from medhtap.services.settlement.schemas import LineSplitOut, SetlDetailOut, SettlementOut


@dataclass(frozen=True)
class Computed:
    """A visit's settlement as computed (not yet stored), with the facts it was computed on."""

    result: rules.Result  # person's share, account and cash after the fund split
    split: funds.Split
    policy_id: int
    hosp_lv: int
    year: int
    accumulator_exists: bool
    item_kinds: dict[str, str] = field(default_factory=dict)  # item_code -> catalog kind
    line_cnt: dict[str, Decimal] = field(default_factory=dict)  # feedetl_sn -> quantity


# The answer is built once from values the rules already typed (Decimal, str, datetime),
# so the models are constructed without a validation pass (`model_construct`); the API and
# the idempotency record serialise it as before (tests/unit/test_settlement_mapping.py
# checks it equals a validated model).
def line_out(s: rules.LineSplit) -> LineSplitOut:
    return LineSplitOut.model_construct(
        feedetl_sn=s.feedetl_sn,
        item_code=s.item_code,
        amount=s.amount,
        fulamt_ownpay_amt=s.fulamt_ownpay_amt,
        overlmt_selfpay=s.overlmt_selfpay,
        preselfpay_amt=s.preselfpay_amt,
        inscp_scp_amt=s.inscp_scp_amt,
        ownpay_reason=s.ownpay_reason,
    )


def setldetail_out(d: funds.FundPay) -> SetlDetailOut:
    return SetlDetailOut.model_construct(
        fund_pay_type=d.fund_pay_type,
        fund_pay_type_name=d.fund_pay_type_name,
        inscp_scp_amt=d.inscp_scp_amt,
        crt_payb_lmt_amt=d.crt_payb_lmt_amt,
        fund_payamt=d.fund_payamt,
        setl_proc_info=d.setl_proc_info,
    )


def settlement_out(
    visit: Any,
    person: Any,
    c: Computed,
    *,
    setl_id: str | None,
    setl_time: dt.datetime | None,
    balance_after: Decimal,
) -> SettlementOut:
    r, f = c.result, c.split
    return SettlementOut.model_construct(
        setl_id=setl_id,
        setl_type="normal",
        orig_setl_id=None,
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
        hifob_pay=f.hifob_pay,
        hifmi_pay=f.hifmi_pay,
        maf_pay=f.maf_pay,
        fund_pay_sumamt=f.fund_pay_sumamt,
        hosp_part_amt=f.hosp_part_amt,
        acct_balc_after=balance_after,
        setldetail=[setldetail_out(d) for d in f.setldetail],
        lines=[line_out(s) for s in r.lines],
        selfpay_lines=[line_out(s) for s in r.selfpay_lines],
        replay=False,
    )


def settlement_row(out: SettlementOut, idem_key: str) -> dict[str, Any]:
    """The settlement table row of a 2207 answer."""
    assert out.setl_id is not None and out.setl_time is not None
    amounts = {k: getattr(out, k) for k in rules.SETTLEMENT_AMOUNTS}
    return {
        "setl_id": out.setl_id,
        "setl_type": "normal",
        "setl_status": "settled",
        "mdtrt_id": out.mdtrt_id,
        "psn_no": out.psn_no,
        "fixmedins_code": out.fixmedins_code,
        "insutype": out.insutype,
        "med_type": out.med_type,
        "hosp_lv": out.hosp_lv,
        "setl_time": out.setl_time,
        "pool_prop_selfpay": out.pool_prop_selfpay,
        "acct_balc_after": out.acct_balc_after,
        "idempotency_key": idem_key,
        "policy_id": out.policy_id,
        **amounts,
    }


# Copied unchanged from the settlement onto its reversal row.
REVERSAL_SAME = (
    "mdtrt_id",
    "psn_no",
    "fixmedins_code",
    "insutype",
    "med_type",
    "hosp_lv",
    "pool_prop_selfpay",
    "policy_id",
)


def reversal_row(
    orig: Row[Any],
    reversal_id: str,
    when: dt.datetime,
    balance_after: Decimal,
    idem_key: str,
) -> dict[str, Any]:
    """The 2208 reversal row: the settlement's money negated (`rules.reversal_amounts`)."""
    return {
        "setl_id": reversal_id,
        "setl_type": "reversal",
        "setl_status": "reversal",
        "orig_setl_id": orig.setl_id,
        "setl_time": when,
        "acct_balc_after": balance_after,
        "idempotency_key": idem_key,
        **{k: getattr(orig, k) for k in REVERSAL_SAME},
        **rules.reversal_amounts(orig),
    }


def reversal_out(row: dict[str, Any], detail: list[funds.FundPay]) -> SettlementOut:
    out = SettlementOut.model_validate(
        {k: v for k, v in row.items() if k in SettlementOut.model_fields}
    )
    out.setldetail = [setldetail_out(d) for d in detail]
    return out
