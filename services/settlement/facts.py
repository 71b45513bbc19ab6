"""The analytic fact of a settlement, as pure functions (no database).

One function computes the row that schema/facts.py describes, from what a settlement has at
hand: the settlement's values, the visit, the person, the diagnosis' block and chapter and
the settled lines' item kinds; and the item facts (`item_facts`: one row per item code of
the settled lines, with the fact's group keys), and what a cancel adds for both. The
settlement service, the synthetic loader, the ingest and the tests all call them, so a fact
means the same thing wherever it was written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from medhtap.services.settlement import rules
from medhtap.services.settlement.funds import fund_amounts
from medhtap.services.settlement.rules import AMOUNTS, FUND_AMOUNTS, ZERO, age_on

KINDS = {"drug": "drug_amt", "material": "material_amt", "service": "service_amt"}
# Age bands (lower bound, label) as Chinese insurance statistics commonly cut them.
AGE_BANDS = ((80, "80+"), (70, "70-79"), (60, "60-69"), (45, "45-59"), (18, "18-44"), (7, "07-17"))
DIMENSIONS = (
    "mdtrt_id",
    "psn_no",
    "fixmedins_code",
    "hosp_lv",
    "admdvs",
    "insutype",
    "med_type",
    "dept_name",
    "main_diag_code",
    "diag_block",
    "diag_chapter",
    "gend",
    "age",
    "age_band",
    "begntime",
    "endtime",
    "los_days",
)
SUMS = (*AMOUNTS, *FUND_AMOUNTS, *KINDS.values())


@dataclass(frozen=True)
class Diag:
    """Where the main diagnosis sits in ICD-10."""

    block: str
    chapter: str


def age_band(age: int) -> str:
    return next((label for low, label in AGE_BANDS if age >= low), "00-06")


def length_of_stay(med_type: str, begin: dt.datetime, end: dt.datetime | None) -> int | None:
    """Inpatient days: discharge date minus admission date, a same-day stay counts 1."""
    if not rules.is_inpatient(med_type) or end is None:
        return None
    return max((end.date() - begin.date()).days, 1)


def settlement_fact(
    setl: Mapping[Any, Any],
    visit: Mapping[Any, Any],
    person: Mapping[Any, Any],
    diag: Diag,
    lines: Iterable[tuple[str, Decimal]],
) -> dict[str, Any]:
    """The +1 fact of a settlement.

    setl: the settlement row's values (setl_id, setl_time, fixmedins_code, hosp_lv,
    insutype, med_type, the AMOUNTS and, if it has them, the FUND_AMOUNTS); visit:
    mdtrt_id, dept_name, begntime, endtime, main_diag_code; person: psn_no, gend, brdy,
    admdvs; lines: (item kind, amount) of every settled line."""
    by_kind = dict.fromkeys(KINDS.values(), ZERO)
    for kind, amount in lines:
        by_kind[KINDS[kind]] += amount
    begin: dt.datetime = visit["begntime"]
    age = age_on(person["brdy"], begin.date())
    return {
        "setl_id": setl["setl_id"],
        "sign": 1,
        "standing": 1,
        "setl_time": setl["setl_time"],
        "recorded_at": setl["setl_time"],
        "rev_setl_id": None,
        "mdtrt_id": visit["mdtrt_id"],
        "psn_no": person["psn_no"],
        "fixmedins_code": setl["fixmedins_code"],
        "hosp_lv": int(setl["hosp_lv"]),
        "admdvs": person["admdvs"],
        "insutype": setl["insutype"],
        "med_type": setl["med_type"],
        "dept_name": visit["dept_name"],
        "main_diag_code": visit["main_diag_code"],
        "diag_block": diag.block,
        "diag_chapter": diag.chapter,
        "gend": person["gend"],
        "age": age,
        "age_band": age_band(age),
        "begntime": begin,
        "endtime": visit["endtime"],
        "los_days": length_of_stay(setl["med_type"], begin, visit["endtime"]),
        **{k: Decimal(setl[k]) for k in AMOUNTS},
        **fund_amounts(setl),
        **by_kind,
    }


def reversal_fact(fact: Mapping[Any, Any], rev_setl_id: str, when: dt.datetime) -> dict[str, Any]:
    """The -1 fact a cancel adds: the same dimensions and setl_time, every sum negated.
    The cancel also clears the +1 fact's `standing` (`cancelled_fact`)."""
    if fact["sign"] != 1:
        raise ValueError("only a settlement's +1 fact can be reversed")
    return {
        **{k: fact[k] for k in ("setl_id", "setl_time", *DIMENSIONS)},
        "sign": -1,
        "standing": 0,
        "recorded_at": when,
        "rev_setl_id": rev_setl_id,
        **{k: -Decimal(fact[k]) for k in SUMS},
    }


def cancelled_fact(fact: Mapping[Any, Any]) -> dict[str, Any]:
    """The +1 fact of a cancelled settlement: unchanged but for `standing`."""
    if fact["sign"] != 1:
        raise ValueError("only a settlement's +1 fact is cancelled")
    return {**fact, "standing": 0}


# The +1 fact's group keys an item fact copies (schema/facts.py SettlementItemFact): every
# column a cost report groups by (analytics/reports.py DIMENSIONS; month is setl_time's).
ITEM_KEYS = (
    "setl_time",
    "fixmedins_code",
    "hosp_lv",
    "admdvs",
    "insutype",
    "med_type",
    "dept_name",
    "main_diag_code",
    "diag_chapter",
    "gend",
    "age_band",
)
ITEM_SUMS = ("det_item_fee_sumamt", "cnt")


def item_facts(
    fact: Mapping[Any, Any], lines: Iterable[tuple[str, Decimal, Decimal]]
) -> list[dict[str, Any]]:
    """The +1 item facts of a settlement: one per item code of its settled lines
    (item_code, amount, quantity), amounts and quantities summed, with the group keys of
    its +1 fact; in item_code order."""
    if fact["sign"] != 1:
        raise ValueError("item facts come from a settlement's +1 fact")
    sums: dict[str, list[Decimal]] = {}
    for code, amount, cnt in lines:
        s = sums.setdefault(code, [ZERO, Decimal(0)])
        s[0] += amount
        s[1] += cnt
    keys = {k: fact[k] for k in ITEM_KEYS}
    return [
        {"setl_id": fact["setl_id"], "sign": 1, "item_code": code, **keys}
        | {"det_item_fee_sumamt": amount, "cnt": cnt}
        for code, (amount, cnt) in sorted(sums.items())
    ]


def reversal_items(items: Iterable[Mapping[Any, Any]]) -> list[dict[str, Any]]:
    """The -1 item facts a cancel adds: the same keys and setl_time, the sums negated."""
    out = []
    for item in items:
        if item["sign"] != 1:
            raise ValueError("only a settlement's +1 item facts can be reversed")
        out.append({**item, "sign": -1} | {k: -Decimal(item[k]) for k in ITEM_SUMS})
    return out
