"""What /openapi.json promises, and the inputs it documents, through HTTP on the real TiDB."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

HIS = {"X-API-Key": "dev-his-key"}
ANALYST = {"X-API-Key": "dev-analyst-key"}
MANAGER = {"X-API-Key": "dev-manager-key"}
ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}


@pytest.fixture(scope="module")
def doc(client: TestClient) -> dict[str, Any]:
    r = client.get("/openapi.json")
    assert r.status_code == 200
    return dict(r.json())


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(p, m, op) for p, ops in doc["paths"].items() for m, op in ops.items()]


class TestTheDocument:
    def test_every_error_answer_has_the_error_body_schema(self, doc: dict[str, Any]) -> None:
        assert {"ErrorBody", "ErrorDetail"} <= set(doc["components"]["schemas"])
        assert "HTTPValidationError" not in doc["components"]["schemas"]
        for path, method, op in _operations(doc):
            codes = {c: r for c, r in op["responses"].items() if int(c) >= 400}
            assert {"422", "500"} <= set(codes), (method, path)
            if "requestBody" in op:
                assert "MALFORMED_JSON" in codes["400"]["description"], (method, path)
            for code, response in codes.items():
                schema = response["content"]["application/json"]["schema"]
                assert schema == ERROR_REF, (method, path, code)

    def test_money_inputs_are_strings_with_a_pattern_that_refuses_empty(
        self, doc: dict[str, Any]
    ) -> None:
        props = doc["components"]["schemas"]["ReconcileIn"]["properties"]
        for field in ("medfee_sumamt", "hifp_pay", "acct_pay"):
            string = next(s for s in props[field]["anyOf"] if s["type"] == "string")
            assert re.search(string["pattern"], "12.30")
            assert not re.search(string["pattern"], "")
            assert not re.search(string["pattern"], "1e3")
        out = doc["components"]["schemas"]["SettlementOut"]["properties"]["hifp_pay"]
        assert out["type"] == "string" and re.search(out["pattern"], "-12.30")

    def test_idempotency_key_format_is_documented(self, doc: dict[str, Any]) -> None:
        op = doc["paths"]["/v1/visits/{mdtrt_id}/settlement"]["post"]
        (key,) = [p for p in op["parameters"] if p["name"] == "Idempotency-Key"]
        pattern = key["schema"]["pattern"]
        assert re.search(pattern, "a" * 128) and re.search(pattern, "k-1:~")
        assert not re.search(pattern, "a" * 129) and not re.search(pattern, "has space")

    def test_report_content_types_are_documented(self, doc: dict[str, Any]) -> None:
        cost = doc["paths"]["/v1/reports/cost"]["get"]["responses"]["200"]["content"]
        assert {"application/json", "text/csv", "text/html"} <= set(cost)
        sql = doc["paths"]["/v1/sql"]["post"]["responses"]["200"]["content"]
        assert {"application/json", "text/csv"} <= set(sql)


class TestDocumentedInputs:
    @pytest.mark.parametrize("amount", ["", " 1.00", "1e3", "1.001", 1.5, "١٢"])
    def test_money_outside_the_pattern_is_refused_with_422(
        self, client: TestClient, amount: Any
    ) -> None:
        body = {
            "fixmedins_code": "H11010000002",
            "stmt_date": "2026-01-02",
            "setl_cnt": 0,
            "medfee_sumamt": amount,
            "hifp_pay": "0.00",
            "acct_pay": 0,
        }
        r = client.post("/v1/reconciliation", headers=HIS, json=body)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "VALIDATION_FAILED"
        assert "medfee_sumamt" in r.json()["error"]["message"]

    def test_money_matching_the_pattern_or_a_whole_integer_is_accepted(
        self, client: TestClient
    ) -> None:
        body = {
            "fixmedins_code": "H11010000002",
            "stmt_date": "2026-01-03",
            "setl_cnt": 0,
            "medfee_sumamt": "0",
            "hifp_pay": "0.00",
            "acct_pay": 0,
        }
        r = client.post("/v1/reconciliation", headers=HIS, json=body)
        assert r.status_code == 200, r.text

    @pytest.mark.parametrize(
        "body",
        [
            {"from": 0.0},  # 1970-01-01: every rule over every settlement
            {"from": "1999-12-31", "to": "2000-06-30"},
            {"from": "2024-01-01", "to": "2025-01-01"},  # 367 days
        ],
    )
    def test_risk_run_window_is_bounded(self, client: TestClient, body: dict[str, Any]) -> None:
        r = client.post("/v1/risk/run", headers=MANAGER, json=body)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "INVALID_DATE_RANGE"

    def test_risk_run_accepts_a_year(self, client: TestClient) -> None:
        r = client.post(
            "/v1/risk/run", headers=MANAGER, json={"from": "2025-01-01", "to": "2025-12-31"}
        )
        assert r.status_code == 200, r.text

    def test_cost_report_before_2000_is_a_422_not_a_500(self, client: TestClient) -> None:
        r = client.get("/v1/reports/cost?from=0001-01-01&to=2000-01-01", headers=ANALYST)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "INVALID_DATE_RANGE"
