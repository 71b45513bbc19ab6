"""HIS corrections after settlement are never applied silently: each becomes a data-quality
event analysts read in v_data_quality_event. And a batch of several source transactions is
applied as they would be one by one, each exactly once even when delivered twice."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from medhtap.platform.hisdb import HisSettings
from medhtap.services.his.simulate import local_items, seed_local_items
from medhtap.services.sync import apply
from medhtap.services.sync.mapping import fee_sn, visit_id

from .conftest import Kit

HIS_KEY = {"X-API-Key": "dev-his-key"}


def _his(his: HisSettings, *statements: tuple[str, tuple[object, ...]]) -> list[int]:
    """Run statements in one HIS transaction; the ids they inserted."""
    ids = []
    with his.connect(database=his.database) as conn, conn.cursor() as cur:
        conn.begin()
        for sql, args in statements:
            cur.execute(sql, args)
            ids.append(int(cur.lastrowid))
        conn.commit()
    return ids


def _charge(enc: int, code: str, qty: int, price: Decimal) -> tuple[str, tuple[object, ...]]:
    return (
        "INSERT INTO charge_item (encounter_id, local_item_code, item_name, quantity, unit_price,"
        " amount, charged_at) VALUES (%s, %s, 'item', %s, %s, %s, NOW(6))",
        (enc, code, qty, price, (qty * price).quantize(Decimal("0.01"))),
    )


def test_corrections_after_settlement_become_quality_events_analysts_see(
    engine: Engine, analyst_engine: Engine, client: TestClient, fresh_his: HisSettings
) -> None:
    his = fresh_his
    src = Kit.register(engine, his)
    (psn_no,) = Kit.persons(engine, 1)
    seed_local_items(his)
    items = [(loc, price) for loc, nat, _, price in local_items(his.name) if nat][:4]
    (patient,) = _his(
        his,
        (
            "INSERT INTO patient (mrn, name, id_card_no, gender, birth_date, insurance_no)"
            " VALUES (%s, '李娜', '110105197001010011', '1', '1970-01-01', %s)",
            (f"MRN{uuid.uuid4().hex[:8]}", psn_no),
        ),
    )
    (enc,) = _his(
        his,
        (
            "INSERT INTO encounter (patient_id, encounter_type, dept_code, start_time)"
            " VALUES (%s, 'O', 'IM', NOW(6))",
            (patient,),
        ),
    )
    _, c1, c2 = _his(
        his,
        (
            "INSERT INTO encounter_diagnosis (encounter_id, icd10_code, is_main) VALUES (%s,"
            " 'E11.9', 1)",
            (enc,),
        ),
        _charge(enc, items[0][0], 1, items[0][1]),
        _charge(enc, items[1][0], 2, items[1][1]),
    )
    mdtrt_id = visit_id(his.name, enc)
    with Kit.streaming(his, engine, src) as worker:
        Kit.wait_caught_up(engine, his, Kit.his_gtid(his), worker.is_alive)
        r = client.post(
            f"/v1/visits/{mdtrt_id}/settlement",
            headers={**HIS_KEY, "Idempotency-Key": uuid.uuid4().hex},
            json={"use_account": False},
        )
        assert r.status_code == 200, r.text
        # The HIS corrects the visit after it was settled on the platform.
        _his(
            his,
            (
                "UPDATE charge_item SET quantity = 3, amount = ROUND(3 * unit_price, 2)"
                " WHERE charge_id = %s",
                (c1,),
            ),
        )
        _his(his, ("DELETE FROM charge_item WHERE charge_id = %s", (c2,)))
        (c3,) = _his(his, _charge(enc, items[2][0], 1, items[2][1]))
        _his(his, ("UPDATE encounter SET status = 'cancelled' WHERE encounter_id = %s", (enc,)))
        Kit.wait_caught_up(engine, his, Kit.his_gtid(his), worker.is_alive)
    with engine.connect() as conn:
        lines = dict(
            conn.execute(
                text(
                    "SELECT feedetl_sn, CONCAT(fee_status, ' ', cnt) FROM fee_detail"
                    " WHERE mdtrt_id = :m"
                ),
                {"m": mdtrt_id},
            ).all()
        )
        vis_status = conn.execute(
            text("SELECT vis_status FROM visit WHERE mdtrt_id = :m"), {"m": mdtrt_id}
        ).scalar_one()
    # Nothing of the settled visit changed: quantities, statuses, no new line.
    assert lines == {fee_sn(c1): "settled 1.0000", fee_sn(c2): "settled 2.0000"}
    assert fee_sn(c3) not in lines and vis_status == "settled"
    with analyst_engine.connect() as conn:
        seen = sorted(
            tuple(r)
            for r in conn.execute(
                text(
                    "SELECT kind, his_table, his_key FROM v_data_quality_event WHERE mdtrt_id = :m"
                ),
                {"m": mdtrt_id},
            )
        )
    assert seen == sorted(
        [
            ("correction_after_settlement", "charge_item", str(c1)),
            ("correction_after_settlement", "charge_item", str(c2)),
            ("charge_after_settlement", "charge_item", str(c3)),
            ("correction_after_settlement", "encounter", str(enc)),
        ]
    )


def test_a_batch_applies_each_source_transaction_once_even_when_delivered_twice(
    engine: Engine, fresh_his: HisSettings
) -> None:
    """The binlog library re-reads from its start GTID when it reconnects on its own, so one
    batch can hold a transaction twice: the second copy must not be replayed over later ones."""
    his = fresh_his
    src = Kit.register(engine, his)
    (psn_no,) = Kit.persons(engine, 1)
    loc = next(loc for loc, nat, _, _ in local_items(his.name) if nat)
    sid = his.name
    t0 = dt.datetime(2026, 11, 1, 9, 0)

    def charge(op: str, qty: int) -> apply.Change:
        row = {
            "charge_id": 1,
            "encounter_id": 1,
            "local_item_code": loc,
            "quantity": Decimal(qty),
            "unit_price": Decimal("10.00"),
            "amount": Decimal(qty * 10).quantize(Decimal("0.01")),
            "charged_at": t0,
        }
        return apply.Change("charge_item", op, row)

    patient = apply.Change("patient", "insert", {"patient_id": 1, "insurance_no": psn_no})
    encounter = apply.Change(
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
    )
    txns = [
        apply.Txn(f"0-9-{i + 1}", t0, changes)
        for i, changes in enumerate(
            [[patient, encounter], [charge("insert", 1)], [charge("update", 2)]]
        )
    ]
    apply.apply(engine, src, [], gtid="0-9-0", commit_time=t0)  # a snapshot of nothing
    # Transactions 1..3, then 2 again (a reconnect's replay): replayed, it would set the
    # quantity back to 1.
    out = apply.apply_batch(engine, src, [*txns, txns[1]])
    assert (out.rows, out.skipped) == (4, 1)
    line_sql = "SELECT fee_status, cnt FROM fee_detail WHERE mdtrt_id = :m AND feedetl_sn = 'C1'"
    with engine.connect() as conn:
        line = conn.execute(text(line_sql), {"m": visit_id(sid, 1)}).one()
    assert (line.fee_status, line.cnt) == ("active", Decimal("2.0000"))
    assert apply.position(engine, sid).gtid == "0-9-3"
    again = apply.apply_batch(engine, src, [*txns, apply.Txn("0-9-4", t0, [charge("delete", 2)])])
    assert (again.rows, again.skipped) == (1, 3)
    with engine.connect() as conn:
        line = conn.execute(text(line_sql), {"m": visit_id(sid, 1)}).one()
    assert (line.fee_status, line.cnt) == ("revoked", Decimal("2.0000"))
