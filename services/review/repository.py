"""Review queries: the rules, the catalog limits, a person's earlier lines, the results."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Row, bindparam, func, select, update
from sqlalchemy.dialects.mysql import insert as mysql_insert

from medhtap.platform.db import WriteSession
from medhtap.schema.base import table
from medhtap.schema.reference import CatalogItem
from medhtap.schema.review import ReviewResult, ReviewRule
from medhtap.schema.visit import FeeDetail, Visit
from medhtap.services.review.rules import ItemFacts, PastLine, RuleDef, med_types
from medhtap.services.settlement.repository import FEE_BY_VISIT

RULE = table(ReviewRule)
RESULT = table(ReviewResult)
ITEM = table(CatalogItem)
FEE = table(FeeDetail)
VISIT = table(Visit)
# refreshed on every review; the handling (dspo_way, ...) and created_at are kept
REFRESHED = (
    "rule_name",
    "sev_deg",
    "vola_bhvr_type",
    "vola_cont",
    "vola_evid",
    "vola_amt",
    "details",
)


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
    stmt = (
        select(FEE.c.mdtrt_id, FEE.c.feedetl_sn, FEE.c.item_code, FEE.c.cnt, FEE.c.fee_ocur_time)
        .prefix_with(FEE_BY_VISIT)
        .join(VISIT, VISIT.c.mdtrt_id == FEE.c.mdtrt_id)
        .where(
            VISIT.c.psn_no == psn_no,
            VISIT.c.mdtrt_id != mdtrt_id,
            VISIT.c.vis_status != "cancelled",
            FEE.c.fee_status.in_(("active", "settled")),
            FEE.c.item_code.in_(bindparam("c", expanding=True)),
            FEE.c.fee_ocur_time >= since,
            FEE.c.fee_ocur_time < until,
        )
    )
    return [
        PastLine(r.mdtrt_id, r.feedetl_sn, r.item_code, r.cnt, r.fee_ocur_time.date())
        for r in session.execute(stmt, {"c": wanted})
    ]


def handling(session: WriteSession, jr_ids: Sequence[str]) -> dict[str, str | None]:
    """jr_id -> dspo_way of the results already stored (None: not handled)."""
    if not jr_ids:
        return {}
    stmt = select(RESULT.c.jr_id, RESULT.c.dspo_way).where(
        RESULT.c.jr_id.in_(bindparam("j", expanding=True))
    )
    return {r.jr_id: r.dspo_way for r in session.execute(stmt, {"j": list(jr_ids)})}


def upsert_results(session: WriteSession, rows: list[dict[str, Any]]) -> None:
    """Insert new results; refresh known ones (same jr_id), keeping how they were handled."""
    if not rows:
        return
    ins = mysql_insert(RESULT).values(rows)
    refresh: dict[str, Any] = {c: ins.inserted[c] for c in REFRESHED}
    session.execute(ins.on_duplicate_key_update(refresh | {"last_seen_at": func.now(6)}))


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
