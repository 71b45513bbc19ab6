"""The review rules as pure functions over plain data (issue 14.3).

One function per rule kind; a rule row (`RuleDef`) gives its id, name, severity and
parameters, so a changed row changes the review without a code change. A function returns
the hits of its rule on one case: the lines it names, the amount at stake and the text.
No database here: services/review/repository.py loads the facts, service.py stores hits.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from medhtap.services.settlement.rules import ZERO, age_on, line_amount, money

FORBIDDEN, WARNING = 1, 2


@dataclass(frozen=True)
class RuleDef:
    rule_id: str
    rule_name: str
    kind: str
    sev_deg: int
    vola_bhvr_type: str = "1"
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ItemFacts:
    """The catalog limits of one item that the rules read."""

    item_code: str
    item_name: str = ""
    item_kind: str = "drug"
    gend_lmt: str | None = None
    age_min: int | None = None
    age_max: int | None = None
    max_qty_per_day: Decimal | None = None
    med_type_lmt: frozenset[str] | None = None  # None: any med_type
    exam_intv_days: int | None = None
    supply_days: Decimal | None = None  # days one unit supplies


@dataclass(frozen=True)
class ReviewLine:
    """A fee line (3102, 2207: id = feedetl_sn) or an order (3101: id = rx_id)."""

    line_id: str
    item: ItemFacts
    cnt: Decimal
    pric: Decimal
    day: dt.date

    @property
    def amount(self) -> Decimal:
        return line_amount(self.cnt, self.pric)


@dataclass(frozen=True)
class PastLine:
    """A line of another visit of the same person (exam frequency, supply overlap)."""

    mdtrt_id: str
    line_id: str
    item_code: str
    cnt: Decimal
    day: dt.date


@dataclass(frozen=True)
class Case:
    mdtrt_id: str
    med_type: str  # national code 11 / 14 / 21 / 41
    visit_day: dt.date
    gend: str
    brdy: dt.date
    lines: tuple[ReviewLine, ...]
    history: tuple[PastLine, ...] = ()


@dataclass(frozen=True)
class Hit:
    rule: RuleDef
    lines: tuple[ReviewLine, ...]
    vola_amt: Decimal
    vola_cont: str
    vola_evid: str

    @property
    def line_ids(self) -> tuple[str, ...]:
        return tuple(sorted(ln.line_id for ln in self.lines))


RuleFn = Callable[[RuleDef, Case], list[Hit]]


def _kinds(rule: RuleDef, default: Iterable[str]) -> frozenset[str]:
    return frozenset(rule.params.get("item_kinds") or default)


def _by_item_day(lines: Iterable[ReviewLine]) -> dict[tuple[str, dt.date], list[ReviewLine]]:
    groups: dict[tuple[str, dt.date], list[ReviewLine]] = defaultdict(list)
    for ln in lines:
        groups[(ln.item.item_code, ln.day)].append(ln)
    return groups


def qty_per_day(rule: RuleDef, case: Case) -> list[Hit]:
    """An item's quantity on one day above the catalog's max_qty_per_day (+ `tolerance`).
    At stake: the quantity above the limit at the day's highest unit price."""
    tolerance = Decimal(str(rule.params.get("tolerance", "0")))
    hits = []
    for (code, day), group in sorted(_by_item_day(case.lines).items()):
        limit = group[0].item.max_qty_per_day
        total = sum((ln.cnt for ln in group), ZERO)
        if limit is None or total <= limit + tolerance:
            continue
        excess = money((total - limit) * max(ln.pric for ln in group))
        hits.append(
            Hit(
                rule,
                tuple(group),
                excess,
                f"{code} quantity {total.normalize():f} on {day} is above the limit of "
                f"{limit.normalize():f} a day",
                f"catalog max_qty_per_day {limit.normalize():f}",
            )
        )
    return hits


def gender_age(rule: RuleDef, case: Case) -> list[Hit]:
    """A line of an item restricted to one gender or an age range (the person's age on the
    visit day, as the money rules count it)."""
    age = age_on(case.brdy, case.visit_day)
    hits = []
    for ln in case.lines:
        it = ln.item
        why = None
        if rule.params.get("check_gender", True) and it.gend_lmt and it.gend_lmt != case.gend:
            why = f"{it.item_code} is for gender {it.gend_lmt} only; the person's is {case.gend}"
        elif rule.params.get("check_age", True) and (
            (it.age_min is not None and age < it.age_min)
            or (it.age_max is not None and age > it.age_max)
        ):
            ages = f"{it.age_min or 0}-{'' if it.age_max is None else it.age_max}"
            why = f"{it.item_code} is for ages {ages}; the person is {age}"
        if why:
            hits.append(Hit(rule, (ln,), ln.amount, why, "catalog gend_lmt / age_min / age_max"))
    return hits


def same_day_repeat(rule: RuleDef, case: Case) -> list[Hit]:
    """The same item on more than `max_per_day` lines of one day (kinds `item_kinds`). At
    stake: the lines beyond the first `max_per_day`."""
    most = int(rule.params.get("max_per_day", 1))
    kinds = _kinds(rule, ("service", "material"))
    hits = []
    for (code, day), group in sorted(_by_item_day(case.lines).items()):
        if group[0].item.item_kind not in kinds or len(group) <= most:
            continue
        extra = sorted(group, key=lambda ln: ln.line_id)[most:]
        hits.append(
            Hit(
                rule,
                tuple(group),
                sum((ln.amount for ln in extra), ZERO),
                f"{code} billed on {len(group)} lines on {day} (at most {most})",
                f"lines {', '.join(sorted(ln.line_id for ln in group))}",
            )
        )
    return hits


def med_type(rule: RuleDef, case: Case) -> list[Hit]:
    """A line of an item the catalog allows only for other med_types."""
    return [
        Hit(
            rule,
            (ln,),
            ln.amount,
            f"{ln.item.item_code} is not allowed for med_type {case.med_type}",
            f"catalog med_type_lmt {','.join(sorted(ln.item.med_type_lmt))}",
        )
        for ln in case.lines
        if ln.item.med_type_lmt is not None and case.med_type not in ln.item.med_type_lmt
    ]


def _interval(rule: RuleDef, item: ItemFacts) -> int | None:
    if item.item_kind not in _kinds(rule, ("service",)):
        return None
    if item.exam_intv_days is not None:
        return item.exam_intv_days
    default = rule.params.get("default_days")
    return int(default) if default is not None else None


def exam_frequency(rule: RuleDef, case: Case) -> list[Hit]:
    """An exam done again within N days for one person (N: the catalog's exam_intv_days,
    else `default_days`): a line of another visit less than N days before (or the same
    day), or of an earlier day of this one. Repeats within one visit and day are
    same_day_repeat's."""
    # (day, reference, same visit): another visit's line counts from the same day on
    earlier: dict[str, list[tuple[dt.date, str, bool]]] = defaultdict(list)
    for p in case.history:
        earlier[p.item_code].append((p.day, f"{p.mdtrt_id}/{p.line_id}", False))
    for ln in case.lines:
        earlier[ln.item.item_code].append((ln.day, f"{case.mdtrt_id}/{ln.line_id}", True))
    hits = []
    for ln in case.lines:
        days = _interval(rule, ln.item)
        if days is None:
            continue
        before = [
            (d, ref)
            for d, ref, own in earlier[ln.item.item_code]
            if (d < ln.day if own else d <= ln.day) and (ln.day - d).days < days
        ]
        if before:
            d, ref = max(before)
            hits.append(
                Hit(
                    rule,
                    (ln,),
                    ln.amount,
                    f"{ln.item.item_code} on {ln.day} again {(ln.day - d).days} days after "
                    f"{d} (interval {days} days)",
                    f"earlier line {ref}",
                )
            )
    return hits


def _supply_applies(rule: RuleDef, med_type: str) -> bool:
    return med_type in frozenset(rule.params.get("med_types") or ("11", "14", "41"))


def _supplies(item: ItemFacts) -> bool:
    return item.supply_days is not None and item.item_kind == "drug"


def supply_overlap(rule: RuleDef, case: Case) -> list[Hit]:
    """A drug prescribed while an earlier prescription of it (another visit) still supplies
    the person: earlier day + cnt x supply_days is after this line's day by more than
    `tolerance_days`. Visits of `med_types` only (default outpatient, chronic, pharmacy).
    At stake: the share of this line the overlap covers."""
    tolerance = Decimal(str(rule.params.get("tolerance_days", 0)))
    if not _supply_applies(rule, case.med_type):
        return []  # a stay dispenses day by day
    past = [(p.day, p.cnt, p.item_code, f"{p.mdtrt_id}/{p.line_id}") for p in case.history]
    hits = []
    for ln in case.lines:
        per_unit = ln.item.supply_days
        if per_unit is None or not _supplies(ln.item):
            continue
        overlaps = [
            (Decimal((d - ln.day).days) + cnt * per_unit, ref)
            for d, cnt, code, ref in past
            if code == ln.item.item_code and d <= ln.day
        ]
        worst = max(overlaps, default=None)
        if worst is None or worst[0] <= tolerance:
            continue
        own = ln.cnt * per_unit
        share = min(worst[0], own) / own if own else Decimal(1)
        hits.append(
            Hit(
                rule,
                (ln,),
                money(ln.amount * share),
                f"{ln.item.item_code} on {ln.day}: an earlier prescription still supplies "
                f"{worst[0].normalize():f} days",
                f"earlier line {worst[1]}",
            )
        )
    return hits


KINDS: dict[str, RuleFn] = {
    "qty_per_day": qty_per_day,
    "gender_age": gender_age,
    "same_day_repeat": same_day_repeat,
    "med_type": med_type,
    "exam_frequency": exam_frequency,
    "supply_overlap": supply_overlap,
}


def history_items(rules: Iterable[RuleDef], med_type: str, lines: Iterable[ReviewLine]) -> set[str]:
    """The items whose earlier lines (the person's other visits) an enabled rule reads for
    this case: exam_frequency's items with an interval, supply_overlap's drugs with a
    supply on the visit kinds it checks. Empty: the case needs no history, and the rules
    give the same hits without it (evaluate only reads history of these items)."""
    lines = tuple(lines)
    codes: set[str] = set()
    for r in rules:
        if r.kind == "exam_frequency":
            codes |= {ln.item.item_code for ln in lines if _interval(r, ln.item) is not None}
        elif r.kind == "supply_overlap" and _supply_applies(r, med_type):
            codes |= {ln.item.item_code for ln in lines if _supplies(ln.item)}
    return codes


def evaluate(rules: Iterable[RuleDef], case: Case) -> list[Hit]:
    """Every hit of every rule whose kind is known, in rule order."""
    return [h for r in rules if r.kind in KINDS for h in KINDS[r.kind](r, case)]


def med_types(value: str | None) -> frozenset[str] | None:
    """catalog_item.med_type_lmt ('21', '11,14') as a set; empty or NULL: any med_type."""
    codes = frozenset(c.strip() for c in (value or "").split(",") if c.strip())
    return codes or None
