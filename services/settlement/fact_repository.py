"""Writes of analytic facts (schema/facts.py) inside the settlement's own transaction: the
settlement's fact and its item facts (one multi-row INSERT each)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, bindparam, select, update
from sqlalchemy.orm import Session

from medhtap.platform.prepared import Query, insert_rows
from medhtap.schema.base import table
from medhtap.schema.facts import SettlementFact, SettlementItemFact
from medhtap.schema.reference import CatalogItem, Diagnosis
from medhtap.services.settlement import facts
from medhtap.services.settlement.rules import SETTLEMENT_AMOUNTS

log = logging.getLogger(__name__)

FACT = table(SettlementFact)
ITEM_FACT = table(SettlementItemFact)
ITEM = table(CatalogItem)
DIAG = table(Diagnosis)
# Built once with bind parameters: per-call statement construction was a large share of a
# settlement's Python time (bench/settlement_profile.py).
DIAG_PLACE = select(DIAG.c.block, DIAG.c.chapter).where(DIAG.c.diag_code == bindparam("code"))
# A cancel clears its +1 fact's flag: one point write (the key names the partition).
CLEAR_STANDING = (
    update(FACT)
    .where(
        FACT.c.setl_id == bindparam("b_setl_id"),
        FACT.c.sign == 1,
        FACT.c.setl_time == bindparam("b_setl_time"),
    )
    .values(standing=0)
)


# A settlement's +1 item facts: one range of the clustered key, in its setl_time partition.
PLUS_ITEMS = Query(
    f"SELECT {', '.join(ITEM_FACT.columns.keys())} FROM setl_item_fact "
    "WHERE setl_id = %s AND sign = 1 AND setl_time = %s ORDER BY item_code"
)
ITEM_COLUMNS = tuple(ITEM_FACT.columns.keys())

SETTLEMENT_FIELDS = ("setl_id", "setl_time", "fixmedins_code", "hosp_lv", "insutype", "med_type")


# Where a code sits in ICD-10 (block, chapter) is fixed by the classification itself, so it
# is read once per process: one round trip less per settlement.
_PLACES: dict[str, facts.Diag] = {}


def diag_place(session: Session, code: str) -> facts.Diag:
    place = _PLACES.get(code)
    if place is None:
        row = session.execute(DIAG_PLACE, {"code": code}).one()
        place = _PLACES[code] = facts.Diag(row.block, row.chapter)
    return place


def record_settlement(
    session: Session,
    setl: Any,
    visit: Any,
    person: Any,
    lines: Iterable[Any],
    kinds: Mapping[str, str],
    cnts: Mapping[str, Decimal],
) -> dict[str, Any]:
    """Insert the +1 fact of a settlement and its +1 item facts. `setl` has the
    settlement's fields as attributes (the service's answer), `lines` are its splits
    (feedetl_sn, item_code, amount), `kinds` the catalog kind of each item code and `cnts`
    the quantity of each line (read with the lines, so not read again here)."""
    lines = list(lines)
    values = {k: getattr(setl, k) for k in (*SETTLEMENT_FIELDS, *SETTLEMENT_AMOUNTS)}
    diag = diag_place(session, visit.main_diag_code)
    row = facts.settlement_fact(
        values,
        visit._mapping,
        person._mapping,
        diag,
        ((kinds[ln.item_code], ln.amount) for ln in lines),
    )
    insert_rows(session, FACT, [row])
    items = facts.item_facts(row, ((ln.item_code, ln.amount, cnts[ln.feedetl_sn]) for ln in lines))
    insert_rows(session, ITEM_FACT, items)
    return row


def record_cancel(session: Session, orig: Row[Any], rev_setl_id: str, when: dt.datetime) -> None:
    """Insert the -1 fact of a cancelled settlement (`orig`, its row), its +1 fact negated,
    clear the +1 fact's `standing`, and insert its +1 item facts negated.

    A settlement written before facts existed has none; it gets no -1 either, so every
    report stays consistent."""
    fact = session.execute(
        select(FACT).where(
            FACT.c.setl_id == orig.setl_id,
            FACT.c.setl_time == orig.setl_time,  # its partition: one point read
            FACT.c.sign == 1,
        )
    ).first()
    if fact is None:
        log.warning("settlement %s has no fact to reverse", orig.setl_id)
        return
    insert_rows(session, FACT, [facts.reversal_fact(fact._mapping, rev_setl_id, when)])
    session.execute(CLEAR_STANDING, {"b_setl_id": orig.setl_id, "b_setl_time": orig.setl_time})
    # a settlement written before item facts existed has none, and gets no -1 ones either
    plus = PLUS_ITEMS.all(session, (orig.setl_id, orig.setl_time))
    items = [dict(zip(ITEM_COLUMNS, r, strict=True)) for r in plus]
    insert_rows(session, ITEM_FACT, facts.reversal_items(items))
