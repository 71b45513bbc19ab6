"""Review queries: the rules, the catalog limits, a person's earlier lines, the results."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Row, bindparam, select, update

from medhtap.platform.db import WriteSession
from medhtap.platform.prepared import json_param
from medhtap.schema.base import table
from medhtap.schema.reference import CatalogItem
from medhtap.schema.review import ReviewResult, ReviewRule
from medhtap.services.review import statements as sql
from medhtap.services.review.rules import ItemFacts, PastLine, RuleDef, med_types

RULE = table(ReviewRule)
RESULT = table(ReviewResult)
ITEM = table(CatalogItem)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def rules(session: WriteSession) -> list[RuleDef]:
    """The enabled rules (service.active_rules keeps them in the reference cache)."""
    rows = session.execute(
        select(RULE).where(RULE.c.enabled.is_(True)).order_by(RULE.c.rule_id)
    ).all()
    return [
        RuleDef(r.rule_id, r.rule_name, r.kind, int(r.sev_deg), r.vola_bhvr_type, _json(r.params))
        for r in rows
    ]


def item_facts(r: Any) -> ItemFacts:
    return ItemFacts(
        r.item_code,
        r.item_name,
        r.item_kind,
        r.gend_lmt,
        r.age_min,
        r.age_max,
        r.max_qty_per_day,
        med_types(r.med_type_lmt),
        r.exam_intv_days,
        r.supply_days,
    )


ITEM_COLUMNS = (
    ITEM.c.item_code,
    ITEM.c.item_name,
    ITEM.c.item_kind,
    ITEM.c.gend_lmt,
    ITEM.c.age_min,
    ITEM.c.age_max,
    ITEM.c.max_qty_per_day,
    ITEM.c.med_type_lmt,
    ITEM.c.exam_intv_days,
    ITEM.c.supply_days,
)


def items(session: WriteSession, codes: Iterable[str]) -> dict[str, ItemFacts]:
    wanted = sorted(set(codes))
    if not wanted:
        return {}
    stmt = select(*ITEM_COLUMNS).where(ITEM.c.item_code.in_(bindparam("c", expanding=True)))
    return {r.item_code: item_facts(r) for r in session.execute(stmt, {"c": wanted})}


def history(
    session: WriteSession,
    psn_no: str,
    mdtrt_id: str,
    codes: Iterable[str],
    since: dt.datetime,
    until: dt.datetime,
) -> list[PastLine]:
    """The person's lines of these items on other visits (not cancelled, line not
    revoked) between `since` and `until`."""
    wanted = sorted(set(codes))
    if not wanted:
        return []
    rows = sql.history(len(wanted)).all(session, (psn_no, mdtrt_id, *wanted, since, until))
    return [
        PastLine(r.mdtrt_id, r.feedetl_sn, r.item_code, r.cnt, r.fee_ocur_time.date()) for r in rows
    ]


def handling(session: WriteSession, jr_ids: Sequence[str]) -> dict[str, str | None]:
    """jr_id -> dspo_way of the results already stored (None: not handled)."""
    if not jr_ids:
        return {}
    return {r.jr_id: r.dspo_way for r in sql.handling(len(jr_ids)).all(session, tuple(jr_ids))}


def upsert_results(session: WriteSession, rows: list[dict[str, Any]]) -> None:
    """Insert new results; refresh known ones (same jr_id), keeping how they were handled
    (one multi-row INSERT ... ON DUPLICATE KEY UPDATE)."""
    if not rows:
        return
    json_cols = ("line_ids", "details")
    params = [
        tuple(json_param(r[c]) if c in json_cols else r[c] for c in sql.WRITTEN) for r in rows
    ]
    sql.UPSERT.execute_many(session, params)


def get_result(session: WriteSession, jr_id: str, *, lock: bool) -> Row[Any] | None:
    stmt = select(RESULT).where(RESULT.c.jr_id == jr_id)
    return session.execute(stmt.with_for_update() if lock else stmt).one_or_none()


def set_handling(
    session: WriteSession, jr_id: str, dspo_way: str, reason: str | None, actor: str
) -> dt.datetime:
    now = dt.datetime.now()
    session.execute(
        update(RESULT)
        .where(RESULT.c.jr_id == jr_id)
        .values(dspo_way=dspo_way, dspo_way_rea=reason, handled_at=now, handled_by=actor)
    )
    return now
