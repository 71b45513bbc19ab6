"""The fund split of a settlement (setldetail), as pure functions over plain data.

Applied after the basic pooled fund (`rules.settle`), in this order:
1. the secondary fund on the person's in-scope self-pay accumulated over the calendar year
   (employees: large-amount subsidy 330100 `hifob_pay`; residents: critical-illness
   insurance 390200 `hifmi_pay`): pay = f(ytd + inscp_self) - f(ytd), f summing the
   segments, then limited by the fund's annual cap still open;
2. medical assistance 610100 `maf_pay`, for persons with an assistance category: a share of
   what the in-scope self-pay still is after the secondary fund, limited by its annual cap;
3. the employee account 310200 (`acct_pay`), on the person's new share; it is not a fund
   payment and is not counted in `fund_pay_sumamt`.

The parameters are policy data (rows of `fund_policy` / `fund_segment`, effective-dated per
region); these functions only apply them. Each fund amount is rounded ROUND_HALF_UP to 0.01
once per settlement.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from medhtap.services.settlement.rules import FUND_AMOUNTS, ZERO, Result, money

BASIC_FUND = {
    "310": ("310100", "职工基本医疗保险统筹基金"),
    "390": ("390100", "城乡居民基本医疗保险基金"),
}
ACCOUNT_FUND = ("310200", "职工基本医疗保险个人账户")


@dataclass(frozen=True)
class Segment:
    """`ratio` of the part of the yearly amount in [lower, upper) (upper None: no limit)."""

    lower: Decimal
    upper: Decimal | None
    ratio: Decimal


@dataclass(frozen=True)
class SecondaryFund:
    fund_pay_type: str  # 330100 employees' large-amount subsidy, 390200 critical illness
    name: str
    field: str  # 'hifob_pay' or 'hifmi_pay'
    segments: tuple[Segment, ...]
    annual_cap: Decimal


@dataclass(frozen=True)
class AssistanceFund:
    fund_pay_type: str  # 610100
    name: str
    ratio: Decimal  # by the person's category: dibao 0.70, tekun 1.00
    annual_cap: Decimal


@dataclass(frozen=True)
class FundPolicy:
    """The funds that apply to one person on one day (None: no such fund applies)."""

    secondary: SecondaryFund | None = None
    assistance: AssistanceFund | None = None


@dataclass(frozen=True)
class FundYear:
    """What the person accumulated this calendar year before this settlement."""

    inscp_self: Decimal = ZERO  # in-scope amount the basic fund did not pay
    secondary_paid: Decimal = ZERO
    assistance_paid: Decimal = ZERO


def fund_year(accumulators: Iterable[Any]) -> FundYear:
    """The yearly fund figures: the sums over the person's accumulator rows of the year,
    one per visit kind (rows with inscp_selfpay, secondary_paid, assistance_paid)."""
    inscp_self = secondary = assistance = ZERO
    for a in accumulators:
        inscp_self += a.inscp_selfpay
        secondary += a.secondary_paid
        assistance += a.assistance_paid
    return FundYear(inscp_self, secondary, assistance)


@dataclass(frozen=True)
class FundPay:
    """One setldetail entry."""

    fund_pay_type: str
    fund_pay_type_name: str
    inscp_scp_amt: Decimal  # the base this fund was computed on
    crt_payb_lmt_amt: Decimal | None  # the fund's limit still open before this settlement
    fund_payamt: Decimal
    setl_proc_info: str


@dataclass(frozen=True)
class Split:
    hifob_pay: Decimal
    hifmi_pay: Decimal
    maf_pay: Decimal
    fund_pay_sumamt: Decimal
    psn_part_amt: Decimal
    acct_pay: Decimal
    psn_cash_pay: Decimal
    hosp_part_amt: Decimal
    inscp_self: Decimal  # added to the person's yearly in-scope self-pay
    secondary_pay: Decimal  # hifob_pay or hifmi_pay, whichever applies
    setldetail: list[FundPay] = field(default_factory=list)


def segmented(amount: Decimal, segments: tuple[Segment, ...]) -> Decimal:
    """f(amount): the sum over segments of ratio x the part of `amount` inside it (unrounded)."""
    total = ZERO
    for s in segments:
        top = amount if s.upper is None else min(amount, s.upper)
        if top > s.lower:
            total += (top - s.lower) * s.ratio
    return total


def _fmt(d: Decimal) -> str:
    return f"{d:.2f}"


def split_funds(
    *,
    insutype: str,
    medfee_sumamt: Decimal,
    inscp_scp_amt: Decimal,
    hifp_pay: Decimal,
    hifp_cap_left: Decimal,
    year: FundYear,
    secondary: SecondaryFund | None,
    assistance: AssistanceFund | None,
    acct_balc: Decimal,
    use_account: bool,
) -> Split:
    """Split what the basic fund left over the secondary fund, assistance and the account."""
    inscp_self = inscp_scp_amt - hifp_pay
    basic_type, basic_name = BASIC_FUND.get(insutype, (insutype + "100", "基本医疗保险基金"))
    detail = [
        FundPay(
            basic_type,
            basic_name,
            inscp_scp_amt,
            hifp_cap_left,
            hifp_pay,
            f"in scope {_fmt(inscp_scp_amt)}, basic fund paid {_fmt(hifp_pay)}",
        )
    ]

    secondary_pay = ZERO
    if secondary is not None:
        before = segmented(year.inscp_self, secondary.segments)
        after = segmented(year.inscp_self + inscp_self, secondary.segments)
        cap_left = max(secondary.annual_cap - year.secondary_paid, ZERO)
        secondary_pay = max(min(money(after - before), cap_left), ZERO)
        detail.append(
            FundPay(
                secondary.fund_pay_type,
                secondary.name,
                inscp_self,
                cap_left,
                secondary_pay,
                f"yearly in-scope self-pay {_fmt(year.inscp_self)} -> "
                f"{_fmt(year.inscp_self + inscp_self)}: f(after) - f(before) = "
                f"{_fmt(money(after - before))}, cap open {_fmt(cap_left)}",
            )
        )

    maf = ZERO
    if assistance is not None:
        base = max(inscp_self - secondary_pay, ZERO)
        cap_left = max(assistance.annual_cap - year.assistance_paid, ZERO)
        maf = max(min(money(base * assistance.ratio), cap_left), ZERO)
        detail.append(
            FundPay(
                assistance.fund_pay_type,
                assistance.name,
                base,
                cap_left,
                maf,
                f"{assistance.ratio:%} of {_fmt(base)}, cap open {_fmt(cap_left)}",
            )
        )

    hifob = secondary_pay if secondary is not None and secondary.field == "hifob_pay" else ZERO
    hifmi = secondary_pay if secondary is not None and secondary.field == "hifmi_pay" else ZERO
    fund_sum = hifp_pay + hifob + hifmi + maf
    psn_part = medfee_sumamt - fund_sum
    acct = ZERO
    if use_account and insutype == "310":
        acct = max(min(acct_balc, psn_part), ZERO)
        detail.append(
            FundPay(
                ACCOUNT_FUND[0],
                ACCOUNT_FUND[1],
                psn_part,
                acct_balc,
                acct,
                f"account balance {_fmt(acct_balc)} towards the person's share {_fmt(psn_part)}",
            )
        )
    return Split(
        hifob_pay=hifob,
        hifmi_pay=hifmi,
        maf_pay=maf,
        fund_pay_sumamt=fund_sum,
        psn_part_amt=psn_part,
        acct_pay=acct,
        psn_cash_pay=psn_part - acct,
        hosp_part_amt=ZERO,
        inscp_self=inscp_self,
        secondary_pay=secondary_pay,
        setldetail=detail,
    )


def with_funds(result: Result, split: Split) -> Result:
    """The basic settlement with the person's share, account and cash after the funds."""
    return dataclasses.replace(
        result,
        psn_part_amt=split.psn_part_amt,
        acct_pay=split.acct_pay,
        psn_cash_pay=split.psn_cash_pay,
    )


def fund_amounts(setl: Mapping[str, Any]) -> dict[str, Decimal]:
    """The fund fields of a settlement's values; values computed without the fund split
    (history loaded from elsewhere) paid from the basic fund only."""
    if "fund_pay_sumamt" in setl:
        return {k: Decimal(setl[k]) for k in FUND_AMOUNTS}
    return {**dict.fromkeys(FUND_AMOUNTS, ZERO), "fund_pay_sumamt": Decimal(setl["hifp_pay"])}


def year_refund(settled: Any) -> tuple[Decimal, Decimal, Decimal]:
    """What a cancel takes back from the person's yearly fund figures (in-scope self-pay,
    secondary paid, assistance paid): exactly what the settlement added (`Split`)."""
    return (
        -(settled.inscp_scp_amt - settled.hifp_pay),
        -(settled.hifob_pay + settled.hifmi_pay),
        -settled.maf_pay,
    )


def negated_detail(detail: Iterable[Any]) -> list[FundPay]:
    """The setldetail of a reversal: each fund's entry with its amounts negated."""
    return [
        FundPay(
            d.fund_pay_type,
            d.fund_pay_type_name,
            -d.inscp_scp_amt,
            d.crt_payb_lmt_amt,
            -d.fund_payamt,
            f"reversal: {d.setl_proc_info}"[:255],
        )
        for d in detail
    ]
