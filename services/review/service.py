"""The review units: evaluate the rules on a visit's lines or orders, store the results
(one row per visit, rule and lines, so a re-run finds the row it made), and record the
hospital's handling (3103). `gate` is what 2207 runs before it settles.

Locks: the in-process review and 2207 lock the visit first (like every writer of its
lines), then the result rows by jr_id; 3103 locks only the result row. The order is the
settlement's (visit -> person -> ... -> results), so the units cannot deadlock."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from medhtap.platform.db import WriteSession
from medhtap.services.review import errors
from medhtap.services.review import repository as repo
from medhtap.services.review.rules import (
    FORBIDDEN,
    Case,
    Hit,
    ReviewLine,
    RuleDef,
    evaluate,
    history_items,
)
from medhtap.services.settlement import errors as setl_errors
from medhtap.services.settlement import repository as setl_repo
from medhtap.services.settlement import rules as money_rules
from medhtap.services.settlement.reference import CACHE
from medhtap.services.settlement.statements import LineRow
from medhtap.services.settlement.units import Caller

PRE, IN = "pre", "in"  # 3101 orders; 3102 / 2207 uploaded fee lines
CONTINUE, CHANGE = "1", "2"
DEFAULT_LOOKBACK_DAYS = 180


def jr_id(stage: str, mdtrt_id: str, rule_id: str, line_ids: Sequence[str]) -> str:
    """The stable identity of a result: the same visit, rule and lines give the same id."""
    key = "\x1f".join((stage, mdtrt_id, rule_id, *sorted(line_ids)))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Result:
    jr_id: str
    stage: str
    psn_no: str
    hit: Hit
    dspo_way: str | None  # how the hospital handled it so far (3103)

    @property
    def blocks(self) -> bool:
        return self.hit.rule.sev_deg == FORBIDDEN and self.dspo_way != CONTINUE

    def national(self, mdtrt_id: str) -> dict[str, Any]:
        """One entry of 3101/3102's result[] (and of REVIEW_BLOCKED's details)."""
        line_key = "rx_id" if self.stage == PRE else "feedetl_sn"
        h = self.hit
        return {
            "jr_id": self.jr_id,
            "rule_id": h.rule.rule_id,
            "rule_name": h.rule.rule_name,
            "vola_cont": h.vola_cont,
            "vola_amt": str(h.vola_amt),
            "sev_deg": str(h.rule.sev_deg),
            "vola_evid": h.vola_evid,
            "vola_bhvr_type": h.rule.vola_bhvr_type,
            "patn_id": self.psn_no,
            "mdtrt_id": mdtrt_id,
            "dspo_way": self.dspo_way,
            "judge_result_detail_dtos": [
                {
                    "jr_id": self.jr_id,
                    "patn_id": self.psn_no,
                    "mdtrt_id": mdtrt_id,
                    line_key: ln.line_id,
                    "med_list_codg": ln.item.item_code,
                    "cnt": f"{ln.cnt.normalize():f}",
                    "det_item_fee_sumamt": str(ln.amount),
                }
                for ln in sorted(h.lines, key=lambda ln: ln.line_id)
            ],
        }


def _lookback(rules: Sequence[RuleDef], lines: Sequence[ReviewLine]) -> int:
    days = [ln.item.exam_intv_days or 0 for ln in lines]
    for r in rules:
        for name in ("lookback_days", "default_days"):
            if r.params.get(name) is not None:
                days.append(int(r.params[name]))
    return max(days, default=0) or DEFAULT_LOOKBACK_DAYS


def history_for(
    session: WriteSession,
    rules: Sequence[RuleDef],
    psn_no: str,
    mdtrt_id: str,
    med_type: str,
    lines: Sequence[ReviewLine],
) -> tuple[Any, ...]:
    """The person's earlier lines of the items an enabled rule reads them for
    (rules.history_items): none read when no such rule is enabled or no line has such an
    item."""
    codes = history_items(rules, med_type, lines)
    if not codes:
        return ()
    first, last = min(ln.day for ln in lines), max(ln.day for ln in lines)
    since = dt.datetime.combine(first - dt.timedelta(days=_lookback(rules, lines)), dt.time())
    until = dt.datetime.combine(last + dt.timedelta(days=1), dt.time())
    return tuple(repo.history(session, psn_no, mdtrt_id, codes, since, until))


def active_rules(session: WriteSession) -> tuple[RuleDef, ...]:
    """The enabled rules, from the reference cache (settlement/reference.py): a changed
    review_rule row counts within MEDHTAP_REFERENCE_CACHE_S seconds in this process (at
    once after `reference.clear()`, or with the cache off)."""
    return CACHE.get(
        session, ("review_rules",), lambda: tuple(repo.rules(session)), keep_none=False
    )


def review_case(
    session: WriteSession,
    *,
    stage: str,
    case: Case,
    psn_no: str,
    fixmedins_code: str,
    rules: Sequence[RuleDef] | None = None,
    handling_if_forbidden: bool = False,
) -> tuple[list[Result], list[dict[str, Any]]]:
    """Evaluate and store: (results with their handling so far, the rows stored).

    handling_if_forbidden (2207's gate): read the handling only when a hit is forbidden,
    the only kind that can block; without one, every result's dspo_way is left None."""
    active = active_rules(session) if rules is None else rules
    hits = evaluate(active, case)
    ids = [jr_id(stage, case.mdtrt_id, h.rule.rule_id, h.line_ids) for h in hits]
    forbidden = any(h.rule.sev_deg == FORBIDDEN for h in hits)
    handled = repo.handling(session, ids) if forbidden or not handling_if_forbidden else {}
    results = [Result(j, stage, psn_no, h, handled.get(j)) for j, h in zip(ids, hits, strict=True)]
    rows = [
        {
            "jr_id": r.jr_id,
            "stage": stage,
            "mdtrt_id": case.mdtrt_id,
            "psn_no": psn_no,
            "fixmedins_code": fixmedins_code,
            "rule_id": r.hit.rule.rule_id,
            "rule_name": r.hit.rule.rule_name[:200],
            "sev_deg": r.hit.rule.sev_deg,
            "vola_bhvr_type": r.hit.rule.vola_bhvr_type,
            "vola_cont": r.hit.vola_cont[:400],
            "vola_evid": r.hit.vola_evid[:400],
            "vola_amt": r.hit.vola_amt,
            "line_ids": list(r.hit.line_ids),
            "details": r.national(case.mdtrt_id)["judge_result_detail_dtos"],
        }
        for r in results
    ]
    repo.upsert_results(session, rows)
    return results, rows


def visit_case(
    session: WriteSession,
    visit: Any,
    person: Any,
    rules: Sequence[RuleDef],
    rows: Sequence[LineRow] | None = None,
) -> Case:
    """The case of a visit's active lines (`rows`, as the settlement read them; else read
    here) and, if a rule needs it, the person's history."""
    if rows is None:
        rows = setl_repo.active_lines(session, visit.mdtrt_id)
    lines = review_lines(rows)
    return case_of(
        visit,
        person,
        lines,
        lambda code: history_for(session, rules, person.psn_no, visit.mdtrt_id, code, lines),
    )


def review_lines(rows: Sequence[LineRow]) -> list[ReviewLine]:
    """A visit's lines as the rules see them (also the raw bench baseline's)."""
    return [
        ReviewLine(r.feedetl_sn, repo.item_facts(r), r.cnt, r.pric, r.fee_ocur_time.date())
        for r in rows
    ]


def case_of(
    visit: Any,
    person: Any,
    lines: Sequence[ReviewLine],
    history: Callable[[str], tuple[Any, ...]],
) -> Case:
    """The case of these lines; `history(med_type code)` reads the person's earlier lines
    (on a session here, on a raw cursor in the bench baseline)."""
    code = money_rules.med_type(visit.med_type).code
    return Case(
        visit.mdtrt_id,
        code,
        visit.begntime.date(),
        person.gend,
        person.brdy,
        tuple(lines),
        history(code),
    )


def review_visit(
    session: WriteSession,
    visit: Any,
    person: Any,
    rules: Sequence[RuleDef],
    rows: Sequence[LineRow] | None = None,
    *,
    handling_if_forbidden: bool = False,
) -> tuple[list[Result], list[dict[str, Any]]]:
    """The in-process review of a visit's active lines (3102 and 2207's gate)."""
    return review_case(
        session,
        stage=IN,
        case=visit_case(session, visit, person, rules, rows),
        psn_no=person.psn_no,
        fixmedins_code=visit.fixmedins_code,
        rules=rules,
        handling_if_forbidden=handling_if_forbidden,
    )


def review_visit_unit(session: WriteSession, caller: Caller, mdtrt_id: str) -> list[Result]:
    """3102: review the visit's uploaded (active) fee lines and store the results."""
    visit = setl_repo.get_visit(session, mdtrt_id, lock=True)
    if visit is None:
        raise setl_errors.VisitNotFound(f"no visit {mdtrt_id!r}")
    caller.principal.check_institution(visit.fixmedins_code)
    person = setl_repo.get_person(session, visit.psn_no)
    if person is None:
        raise setl_errors.PersonNotFound(f"no insured person {visit.psn_no!r}")
    results, _ = review_visit(session, visit, person, active_rules(session))
    return results


def gate(session: WriteSession, visit: Any, person: Any, lines: Sequence[LineRow]) -> None:
    """2207's review, in the settlement's unit (visit and person locked; rows with the
    visit's and person's columns, settling.visit_and_person), of the active lines the
    settlement read (compute.visit_lines): a forbidden result not continued by the
    hospital refuses the settlement, and the results are kept although the unit rolls
    back. Warnings are stored and never block, so their handling is not read unless a
    forbidden hit is there too. The rules come from the reference cache; no lines,
    nothing to review (the settlement refuses them)."""
    rules = active_rules(session)
    if not rules or not lines:
        return
    results, rows = review_visit(session, visit, person, rules, lines, handling_if_forbidden=True)
    blocking = [r.jr_id for r in results if r.blocks]
    if blocking:
        raise errors.ReviewBlocked(
            f"{len(blocking)} forbidden review result(s) not handled: send 3103 "
            "(dspo_way 1 with a reason) or change the lines",
            keep=lambda s: repo.upsert_results(s, rows),
            blocking=blocking,
            result=[r.national(visit.mdtrt_id) for r in results],
        )


def handle_unit(
    session: WriteSession,
    caller: Caller,
    fixmedins_code: str,
    warn_rslt_id: str,
    dspo_way: str,
    dspo_way_rea: str | None,
) -> dict[str, Any]:
    """3103: record how the hospital handled one result (the latest handling counts)."""
    if dspo_way not in (CONTINUE, CHANGE):
        raise errors.InvalidDisposal("dspo_way must be '1' (continue) or '2' (go back, change)")
    reason = (dspo_way_rea or "").strip() or None
    if dspo_way == CONTINUE and reason is None:
        raise errors.InvalidDisposal("dspo_way 1 (continue) needs a reason in dspo_way_rea")
    if reason is not None and len(reason) > 200:
        raise errors.InvalidDisposal("dspo_way_rea holds at most 200 characters")
    row = repo.get_result(session, warn_rslt_id, lock=True)
    if row is None or row.fixmedins_code != fixmedins_code:
        raise errors.ReviewResultNotFound(f"no review result {warn_rslt_id!r}")
    caller.principal.check_institution(row.fixmedins_code)
    at = repo.set_handling(session, warn_rslt_id, dspo_way, reason, caller.actor)
    setl_repo.audit(
        session,
        caller.actor,
        "review_handle",
        "review_result",
        warn_rslt_id,
        {"dspo_way": dspo_way, "rule_id": row.rule_id, "mdtrt_id": row.mdtrt_id},
        caller.request_id,
    )
    return {
        "warn_rslt_id": warn_rslt_id,
        "rule_id": row.rule_id,
        "sev_deg": str(row.sev_deg),
        "dspo_way": dspo_way,
        "dspo_way_rea": reason,
        "dspo_time": at.strftime("%Y-%m-%d %H:%M:%S"),
    }
