"""Item facts for settlements written before they existed (migration 0025), in bounded
transactions: `medhtap report backfill-items`.

Only settlements that stand get them: a cancelled one's lines went back to 'active' without
setl_id (2208), and neither its +1 nor its -1 item facts are there, so its sums are already
consistent. Each batch is one pessimistic transaction that first locks the +1 facts of its
settlements that still stand (FOR UPDATE), then inserts their item facts from their settled
lines (INSERT IGNORE: item facts already there stay). A cancel of one of them updates that
same fact row (it clears `standing`) before it reads the item facts to negate, so it either
committed before the lock (the settlement is skipped) or waits for the batch and then
negates what the batch wrote: no +1 item fact is ever left without its -1.

A batch of `batch` settlements writes one key per item fact (setl_item_fact has no
secondary index), far below the local store's key limit (platform/bulk.py) for any
realistic number of items per settlement.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Engine, bindparam, text

from medhtap.services.settlement.facts import ITEM_KEYS

log = logging.getLogger("medhtap.analytics.item_backfill")

BATCH = 2_000
# settlements that stand and have no item facts, in setl_id order from a position
MISSING = text(
    "SELECT f.setl_id FROM setl_fact f WHERE f.sign = 1 AND f.standing = 1 "
    "AND f.setl_id > :after AND NOT EXISTS (SELECT 1 FROM setl_item_fact i "
    "WHERE i.setl_id = f.setl_id AND i.sign = 1 AND i.setl_time = f.setl_time) "
    "ORDER BY f.setl_id LIMIT :n"
)
LOCK = text(
    "SELECT setl_id FROM setl_fact WHERE setl_id IN :ids AND sign = 1 AND standing = 1 FOR UPDATE"
).bindparams(bindparam("ids", expanding=True))
_KEYS = ", ".join(f"f.{k}" for k in ITEM_KEYS)
INSERT = text(
    f"INSERT IGNORE INTO setl_item_fact (setl_id, sign, item_code, {', '.join(ITEM_KEYS)}, "
    f"det_item_fee_sumamt, cnt) SELECT f.setl_id, 1, fd.item_code, {_KEYS}, "
    "SUM(fd.det_item_fee_sumamt), SUM(fd.cnt) FROM setl_fact f JOIN fee_detail fd "
    "ON fd.setl_id = f.setl_id AND fd.fee_status = 'settled' "
    "WHERE f.setl_id IN :ids AND f.sign = 1 AND f.standing = 1 "
    f"GROUP BY f.setl_id, fd.item_code, {_KEYS}"
).bindparams(bindparam("ids", expanding=True))


@dataclass
class Backfill:
    settlements: int = 0  # settlements given item facts
    items: int = 0  # item facts inserted
    batches: int = 0


def backfill(engine: Engine, batch: int = BATCH) -> Backfill:
    """Give every standing settlement without item facts its item facts."""
    done, after = Backfill(), ""
    while True:
        with engine.connect() as conn:
            ids = [r[0] for r in conn.execute(MISSING, {"after": after, "n": batch})]
        if not ids:
            return done
        with engine.begin() as conn:
            locked = [r[0] for r in conn.execute(LOCK, {"ids": ids})]
            if locked:
                done.items += conn.execute(INSERT, {"ids": locked}).rowcount
        done.settlements += len(locked)
        done.batches += 1
        after = ids[-1]
        log.info("item facts: %d settlements, %d items so far", done.settlements, done.items)
