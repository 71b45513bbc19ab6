"""`medhtap report backfill-items`: settlements written before item facts existed get the
item facts 2207 would have written; cancelled ones get none (their sums already cancel)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, bindparam, text

from medhtap.analytics.item_backfill import backfill

DRUG, SERVICE, MATERIAL = "XA10BAA003", "S110200001", "M270100001"
OF = text(
    "SELECT * FROM setl_item_fact WHERE setl_id IN :ids ORDER BY setl_id, sign, item_code"
).bindparams(bindparam("ids", expanding=True))
DROP = text("DELETE FROM setl_item_fact WHERE setl_id IN :ids").bindparams(
    bindparam("ids", expanding=True)
)


def items_of(engine: Engine, setl_ids: list[str]) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(OF, {"ids": setl_ids})]


def test_backfill_restores_the_item_facts_of_standing_settlements(
    factory, window, engine: Engine
) -> None:
    a = factory.person()
    lines = [(DRUG, 2, "40.00"), (DRUG, 1, "40.00"), (SERVICE, 1, "9.00")]
    standing = factory.visit(a, begntime=window.at(2), lines=lines)
    other = factory.visit(a, begntime=window.at(3), lines=[(MATERIAL, 3, "20.00")])
    cancelled = factory.visit(a, begntime=window.at(4), lines=[(DRUG, 1, "5.00")], cancel=True)
    ids = [standing.setl_id, other.setl_id, cancelled.setl_id]
    written = items_of(engine, ids)
    assert len(written) == 5  # 2 + 1 for the standing ones, +1 and -1 for the cancelled one
    # Given history from before item facts existed
    with engine.begin() as conn:
        conn.execute(DROP, {"ids": ids})
    # When the backfill runs, in batches of one settlement
    done = backfill(engine, batch=1)
    # Then the standing settlements have exactly the item facts 2207 wrote, the cancelled
    # one none; and a second run adds nothing
    want = [i for i in written if i["setl_id"] != cancelled.setl_id]
    assert items_of(engine, ids) == want
    assert done.settlements >= 2 and done.items >= 3
    assert backfill(engine).items == 0
    assert items_of(engine, ids) == want
