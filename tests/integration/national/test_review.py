"""Review through the envelope (issue 14.3): each seeded rule fires through 3102 on a case
built for it and stays silent on its near miss; 2207 is blocked by a forbidden result
until 3103 continues it; a rule row changed in the table applies once the reference cache
(services/settlement/reference.py, which keeps the rules MEDHTAP_REFERENCE_CACHE_S seconds)
is cleared or its bound has passed, and not before."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from medhtap.services.settlement import reference

from .conftest import HisClient, new_person, scalar

NOW = dt.datetime.now().replace(microsecond=0)
HIS_KEY = {"X-API-Key": "dev-his-key"}


def days_ago(n: int) -> dt.datetime:
    return NOW - dt.timedelta(days=n)


def fired(results: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """(rule_id, the lines each detail row names) of every result."""
    return [
        (r["rule_id"], [d["feedetl_sn"] for d in r["judge_result_detail_dtos"]]) for r in results
    ]


def visit_with(
    his: HisClient, psn_no: str, lines: list[tuple[str, str, str, str, dt.datetime]]
) -> str:
    mdtrt_id = his.register(psn_no)
    his.ok("2204", his.fee_lines_at(mdtrt_id, psn_no, lines))
    return mdtrt_id


@pytest.fixture
def rule_row(engine: Engine) -> Iterator[Any]:
    """Change a review_rule row for one test (the cache is cleared after the change unless
    asked not to, as an operator does for a change that must count at once); the seeded
    row is put back afterwards."""
    saved: dict[str, Any] = {}

    def change(rule_id: str, *, clear: bool = True, **values: Any) -> None:
        with engine.begin() as conn:
            if rule_id not in saved:
                saved[rule_id] = conn.execute(
                    text("SELECT sev_deg, params FROM review_rule WHERE rule_id = :r"),
                    {"r": rule_id},
                ).one()
            sets = ", ".join(f"{k} = :{k}" for k in values)
            params = {k: json.dumps(v) if k == "params" else v for k, v in values.items()}
            conn.execute(
                text(f"UPDATE review_rule SET {sets} WHERE rule_id = :r"), params | {"r": rule_id}
            )
        if clear:
            reference.clear()

    yield change
    with engine.begin() as conn:
        for rule_id, (sev, params) in saved.items():
            conn.execute(
                text("UPDATE review_rule SET sev_deg = :s, params = :p WHERE rule_id = :r"),
                {"s": sev, "p": params, "r": rule_id},
            )
    reference.clear()


class TestEachRuleThrough3102:
    def test_r001_quantity_per_day_above_the_catalog_limit(
        self, his: HisClient, client: TestClient
    ) -> None:
        psn_no = new_person(client)
        over = visit_with(
            his,
            psn_no,
            [("F1", "XA10BAA003", "2", "30.00", NOW), ("F2", "XA10BAA003", "2", "30.00", NOW)],
        )
        (res,) = his.review_fees(over)
        assert (res["rule_id"], res["sev_deg"], res["vola_amt"]) == ("R001", "2", "30.00")
        assert fired([res]) == [("R001", ["F1", "F2"])]
        at_limit = visit_with(his, psn_no, [("F1", "XA01BAA001", "4", "5.00", NOW)])  # limit 4
        assert his.review_fees(at_limit) == []

    def test_r002_gender_restriction(self, his: HisClient, client: TestClient) -> None:
        psn_no = new_person(client)  # a woman
        male_only = visit_with(his, psn_no, [("F1", "XG04CAA011", "1", "40.00", NOW)])
        assert fired(his.review_fees(male_only)) == [("R002", ["F1"])]
        female_only = visit_with(his, psn_no, [("F1", "XG03DAA010", "1", "40.00", NOW)])
        assert his.review_fees(female_only) == []

    def test_r003_the_same_exam_twice_on_one_day(self, his: HisClient, client: TestClient) -> None:
        psn_no = new_person(client)
        twice = visit_with(
            his,
            psn_no,
            [("F1", "S250100001", "1", "20.00", NOW), ("F2", "S250100001", "1", "20.00", NOW)],
        )
        assert fired(his.review_fees(twice)) == [("R003", ["F1", "F2"])]
        two_days = visit_with(
            his,
            psn_no,
            [
                ("F1", "S250100001", "1", "20.00", days_ago(1)),
                ("F2", "S250100001", "1", "20.00", NOW),
            ],
        )
        assert his.review_fees(two_days) == []

    def test_r004_a_ward_bed_on_an_outpatient_visit(
        self, his: HisClient, client: TestClient
    ) -> None:
        psn_no = new_person(client)
        outpatient = visit_with(his, psn_no, [("F1", "S120100001", "1", "80.00", NOW)])
        (res,) = his.review_fees(outpatient)
        assert (res["rule_id"], res["sev_deg"], res["vola_bhvr_type"]) == ("R004", "1", "1")
        assert res["vola_amt"] == "80.00" and res["mdtrt_id"] == outpatient
        assert res["vola_cont"] and res["vola_evid"] and res["jr_id"]
        stay = his.admit(psn_no)
        his.ok("2204", his.fee_lines_at(stay, psn_no, [("F1", "S120100001", "1", "80.00", NOW)]))
        assert his.review_fees(stay) == []

    def test_r005_a_ct_again_within_seven_days(self, his: HisClient, client: TestClient) -> None:
        psn_no = new_person(client)
        visit_with(his, psn_no, [("F1", "S210300001", "1", "300.00", days_ago(10))])
        eight_days_on = visit_with(his, psn_no, [("F1", "S210300001", "1", "300.00", days_ago(2))])
        assert his.review_fees(eight_days_on) == []
        three_days_on = visit_with(
            his, psn_no, [("F1", "S210300001", "1", "300.00", NOW - dt.timedelta(days=0, hours=1))]
        )
        assert fired(his.review_fees(three_days_on)) == [("R005", ["F1"])]

    def test_r006_metformin_while_an_earlier_box_still_supplies(
        self, his: HisClient, client: TestClient
    ) -> None:
        psn_no = new_person(client)
        visit_with(his, psn_no, [("F1", "XA10BAA003", "1", "30.00", days_ago(40))])  # ran out
        silent = visit_with(his, psn_no, [("F1", "XA10BAA003", "2", "30.00", days_ago(10))])
        assert his.review_fees(silent) == []
        overlap = visit_with(his, psn_no, [("F1", "XA10BAA003", "1", "30.00", NOW)])
        (res,) = his.review_fees(overlap)
        assert res["rule_id"] == "R006" and res["vola_amt"] == "30.00"  # 50 days left


class TestSettlementGate:
    def test_given_a_forbidden_result_then_2207_is_blocked_until_3103_continues_it(
        self, his: HisClient, client: TestClient, engine: Engine
    ) -> None:
        psn_no = new_person(client)
        mdtrt_id = visit_with(
            his,
            psn_no,
            [("F1", "S120100001", "1", "80.00", NOW), ("F2", "XA10BAA003", "1", "30.00", NOW)],
        )
        msgid = his.new_msgid()
        answer = his.call("2207", his.settle_data(mdtrt_id, psn_no), msgid)  # no 3102 first
        assert answer["infcode"] == -1 and answer["err_msg"].startswith("REVIEW_BLOCKED:")
        details = answer["output"]["details"]
        (blocking,) = details["blocking"]
        assert [r["rule_id"] for r in details["result"]] == ["R004"]
        assert details["result"][0]["jr_id"] == blocking
        assert (
            scalar(engine, "SELECT vis_status FROM visit WHERE mdtrt_id = :m", m=mdtrt_id) == "open"
        )
        assert (
            scalar(engine, "SELECT COUNT(*) FROM settlement WHERE mdtrt_id = :m", m=mdtrt_id) == 0
        )
        # kept although the settlement rolled back: 3103 can name it
        assert (
            scalar(engine, "SELECT rule_id FROM review_result WHERE jr_id = :j", j=blocking)
            == "R004"
        )

        his.fails("3103", {"data": {"warn_rslt_id": blocking, "dspo_way": "1"}}, "INVALID_DSPO_WAY")
        his.fails(
            "3103", {"data": {"warn_rslt_id": "nope", "dspo_way": "2"}}, "REVIEW_RESULT_NOT_FOUND"
        )
        his.handle(blocking, "2")  # "we will change it": still blocks while the line stays
        his.fails("2207", his.settle_data(mdtrt_id, psn_no), "REVIEW_BLOCKED", msgid)
        (done,) = his.handle(blocking, "1", "day-care bed ordered by the chief physician")
        assert done["warn_rslt_id"] == blocking and done["dspo_way"] == "1"

        setl = his.ok("2207", his.settle_data(mdtrt_id, psn_no), msgid)["setlinfo"]  # same msgid
        assert setl["medfee_sumamt"] == "110.00"
        row = _result(engine, blocking)
        assert (row["dspo_way"], row["dspo_way_rea"]) == (
            "1",
            "day-care bed ordered by the chief physician",
        )
        assert (
            scalar(engine, "SELECT COUNT(*) FROM review_result WHERE mdtrt_id = :m", m=mdtrt_id)
            == 1
        )

    def test_a_warning_does_not_block_and_stays_with_its_handling(
        self, his: HisClient, client: TestClient, engine: Engine
    ) -> None:
        psn_no = new_person(client)
        mdtrt_id = visit_with(his, psn_no, [("F1", "XG04CAA011", "1", "40.00", NOW)])
        (warn,) = his.review_fees(mdtrt_id)
        his.handle(warn["jr_id"], "1", "prescribed for the husband, paid by the person")
        again = his.review_fees(mdtrt_id)  # a re-review finds the same, handled result
        assert [(r["jr_id"], r["dspo_way"]) for r in again] == [(warn["jr_id"], "1")]
        his.ok("2207", his.settle_data(mdtrt_id, psn_no))
        assert _result(engine, warn["jr_id"])["dspo_way"] == "1"
        assert (
            scalar(engine, "SELECT COUNT(*) FROM review_result WHERE mdtrt_id = :m", m=mdtrt_id)
            == 1
        )

    def test_the_rest_settlement_route_is_gated_too(
        self, client: TestClient, his: HisClient
    ) -> None:
        psn_no = new_person(client)
        mdtrt_id = visit_with(his, psn_no, [("F1", "S120100001", "1", "80.00", NOW)])
        r = client.post(
            f"/v1/visits/{mdtrt_id}/settlement",
            headers={**HIS_KEY, "Idempotency-Key": uuid.uuid4().hex},
            json={},
        )
        assert r.status_code == 409 and r.json()["error"]["code"] == "REVIEW_BLOCKED"
        assert r.json()["error"]["details"]["result"][0]["rule_id"] == "R004"


class TestRulesAreData:
    def test_a_changed_parameter_applies_without_a_code_change(
        self, his: HisClient, client: TestClient, rule_row: Any
    ) -> None:
        psn_no = new_person(client)
        mdtrt_id = visit_with(
            his,
            psn_no,
            [("F1", "S250100001", "1", "20.00", NOW), ("F2", "S250100001", "1", "20.00", NOW)],
        )
        assert [r["rule_id"] for r in his.review_fees(mdtrt_id)] == ["R003"]
        rule_row("R003", params={"max_per_day": 2, "item_kinds": ["service"]})
        assert his.review_fees(mdtrt_id) == []

    def test_within_the_cache_bound_the_rules_read_before_the_change_apply(
        self, his: HisClient, client: TestClient, rule_row: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The documented trade, as for policies: a TTL of an hour makes "within" certain."""
        monkeypatch.setattr(reference.CACHE, "_ttl_s", 3600.0)
        psn_no = new_person(client)
        mdtrt_id = visit_with(his, psn_no, [("F1", "S120100001", "1", "80.00", NOW)])
        his.fails("2207", his.settle_data(mdtrt_id, psn_no), "REVIEW_BLOCKED")  # R004 forbids
        rule_row("R004", clear=False, sev_deg=2)
        his.fails("2207", his.settle_data(mdtrt_id, psn_no), "REVIEW_BLOCKED")
        reference.clear()
        his.ok("2207", his.settle_data(mdtrt_id, psn_no))

    def test_with_the_cache_off_a_changed_rule_applies_at_once(
        self, his: HisClient, client: TestClient, rule_row: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(reference.CACHE, "_ttl_s", 0.0)
        psn_no = new_person(client)
        mdtrt_id = visit_with(his, psn_no, [("F1", "S120100001", "1", "80.00", NOW)])
        his.fails("2207", his.settle_data(mdtrt_id, psn_no), "REVIEW_BLOCKED")
        rule_row("R004", clear=False, sev_deg=2)
        his.ok("2207", his.settle_data(mdtrt_id, psn_no))

    def test_a_warning_made_forbidden_in_the_table_blocks_settlement(
        self, his: HisClient, client: TestClient, rule_row: Any
    ) -> None:
        psn_no = new_person(client)
        mdtrt_id = visit_with(his, psn_no, [("F1", "XA10BAA003", "4", "30.00", NOW)])
        rule_row("R001", sev_deg=1)
        his.fails("2207", his.settle_data(mdtrt_id, psn_no), "REVIEW_BLOCKED")
        rule_row("R001", params={"tolerance": "1"})  # 4 units with a limit of 3 + 1: fine
        his.ok("2207", his.settle_data(mdtrt_id, psn_no))

    def test_a_disabled_rule_is_silent(
        self, his: HisClient, client: TestClient, engine: Engine
    ) -> None:
        psn_no = new_person(client)
        mdtrt_id = visit_with(his, psn_no, [("F1", "S120100001", "1", "80.00", NOW)])
        with engine.begin() as conn:
            conn.execute(text("UPDATE review_rule SET enabled = 0 WHERE rule_id = 'R004'"))
        reference.clear()
        try:
            assert his.review_fees(mdtrt_id) == []
        finally:
            with engine.begin() as conn:
                conn.execute(text("UPDATE review_rule SET enabled = 1 WHERE rule_id = 'R004'"))
            reference.clear()


class TestPrePrescription:
    def test_3101_reviews_orders_before_they_are_uploaded(
        self, his: HisClient, client: TestClient, engine: Engine
    ) -> None:
        psn_no = new_person(client)
        mdtrt_id = his.register(psn_no)
        results = his.review_orders(
            psn_no,
            mdtrt_id,
            [("RX1", "S120100001", "1", "80.00"), ("RX2", "XA10BAA003", "1", "30.00")],
        )
        (res,) = results
        assert res["rule_id"] == "R004" and res["sev_deg"] == "1"
        assert [d["rx_id"] for d in res["judge_result_detail_dtos"]] == ["RX1"]
        assert (
            scalar(engine, "SELECT stage FROM review_result WHERE jr_id = :j", j=res["jr_id"])
            == "pre"
        )
        # the handling of a pre-prescription result is recorded like any other
        his.handle(res["jr_id"], "2", "bed order withdrawn")
        assert his.review_orders(psn_no, mdtrt_id, [("RX2", "XA10BAA003", "1", "30.00")]) == []

    def test_3101_refuses_unknown_items(self, his: HisClient, client: TestClient) -> None:
        psn_no = new_person(client)
        mdtrt_id = his.register(psn_no)
        patient = {
            "patn_id": psn_no,
            "fsi_encounter_dtos": [
                {
                    "mdtrt_id": mdtrt_id,
                    "fsi_order_dtos": [
                        {"rx_id": "1", "hilist_code": "NOPE", "cnt": "1", "pric": "1"}
                    ],
                }
            ],
        }
        his.fails("3101", {"data": {"patient_dtos": [patient]}}, "UNKNOWN_ITEM")


def _result(engine: Engine, jr_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM review_result WHERE jr_id = :j"), {"j": jr_id}).one()
    return dict(row._mapping)
