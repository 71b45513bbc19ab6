"""The review gate of the raw baseline: services/review/service.py `gate` over a pymysql cursor.

A 2207 of the service reviews the visit's active lines before it settles them (gate, called
from services/settlement/settling.py between the lines' read and the money). `raw_gate`
sends the statements the gate sends, in its order, on the settlement's cursor, with the
statement text of services/review/statements.py:
- the enabled rules: from the service's reference cache (key ("review_rules",), the same
  loader, repository.rules), so in the steady state no statement, as the service's;
- the person's earlier lines (statements.history) only when rules.history_items names an
  item of the visit, over the window of service.history_for (service._lookback);
- rules.evaluate; the result ids by service.jr_id; the handling so far
  (statements.handling) only when a hit is forbidden, as 2207's gate asks;
- the results' upsert (statements.UPSERT, one multi-row INSERT as pymysql's executemany
  makes it, as platform/prepared.py's execute_many does), when there is a hit.
A forbidden result not handled raises the service's ReviewBlocked, whose `keep` upserts the
results again on a cursor after the settlement rolled back (raw_settle commits it), as
platform/tx.py keeps a refusal's record. The review's rules are called, never copied; what is
copied is only the plumbing the service does around them (rows of the case, the result rows
of review_case, the history window's two dates).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Protocol

from medhtap.platform.db import WriteSession
from medhtap.platform.prepared import json_param
from medhtap.services.review import repository as review_repo
from medhtap.services.review import service as review
from medhtap.services.review import statements as review_sql
from medhtap.services.review.errors import ReviewBlocked
from medhtap.services.review.rules import (
    FORBIDDEN,
    PastLine,
    ReviewLine,
    RuleDef,
    evaluate,
    history_items,
)
from medhtap.services.settlement.statements import LineRow, PersonRow, VisitRow


class Cached(Protocol):
    """settlement_raw.Reference: a lookup through the service's reference cache."""

    def get(self, key: tuple[Any, ...], fn: Any, keep_none: bool) -> Any: ...


def active_rules(ref: Cached) -> tuple[RuleDef, ...]:
    """service.active_rules: the same cache entry, filled by the same loader."""

    def load(s: WriteSession) -> tuple[RuleDef, ...]:
        return tuple(review_repo.rules(s))

    rules: tuple[RuleDef, ...] = ref.get(("review_rules",), load, False)
    return rules


def history(
    cur: Any,
    rules: Sequence[RuleDef],
    psn_no: str,
    mdtrt_id: str,
    med_type: str,
    lines: Sequence[ReviewLine],
) -> tuple[PastLine, ...]:
    """service.history_for + repository.history on the cursor: none read when no enabled
    rule reads the history of an item of the visit."""
    codes = history_items(rules, med_type, lines)
    if not codes:
        return ()
    first, last = min(ln.day for ln in lines), max(ln.day for ln in lines)
    since = dt.datetime.combine(
        first - dt.timedelta(days=review._lookback(rules, lines)), dt.time()
    )
    until = dt.datetime.combine(last + dt.timedelta(days=1), dt.time())
    wanted = sorted(codes)
    cur.execute(review_sql.history(len(wanted)).sql, (psn_no, mdtrt_id, *wanted, since, until))
    return tuple(
        PastLine(r.mdtrt_id, r.feedetl_sn, r.item_code, r.cnt, r.fee_ocur_time.date())
        for r in map(review_sql.PastRow._make, cur.fetchall())
    )


def handling(cur: Any, jr_ids: Sequence[str]) -> dict[str, str | None]:
    """repository.handling on the cursor."""
    if not jr_ids:
        return {}
    cur.execute(review_sql.handling(len(jr_ids)).sql, tuple(jr_ids))
    return {r.jr_id: r.dspo_way for r in map(review_sql.Handling._make, cur.fetchall())}


def upsert(cur: Any, params: list[tuple[Any, ...]]) -> None:
    """repository.upsert_results on the cursor (prepared.Statement.execute_many)."""
    if len(params) == 1:
        cur.execute(review_sql.UPSERT.sql, params[0])
    elif params:
        cur.executemany(review_sql.UPSERT.sql, params)


def raw_gate(
    cur: Any, ref: Cached, visit: VisitRow, person: PersonRow, rows: Sequence[LineRow]
) -> None:
    """service.gate(session, visit, person, lines) -> review_visit -> review_case, with
    handling_if_forbidden, stage "in"."""
    rules = active_rules(ref)
    if not rules or not rows:
        return
    lines = review.review_lines(rows)
    case = review.case_of(
        visit,
        person,
        lines,
        lambda code: history(cur, rules, person.psn_no, visit.mdtrt_id, code, lines),
    )
    hits = evaluate(rules, case)
    ids = [review.jr_id(review.IN, case.mdtrt_id, h.rule.rule_id, h.line_ids) for h in hits]
    forbidden = any(h.rule.sev_deg == FORBIDDEN for h in hits)
    handled = handling(cur, ids) if forbidden else {}
    results = [
        review.Result(j, review.IN, person.psn_no, h, handled.get(j))
        for j, h in zip(ids, hits, strict=True)
    ]
    stored = [
        {
            "jr_id": r.jr_id,
            "stage": review.IN,
            "mdtrt_id": case.mdtrt_id,
            "psn_no": person.psn_no,
            "fixmedins_code": visit.fixmedins_code,
            "rule_id": r.hit.rule.rule_id,
            "rule_name": r.hit.rule.rule_name[:200],
            "sev_deg": r.hit.rule.sev_deg,
            "vola_bhvr_type": r.hit.rule.vola_bhvr_type,
            "vola_cont": r.hit.vola_cont[:400],
            "vola_evid": r.hit.vola_evid[:400],
            "vola_amt": r.hit.vola_amt,
            "line_ids": json_param(list(r.hit.line_ids)),
            "details": json_param(r.national(case.mdtrt_id)["judge_result_detail_dtos"]),
        }
        for r in results
    ]
    params = [tuple(row[c] for c in review_sql.WRITTEN) for row in stored]
    upsert(cur, params)
    blocking = [r.jr_id for r in results if r.blocks]
    if blocking:
        raise ReviewBlocked(
            f"{len(blocking)} forbidden review result(s) not handled",
            keep=lambda c: upsert(c, params),
            blocking=blocking,
            result=[r.national(visit.mdtrt_id) for r in results],
        )
