"""The money rules of a settlement, as pure functions over plain data.

No HTTP, no database: the service loads the facts, calls `settle()`, stores the answer.
Every rounding is ROUND_HALF_UP to 0.01 yuan, per line first, then sums of rounded parts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def line_amount(cnt: Decimal, pric: Decimal) -> Decimal:
    """det_item_fee_sumamt of one fee line: quantity x unit price, rounded once."""
    return money(cnt * pric)


def balance_after_pay(acct_balc: Decimal, acct_pay: Decimal) -> Decimal:
    """The personal account after a settlement took `acct_pay` from it."""
    return acct_balc - acct_pay


def balance_after_refund(acct_balc: Decimal, acct_pay: Decimal) -> Decimal:
    """The personal account after a cancel gave the settlement's `acct_pay` back."""
    return acct_balc + acct_pay


@dataclass(frozen=True)
class Item:
    """The catalog facts of one item that the rules need."""

    item_code: str
    chrgitm_lv: str  # 'A', 'B', 'C'
    item_kind: str = "drug"
    selfpay_prop: Decimal = ZERO
    pric_uplmt_amt: Decimal | None = None
    gend_lmt: str | None = None  # '1' male only, '2' female only
    age_min: int | None = None
    age_max: int | None = None

    @classmethod
    def from_row(cls, r: Any) -> Item:
        """From a catalog_item row (or anything with its column names)."""
        return cls(
            r.item_code,
            r.chrgitm_lv,
            r.item_kind,
            r.selfpay_prop,
            r.pric_uplmt_amt,
            r.gend_lmt,
            r.age_min,
            r.age_max,
        )


@dataclass(frozen=True)
class Line:
    feedetl_sn: str
    item: Item
    cnt: Decimal
    pric: Decimal


@dataclass(frozen=True)
class Person:
    insutype: str  # '310' employee, '390' resident
    gend: str
    brdy: dt.date
    acct_balc: Decimal


@dataclass(frozen=True)
class Benefit:
    """The policy row that applies to this visit."""

    dedc_amt: Decimal
    dedc_scope: str  # 'year' (outpatient) or 'admission' (inpatient)
    pool_prop: Decimal
    annual_cap: Decimal


@dataclass(frozen=True)
class Used:
    """What this person already used this year for this visit kind."""

    dedc_used: Decimal = ZERO
    hifp_paid: Decimal = ZERO


# ---- national med_type codes (issue 13.2): policy per code, as data --------------------------


@dataclass(frozen=True)
class MedType:
    """How a national med_type code is paid. `benefit` names the policy row (policy.med_type)
    and the yearly accumulator the code uses: its ratio, deductible and annual cap."""

    code: str
    name: str
    benefit: str  # 'outpatient' or 'inpatient'
    inpatient: bool  # an admission: discharge (2402) before settlement, length of stay
    deductible: bool  # False: no deductible on this code
    pooled: bool  # False: no fund pays; the personal account and cash only


MED_TYPES = {
    m.code: m
    for m in (
        MedType("11", "general outpatient", "outpatient", False, True, True),
        # chronic and special diseases: the inpatient ratio of the level, no deductible;
        # paid under the inpatient annual cap, as the inpatient policy row says
        MedType("14", "chronic/special-disease outpatient", "inpatient", False, False, True),
        MedType("21", "general inpatient", "inpatient", True, True, True),
        MedType("41", "pharmacy purchase", "outpatient", False, False, False),
    )
}
# The words the API took before the national codes: still accepted on input.
LEGACY_MED_TYPES = {"outpatient": "11", "inpatient": "21"}


def med_type(code: str) -> MedType:
    return MED_TYPES[LEGACY_MED_TYPES.get(code, code)]


def is_inpatient(code: str) -> bool:
    return med_type(code).inpatient


def benefit_for(code: str, policy: Benefit) -> Benefit:
    """The policy row as this med_type pays it: no deductible where the code has none, a
    zero ratio where no fund pays (the fund share is then 0.00, the rest the person's)."""
    m = med_type(code)
    return Benefit(
        dedc_amt=policy.dedc_amt if m.deductible else ZERO,
        dedc_scope=policy.dedc_scope,
        pool_prop=policy.pool_prop if m.pooled else Decimal("0"),
        annual_cap=policy.annual_cap,
    )


@dataclass(frozen=True)
class LineSplit:
    feedetl_sn: str
    item_code: str
    amount: Decimal
    fulamt_ownpay_amt: Decimal = ZERO
    overlmt_selfpay: Decimal = ZERO
    preselfpay_amt: Decimal = ZERO
    inscp_scp_amt: Decimal = ZERO
    ownpay_reason: str | None = None  # 'class_c', 'gender', 'age'


# The settlement's money fields, in the national platform's order (a reversal negates them).
AMOUNTS = (
    "medfee_sumamt",
    "fulamt_ownpay_amt",
    "overlmt_selfpay",
    "preselfpay_amt",
    "inscp_scp_amt",
    "act_pay_dedc",
    "hifp_pay",
    "psn_part_amt",
    "acct_pay",
    "psn_cash_pay",
)


# The fund split's fields (services/settlement/funds.py), stored beside the AMOUNTS.
FUND_AMOUNTS = ("hifob_pay", "hifmi_pay", "maf_pay", "fund_pay_sumamt", "hosp_part_amt")
SETTLEMENT_AMOUNTS = (*AMOUNTS, *FUND_AMOUNTS)


def reversal_amounts(settled: Any) -> dict[str, Decimal]:
    """The money fields of a reversal row: each of the settlement's amounts negated (the
    fund fields too where it has them: a stored settlement does, a basic `Result` not)."""
    return {k: -getattr(settled, k) for k in SETTLEMENT_AMOUNTS if hasattr(settled, k)}


@dataclass(frozen=True)
class Result:
    medfee_sumamt: Decimal
    fulamt_ownpay_amt: Decimal
    overlmt_selfpay: Decimal
    preselfpay_amt: Decimal
    inscp_scp_amt: Decimal
    act_pay_dedc: Decimal
    hifp_pay: Decimal
    pool_prop_selfpay: Decimal
    psn_part_amt: Decimal
    acct_pay: Decimal
    psn_cash_pay: Decimal
    lines: list[LineSplit] = field(default_factory=list)

    @property
    def selfpay_lines(self) -> list[LineSplit]:
        return [ln for ln in self.lines if ln.ownpay_reason]


def age_on(brdy: dt.date, day: dt.date) -> int:
    return day.year - brdy.year - ((day.month, day.day) < (brdy.month, brdy.day))


def restriction_broken(item: Item, person: Person, visit_day: dt.date) -> str | None:
    if item.gend_lmt and item.gend_lmt != person.gend:
        return "gender"
    age = age_on(person.brdy, visit_day)
    if (item.age_min is not None and age < item.age_min) or (
        item.age_max is not None and age > item.age_max
    ):
        return "age"
    return None


def split_line(line: Line, person: Person, visit_day: dt.date) -> LineSplit:
    item = line.item
    amount = line_amount(line.cnt, line.pric)
    sn, code = line.feedetl_sn, item.item_code
    reason = "class_c" if item.chrgitm_lv == "C" else restriction_broken(item, person, visit_day)
    if reason:
        return LineSplit(sn, code, amount, fulamt_ownpay_amt=amount, ownpay_reason=reason)
    overlmt = ZERO
    if item.pric_uplmt_amt is not None and line.pric > item.pric_uplmt_amt:
        overlmt = money(line.cnt * (line.pric - item.pric_uplmt_amt))
    allowed = amount - overlmt
    preself = money(allowed * item.selfpay_prop) if item.chrgitm_lv == "B" else ZERO
    return LineSplit(
        sn,
        code,
        amount,
        overlmt_selfpay=overlmt,
        preselfpay_amt=preself,
        inscp_scp_amt=allowed - preself,
    )


def hifp_cap_left(benefit: Benefit, used: Used) -> Decimal:
    """What the basic fund may still pay this year for this visit kind."""
    return max(benefit.annual_cap - used.hifp_paid, ZERO)


def settle(
    lines: list[Line],
    person: Person,
    visit_day: dt.date,
    benefit: Benefit,
    used: Used,
    *,
    use_account: bool,
) -> Result:
    splits = [split_line(ln, person, visit_day) for ln in lines]
    sumamt = sum((s.amount for s in splits), ZERO)
    fulamt = sum((s.fulamt_ownpay_amt for s in splits), ZERO)
    overlmt = sum((s.overlmt_selfpay for s in splits), ZERO)
    preself = sum((s.preselfpay_amt for s in splits), ZERO)
    inscp = sum((s.inscp_scp_amt for s in splits), ZERO)
    assert sumamt == fulamt + overlmt + preself + inscp, "split does not add up"

    if benefit.dedc_scope == "year":
        dedc_open = max(benefit.dedc_amt - used.dedc_used, ZERO)
    else:  # inpatient: the full deductible applies to every admission
        dedc_open = benefit.dedc_amt
    dedc = min(inscp, dedc_open)
    cap_left = hifp_cap_left(benefit, used)
    hifp = max(min(money((inscp - dedc) * benefit.pool_prop), cap_left), ZERO)
    psn_part = sumamt - hifp
    acct = min(person.acct_balc, psn_part) if use_account and person.insutype == "310" else ZERO
    acct = max(acct, ZERO)
    return Result(
        medfee_sumamt=sumamt,
        fulamt_ownpay_amt=fulamt,
        overlmt_selfpay=overlmt,
        preselfpay_amt=preself,
        inscp_scp_amt=inscp,
        act_pay_dedc=dedc,
        hifp_pay=hifp,
        pool_prop_selfpay=benefit.pool_prop,
        psn_part_amt=psn_part,
        acct_pay=acct,
        psn_cash_pay=psn_part - acct,
        lines=splits,
    )


# ---- sums every stored line and settlement satisfies (bulk import checks history) -------
# Exact, no rounding: each part was rounded before it was summed. A pair (total, parts)
# means total == sum(parts); a total of None means the parts sum to 0.
Sums = tuple[tuple[str | None, tuple[str, ...]], ...]
LINE_SPLIT = ("fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt")
SETTLEMENT_SUMS: Sums = (
    ("medfee_sumamt", LINE_SPLIT),
    # the fund split (funds.py): every fund, then what the person and the hospital bear
    ("fund_pay_sumamt", ("hifp_pay", "hifob_pay", "hifmi_pay", "maf_pay")),
    ("medfee_sumamt", ("fund_pay_sumamt", "psn_part_amt", "hosp_part_amt")),
    ("psn_part_amt", ("acct_pay", "psn_cash_pay")),  # psn_cash_pay = psn_part_amt - acct_pay
)


def line_sums(fee_status: str) -> Sums:
    """A settled line's split adds up to its amount; any other line carries no split
    (2207 writes it, 2208 clears it)."""
    if fee_status == "settled":
        return (("det_item_fee_sumamt", LINE_SPLIT),)
    return ((None, LINE_SPLIT),)


def sums_broken(row: Any, sums: Sums) -> list[str]:
    """The sums `row` (a mapping of Decimals) breaks, as 'total = a + b'; [] if none."""
    return [
        sum_label(total, parts)
        for total, parts in sums
        if (row[total] if total else ZERO) != sum((row[p] for p in parts), ZERO)
    ]


def sum_label(total: str | None, parts: tuple[str, ...]) -> str:
    return f"{total or '0'} = {' + '.join(parts)}"
