"""A source transaction too big for one TiDB transaction is applied in pieces, each with
the position of its last change: a restart between pieces applies nothing twice."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine, text

from medhtap.platform.hisdb import HisSettings
from medhtap.services.his.simulate import local_items
from medhtap.services.sync import apply
from medhtap.services.sync.mapping import visit_id

from .conftest import Kit


def test_a_big_source_transaction_goes_in_pieces_exactly_once(
    engine: Engine, tmp_path: Path
) -> None:
    # Given a source (its HIS is never read: the changes are made here) and one source
    # transaction of 25 changes: a patient, a visit, 23 charges of which 3 unmapped
    his = HisSettings(name=f"p{uuid.uuid4().hex[:6]}", port=1, base_dir=tmp_path)
    src = Kit.register(engine, his)
    (psn_no,) = Kit.persons(engine, 1)
    items = local_items(his.name)
    mapped = [loc for loc, nat, _, _ in items if nat]
    unmapped = [loc for loc, nat, _, _ in items if not nat]
    t0 = dt.datetime(2026, 11, 1, 9, 0)

    def charge(n: int, code: str) -> apply.Change:
        row = {
            "charge_id": n,
            "encounter_id": 1,
            "local_item_code": code,
            "quantity": Decimal(1),
            "unit_price": Decimal("10.00"),
            "amount": Decimal("10.00"),
            "charged_at": t0,
        }
        return apply.Change("charge_item", "insert", row)

    changes = [
        apply.Change("patient", "insert", {"patient_id": 1, "insurance_no": psn_no}),
        apply.Change(
            "encounter",
            "insert",
            {
                "encounter_id": 1,
                "patient_id": 1,
                "encounter_type": "O",
                "dept_code": "IM",
                "start_time": t0,
                "end_time": None,
                "status": "active",
            },
        ),
        *(charge(n, unmapped[0]) for n in (1, 2, 3)),  # dead letters, in the first piece
        *(charge(n, mapped[n % len(mapped)]) for n in range(4, 24)),
    ]
    txn = apply.Txn("0-9-1", t0, changes)
    apply.apply(engine, src, [], gtid="0-9-0", commit_time=t0)  # a snapshot of nothing
    parts = list(apply.pieces([txn], 10))
    assert [[len(t.changes) for t in p] for p in parts] == [[10], [10], [5]]

    # When the first piece lands and the sync dies before the next one ...
    apply.apply_batch(engine, src, parts[0])
    pos = apply.position(engine, src.source_id)
    assert (pos.gtid, pos.part_gtid, pos.part_changes) == ("0-9-0", "0-9-1", 10)
    # ... and the restarted sync reads the whole transaction again, in pieces, then once
    # more whole (a reconnect's replay)
    done = [apply.apply_batch(engine, src, p) for p in apply.pieces([txn], 10)]
    again = apply.apply_batch(engine, src, [txn])

    # Then every change is in once: the first piece was skipped, the replay too
    assert [d.skipped for d in done] == [1, 0, 0] and again.skipped == 1
    pos = apply.position(engine, src.source_id)
    assert (pos.gtid, pos.part_gtid, pos.part_changes, pos.events) == ("0-9-1", None, 0, 25)
    with engine.connect() as conn:
        lines = conn.execute(
            text("SELECT COUNT(*) FROM fee_detail WHERE mdtrt_id = :m"),
            {"m": visit_id(src.source_id, 1)},
        ).scalar_one()
        dead = conn.execute(
            text("SELECT COUNT(*) FROM sync_dead_letter WHERE source_id = :s"),
            {"s": src.source_id},
        ).scalar_one()
    assert (lines, dead) == (20, 3)
