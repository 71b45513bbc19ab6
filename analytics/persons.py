"""Persons (就诊人数) per group of a cost report: exact and T+0, without recounting a year.

Distinct persons do not add up over days or groups, so the rollups cannot hold them, and
counting them from a year of a city's facts costs most of a report. Per person, though,
they do add up: n(p, g) = the sum of sign over p's facts in group g and the period is the
number of p's settlements there that stand (a cancel's -1 fact copies its +1 fact's
dimensions and setl_time, services/settlement/facts.py), and p counts in g when n > 0.
Facts are only ever added, so a count can be kept and moved forward:

- a base per (database, grouping, period): the persons of each group over the facts recorded
  before a watermark W, the grouping's rollup watermark `folded_to` (every fact recorded
  before it is committed, analytics/rollup.py), counted once from the facts;
- on each request, only the persons P with a fact recorded since W can differ from the
  base: their facts of the period are read through the psn_no index and recounted,
  count(g) = base(g) - #{p in P: n_W(p, g) > 0} + #{p in P: n_now(p, g) > 0},
  and the base moves to the request's `folded_to` the same way.

The first request of a period pays the full count; later ones read a few seconds of facts.
The bases live in this process (each API worker keeps its own), at most MAX_BASES of them.
Deleting facts, which nothing but a test does, needs `forget()`.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, text

from medhtap.analytics import sqlfiles
from medhtap.analytics.readpath import ReadTxn

if TYPE_CHECKING:
    from medhtap.analytics.reports import Grouping

Group = tuple[Any, ...]
FAR = dt.datetime(9999, 1, 1)
MAX_BASES = 64
# Above this many changed persons, recounting them one by one costs more than a new base.
MAX_CHANGED = 5_000


@dataclass(frozen=True)
class Base:
    watermark: dt.datetime  # counts over the facts recorded before this
    counts: dict[Group, int]


_bases: OrderedDict[Hashable, Base] = OrderedDict()
_lock = threading.Lock()


def forget() -> None:
    """Drop every base (after facts were deleted)."""
    with _lock:
        _bases.clear()


def _get(key: Hashable) -> Base | None:
    with _lock:
        base = _bases.get(key)
        if base is not None:
            _bases.move_to_end(key)
        return base


def _put(key: Hashable, base: Base) -> None:
    with _lock:
        old = _bases.get(key)
        if old is None or old.watermark <= base.watermark:
            _bases[key] = base
            _bases.move_to_end(key)
        while len(_bases) > MAX_BASES:
            _bases.popitem(last=False)


def full(
    txn: ReadTxn, grouping: Grouping, params: dict[str, Any], before: dt.datetime = FAR
) -> dict[Group, int]:
    """The persons of each group from the standing +1 facts recorded before `before`."""
    rows = txn.query(
        grouping.sql("cost_persons"), params | {"before": before}, kind="cost_persons"
    ).records()
    return {tuple(r[k] for k in grouping.codes): int(r["persons"]) for r in rows}


@dataclass
class _Person:
    """One changed person's facts of the period, per group."""

    n_at: dict[dt.datetime, dict[Group, int]]  # watermark -> sum of signs recorded before it
    n_now: dict[Group, int]
    standing_before: set[Group]  # groups with a standing +1 fact recorded before `since`


def _recount(
    txn: ReadTxn,
    grouping: Grouping,
    params: dict[str, Any],
    since: dt.datetime,
    marks: list[dt.datetime],
) -> dict[str, _Person] | None:
    """The persons with a fact recorded since `since`, their sums of signs per group before
    each of `marks` and now; None when there are more than MAX_CHANGED of them."""
    found = txn.query(
        sqlfiles.load("persons_since"),
        params | {"since": since, "limit": MAX_CHANGED + 1},
        kind="persons_since",
    ).rows
    if len(found) > MAX_CHANGED:
        return None
    changed: dict[str, _Person] = {}
    if not found:
        return changed
    stmt = text(grouping.sql("persons_facts")).bindparams(bindparam("persons", expanding=True))
    rows = txn.query(
        stmt, params | {"persons": [r[0] for r in found]}, kind="persons_facts"
    ).records()
    for r in rows:
        g = tuple(r[k] for k in grouping.codes)
        p = changed.setdefault(r["psn_no"], _Person({m: {} for m in marks}, {}, set()))
        sign = int(r["sign"])
        p.n_now[g] = p.n_now.get(g, 0) + sign
        for m in marks:
            if r["recorded_at"] < m:
                p.n_at[m][g] = p.n_at[m].get(g, 0) + sign
        if sign == 1 and r["standing"] == 1 and r["recorded_at"] < since:
            p.standing_before.add(g)
    return changed


def _moved(
    counts: dict[Group, int], drop: list[set[Group]], add: list[set[Group]]
) -> dict[Group, int]:
    out = dict(counts)
    for groups in drop:
        for g in groups:
            out[g] = out.get(g, 0) - 1
    for groups in add:
        for g in groups:
            out[g] = out.get(g, 0) + 1
    return {g: n for g, n in out.items() if n}


def _positive(n: dict[Group, int]) -> set[Group]:
    return {g for g, v in n.items() if v > 0}


def count(
    txn: ReadTxn,
    grouping: Grouping,
    params: dict[str, Any],
    database: Hashable,
    folded_to: dt.datetime | None,
) -> tuple[dict[Group, int], dict[str, Any]]:
    """The persons of each group now, and how they were counted (the answer's
    source.persons). `folded_to`: the grouping's rollup watermark read in this snapshot
    (None: no rollup, so the full count)."""
    if folded_to is None:
        return full(txn, grouping, params), {"from": "facts"}
    key = (database, grouping.group_by, params["from"], params["to"])
    base = _get(key)
    if base is not None and base.watermark <= folded_to:
        changed = _recount(txn, grouping, params, base.watermark, [base.watermark, folded_to])
        if changed is not None:
            was = [_positive(p.n_at[base.watermark]) for p in changed.values()]
            moved = _moved(
                base.counts, was, [_positive(p.n_at[folded_to]) for p in changed.values()]
            )
            _put(key, Base(folded_to, moved))
            now = _moved(base.counts, was, [_positive(p.n_now) for p in changed.values()])
            return now, {
                "from": "base+changed",
                "base_at": base.watermark.isoformat(),
                "changed_persons": len(changed),
            }
    # A new base at folded_to, in this snapshot: the standing facts recorded before it,
    # corrected for the persons with facts since (a cancel since then has cleared the
    # standing of a fact the base must still count).
    changed = _recount(txn, grouping, params, folded_to, [folded_to])
    if changed is None:  # the worker is far behind: no base until it catches up
        return full(txn, grouping, params), {"from": "facts"}
    counted = full(txn, grouping, params, folded_to)
    counted_as = [p.standing_before for p in changed.values()]
    _put(
        key,
        Base(
            folded_to,
            _moved(counted, counted_as, [_positive(p.n_at[folded_to]) for p in changed.values()]),
        ),
    )
    now = _moved(counted, counted_as, [_positive(p.n_now) for p in changed.values()])
    return now, {
        "from": "new base",
        "base_at": folded_to.isoformat(),
        "changed_persons": len(changed),
    }
