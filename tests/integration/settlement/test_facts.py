"""Analytic facts (setl_fact) written by 2207/2208 in the settlement's own transaction."""

from __future__ import annotations

import uuid
from decimal import Decimal as D
from typing import Any

from sqlalchemy import text

from medhtap.services.settlement import facts

from .conftest import EXAMPLE_LINES, HIS, Factory


def stored_facts(factory: Factory, mdtrt_id: str) -> list[dict[str, Any]]:
    rows = factory.rows(
        "SELECT * FROM setl_fact WHERE mdtrt_id = :m ORDER BY recorded_at", m=mdtrt_id
    )
    return [dict(r._mapping) for r in rows]


def recomputed(factory: Factory, setl_id: str) -> dict[str, Any]:
    """The fact, recomputed from the base tables: the settlement, its visit and person, and
    the fee lines it settled with their catalog kinds."""
    with factory.engine.connect() as conn:
        setl = conn.execute(
            text("SELECT * FROM settlement WHERE setl_id = :s"), {"s": setl_id}
        ).one()
        visit = conn.execute(
            text("SELECT * FROM visit WHERE mdtrt_id = :m"), {"m": setl.mdtrt_id}
        ).one()
        person = conn.execute(
            text("SELECT * FROM insured_person WHERE psn_no = :p"), {"p": setl.psn_no}
        ).one()
        diag = conn.execute(
            text("SELECT block, chapter FROM diagnosis WHERE diag_code = :d"),
            {"d": visit.main_diag_code},
        ).one()
        lines = conn.execute(
            text(
                "SELECT ci.item_kind, fd.det_item_fee_sumamt FROM fee_detail fd "
                "JOIN catalog_item ci ON ci.item_code = fd.item_code "
                "WHERE fd.mdtrt_id = :m AND fd.setl_id = :s AND fd.fee_status = 'settled'"
            ),
            {"m": setl.mdtrt_id, "s": setl_id},
        ).all()
    return facts.settlement_fact(
        setl._mapping,
        visit._mapping,
        person._mapping,
        facts.Diag(diag.block, diag.chapter),
        [(r.item_kind, r.det_item_fee_sumamt) for r in lines],
    )


def cancel(factory: Factory, setl_id: str) -> Any:
    return factory.client.post(
        f"/v1/settlements/{setl_id}/cancel", headers={**HIS, "Idempotency-Key": uuid.uuid4().hex}
    )


class TestFactsOfAnHttpSettlement:
    def test_the_fact_equals_the_one_recomputed_from_its_fee_lines(self, factory: Factory) -> None:
        psn = factory.person("310", "100.00", gend="2", brdy="1950-01-01")
        visit = factory.visit(psn)
        factory.fees(visit, EXAMPLE_LINES)
        r = factory.settle(visit)
        assert r.status_code == 200, r.text
        setl_id = r.json()["setl_id"]
        [fact] = stored_facts(factory, visit)
        assert fact == recomputed(factory, setl_id)
        # the worked example's lines: drugs 71.00 + 120.00, one exam, one material
        assert (fact["drug_amt"], fact["service_amt"], fact["material_amt"]) == (
            D("191.00"),
            D("200.00"),
            D("50.00"),
        )
        assert fact["medfee_sumamt"] == D(r.json()["medfee_sumamt"])
        assert (fact["sign"], fact["gend"], fact["age_band"], fact["diag_chapter"]) == (
            1,
            "2",
            "70-79",
            "IV",
        )

    def test_a_cancel_adds_the_negated_fact_and_a_resettlement_a_new_one(
        self, factory: Factory
    ) -> None:
        psn = factory.person("310", "500.00")
        visit = factory.visit(psn)
        factory.fees(visit, EXAMPLE_LINES)
        first = factory.settle(visit).json()
        assert cancel(factory, first["setl_id"]).status_code == 200
        factory.fees(visit, [("TST-A", "1", "10.00")], start=10)
        second = factory.settle(visit).json()

        rows = stored_facts(factory, visit)
        assert [(f["setl_id"], f["sign"]) for f in rows] == [
            (first["setl_id"], 1),
            (first["setl_id"], -1),
            (second["setl_id"], 1),
        ]
        plus, minus, again = rows
        assert minus["rev_setl_id"] is not None and minus["setl_time"] == plus["setl_time"]
        for k in facts.SUMS:
            assert minus[k] == -plus[k]
        assert {k: minus[k] for k in facts.DIMENSIONS} == {k: plus[k] for k in facts.DIMENSIONS}
        assert again == recomputed(factory, second["setl_id"])
        # only the second settlement stands: the cancel cleared its +1 fact's flag
        assert [f["standing"] for f in rows] == [0, 0, 1]
        # what stands: the second settlement only, exactly
        net = factory.scalar(
            "SELECT SUM(medfee_sumamt) FROM setl_fact WHERE mdtrt_id = :m", m=visit
        )
        assert net == D(second["medfee_sumamt"]) == D("451.00")  # 441.00 + the new 10.00
