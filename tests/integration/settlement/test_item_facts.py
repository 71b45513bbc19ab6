"""Item facts (setl_item_fact) written by 2207/2208 in the settlement's own transaction:
one row per item of the settled lines, summed, with the settlement's group keys."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

from medhtap.services.settlement import facts

from .conftest import EXAMPLE_LINES, Factory
from .test_facts import cancel, stored_facts

KEYS = ("setl_id", "sign", "item_code", "setl_time", "det_item_fee_sumamt", "cnt")


def stored_items(factory: Factory, setl_id: str) -> list[dict[str, Any]]:
    rows = factory.rows(
        "SELECT * FROM setl_item_fact WHERE setl_id = :s ORDER BY sign DESC, item_code",
        s=setl_id,
    )
    return [dict(r._mapping) for r in rows]


def from_fee_lines(factory: Factory, setl_id: str) -> list[tuple[Any, ...]]:
    """The item sums, recomputed from the settled fee lines with SQL (not the pure function)."""
    rows = factory.rows(
        "SELECT s.setl_id, 1, fd.item_code, s.setl_time, SUM(fd.det_item_fee_sumamt), "
        "SUM(fd.cnt) FROM fee_detail fd JOIN settlement s ON s.setl_id = fd.setl_id "
        "WHERE fd.setl_id = :s AND fd.fee_status = 'settled' "
        "GROUP BY s.setl_id, fd.item_code, s.setl_time ORDER BY fd.item_code",
        s=setl_id,
    )
    return [tuple(r) for r in rows]


def period_items(factory: Factory, setl_time: Any) -> dict[str, tuple[D, D]]:
    """The day's item sums over every item fact (what the top items read)."""
    rows = factory.rows(
        "SELECT item_code, SUM(det_item_fee_sumamt), SUM(cnt) FROM setl_item_fact "
        "WHERE setl_time >= DATE(:t) AND setl_time < DATE(:t) + INTERVAL 1 DAY "
        "GROUP BY item_code",
        t=setl_time,
    )
    return {r[0]: (D(r[1]), D(r[2])) for r in rows}


class TestItemFactsOfAnHttpSettlement:
    def test_they_equal_the_sums_of_its_fee_lines_with_the_facts_group_keys(
        self, factory: Factory
    ) -> None:
        psn = factory.person("310", "100.00", gend="2", brdy="1950-01-01")
        visit = factory.visit(psn)
        # TST-DRUG-A twice: its two lines become one item fact
        factory.fees(visit, [*EXAMPLE_LINES, ("TST-DRUG-A", "3", "35.50")])
        r = factory.settle(visit)
        assert r.status_code == 200, r.text
        setl_id = r.json()["setl_id"]
        items = stored_items(factory, setl_id)
        assert [tuple(i[k] for k in KEYS) for i in items] == from_fee_lines(factory, setl_id)
        drug_a = next(i for i in items if i["item_code"] == "TST-DRUG-A")
        assert (drug_a["det_item_fee_sumamt"], drug_a["cnt"]) == (D("177.50"), D("5"))
        assert sum(i["det_item_fee_sumamt"] for i in items) == D(r.json()["medfee_sumamt"])
        [fact] = stored_facts(factory, visit)
        for i in items:
            assert {k: i[k] for k in facts.ITEM_KEYS} == {k: fact[k] for k in facts.ITEM_KEYS}

    def test_a_cancel_drops_the_periods_item_sums_by_exactly_its_lines(
        self, factory: Factory
    ) -> None:
        psn = factory.person("310", "500.00")
        visit = factory.visit(psn)
        factory.fees(visit, EXAMPLE_LINES)
        setl = factory.settle(visit).json()
        lines = {
            code: (amount, cnt)
            for _, _, code, _, amount, cnt in from_fee_lines(factory, setl["setl_id"])
        }
        [plus] = stored_facts(factory, visit)
        before = period_items(factory, plus["setl_time"])
        assert cancel(factory, setl["setl_id"]).status_code == 200
        after = period_items(factory, plus["setl_time"])
        zero = (D(0), D(0))
        assert {
            code: (
                before[code][0] - after.get(code, zero)[0],
                before[code][1] - after.get(code, zero)[1],
            )
            for code in before
            if before[code] != after.get(code, zero)
        } == lines
        # the -1 rows: the +1 rows negated, same setl_time (same partition, same groups)
        items = stored_items(factory, setl["setl_id"])
        plus_rows = [i for i in items if i["sign"] == 1]
        minus_rows = [i for i in items if i["sign"] == -1]
        assert minus_rows == facts.reversal_items(plus_rows)
        assert all(m["setl_time"] == plus["setl_time"] for m in minus_rows)
