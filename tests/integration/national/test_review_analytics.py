"""Review results feed analytics (issue 14.3): the analyst account reads them through its
view, the violations report counts them by rule and by institution, and the fund risk rule
review_overridden raises an alert for an institution that continued past a forbidden one."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from .conftest import INST, HisClient, new_person

ANALYST = {"X-API-Key": "dev-analyst-key"}
MANAGER = {"X-API-Key": "dev-manager-key"}
NOW = dt.datetime.now().replace(microsecond=0)
TODAY = dt.date.today().isoformat()


def report(client: TestClient) -> dict[str, Any]:
    r = client.get(
        "/v1/reports/review-violations", params={"from": TODAY, "to": TODAY}, headers=ANALYST
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def cell(body: dict[str, Any], rule_id: str) -> dict[str, Any]:
    rows = [
        r
        for r in body["by_rule_and_institution"]
        if r["rule_id"] == rule_id and r["fixmedins_code"] == INST
    ]
    return rows[0] if rows else {"results": 0, "forbidden": 0, "continued": 0, "unhandled": 0}


def total(body: dict[str, Any], key: str, value: str) -> int:
    return next((int(r["results"]) for r in body[f"by_{key}"] if r[key_of(key)] == value), 0)


def key_of(key: str) -> str:
    return {"rule": "rule_id", "institution": "fixmedins_code"}[key]


class TestAnalystsCountViolations:
    def test_given_results_when_the_report_runs_then_it_counts_them_by_rule_and_institution(
        self, his: HisClient, client: TestClient
    ) -> None:
        before = report(client)
        psn_no = new_person(client)
        mdtrt_id = his.register(psn_no)
        lines = [
            ("F1", "S120100001", "1", "80.00", NOW),  # R004, forbidden
            ("F2", "XG04CAA011", "1", "40.00", NOW),  # R002, a man's drug for a woman
        ]
        his.ok("2204", his.fee_lines_at(mdtrt_id, psn_no, lines))
        results = his.review_fees(mdtrt_id)
        his.review_fees(mdtrt_id)  # a re-review adds no result
        forbidden = next(r for r in results if r["rule_id"] == "R004")
        his.handle(forbidden["jr_id"], "1", "ordered by the chief physician")

        after = report(client)
        r4, r4_before = cell(after, "R004"), cell(before, "R004")
        assert r4["results"] - r4_before["results"] == 1
        assert r4["forbidden"] - r4_before["forbidden"] == 1
        assert r4["continued"] - r4_before["continued"] == 1
        r2, r2_before = cell(after, "R002"), cell(before, "R002")
        assert r2["results"] - r2_before["results"] == 1
        assert r2["unhandled"] - r2_before["unhandled"] == 1
        assert total(after, "institution", INST) - total(before, "institution", INST) == 2
        assert total(after, "rule", "R004") - total(before, "rule", "R004") == 1
        assert after["engine"] in ("tikv", "tiflash", "mpp")

        csv = client.get(
            "/v1/reports/review-violations",
            params={"from": TODAY, "to": TODAY, "format": "csv"},
            headers=ANALYST,
        )
        assert csv.status_code == 200 and csv.text.startswith("rule_id,rule_name,fixmedins_code")

    def test_a_reversed_window_is_refused(self, client: TestClient) -> None:
        r = client.get(
            "/v1/reports/review-violations",
            params={"from": "2026-03-02", "to": "2026-03-01"},
            headers=ANALYST,
        )
        assert r.status_code == 422 and r.json()["error"]["code"] == "INVALID_DATE_RANGE"

    def test_the_analyst_account_reads_the_view_and_not_the_table(
        self, analyst_engine: Engine, client: TestClient
    ) -> None:
        with analyst_engine.connect() as conn:
            conn.execute(text("SELECT rule_id, COUNT(*) FROM v_review_result GROUP BY rule_id"))
            assert conn.execute(text("SELECT COUNT(*) FROM v_review_rule")).scalar() >= 6
            with pytest.raises(DBAPIError) as err:
                conn.execute(text("SELECT * FROM review_result LIMIT 1"))
        assert err.value.orig.args[0] == 1142
        sql = (
            "SELECT rule_id, fixmedins_code, COUNT(*) AS n FROM v_review_result "
            "GROUP BY rule_id, fixmedins_code"
        )
        r = client.post("/v1/sql", headers=ANALYST, json={"sql": sql})
        assert r.status_code == 200, r.text


class TestResultsFeedFundRisk:
    def test_an_institution_continuing_a_forbidden_result_raises_review_overridden(
        self, his: HisClient, client: TestClient
    ) -> None:
        psn_no = new_person(client)
        mdtrt_id = his.register(psn_no)
        his.ok(
            "2204", his.fee_lines_at(mdtrt_id, psn_no, [("F1", "S120100001", "1", "80.00", NOW)])
        )
        (res,) = his.review_fees(mdtrt_id)
        his.handle(res["jr_id"], "1", "ordered by the chief physician")

        run = client.post(
            "/v1/risk/run",
            headers=MANAGER,
            json={"from": TODAY, "to": TODAY, "rules": ["review_overridden"]},
        )
        assert run.status_code == 200, run.text
        alerts = client.get(
            "/v1/risk/alerts", params={"rule": "review_overridden"}, headers=MANAGER
        ).json()["alerts"]
        mine = [a for a in alerts if a["fixmedins_code"] == INST]
        assert len(mine) == 1
        month, examples = mine[0]["evidence"]
        assert month["forbidden"] >= 1
        assert res["jr_id"] in {e["jr_id"] for e in examples}
