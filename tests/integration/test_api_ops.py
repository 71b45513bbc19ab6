"""Operational endpoints and the error contract, through HTTP on the real database."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, text

from medhtap.platform.settings import Settings
from medhtap.services.api import create_app
from medhtap.services.settlement.identity import next_certno

ADMIN = {"X-API-Key": "dev-admin-key"}
HIS = {"X-API-Key": "dev-his-key"}


def test_readyz_reports_the_engine_analytics_will_use(client: TestClient) -> None:
    r = client.get("/readyz")
    assert r.status_code == 200
    db = r.json()["database"]
    assert db["server"] == "tidb" and "TiDB" in db["version"]
    assert db["analytic_engine"] == ("tiflash" if db["tiflash_stores"] else "tikv")


def _attempts(client: TestClient, unit: str, outcome: str) -> float:
    r = client.get("/metrics")
    assert r.status_code == 200
    for family in text_string_to_metric_families(r.text):
        if family.name == "medhtap_txn_attempts":
            return sum(
                s.value
                for s in family.samples
                if s.name == "medhtap_txn_attempts_total"
                and s.labels == {"unit": unit, "outcome": outcome}
            )
    raise AssertionError("medhtap_txn_attempts_total is not exposed")


def test_metrics_count_each_committed_transaction(client: TestClient) -> None:
    before = _attempts(client, "person_create", "committed")
    r = client.post(
        "/v1/persons",
        headers=ADMIN,
        json={
            "certno": next_certno(dt.date(1970, 1, 1), "2"),
            "psn_name": "周八",
            "gend": "2",
            "brdy": "1970-01-01",
            "insutype": "390",
            "admdvs": "110100",
        },
    )
    assert r.status_code == 201, r.text
    assert _attempts(client, "person_create", "committed") == before + 1


def test_missing_and_unknown_api_keys_get_401_with_a_code(client: TestClient) -> None:
    r = client.get("/v1/persons/nobody")
    assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHORIZED"
    r = client.get("/v1/persons/nobody", headers={"X-API-Key": "guess"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHORIZED"


def test_openapi_documents_every_route_and_method(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    app = client.app
    routes = [r for r in app.routes if isinstance(r, APIRoute)]  # type: ignore[attr-defined]
    assert {"/healthz", "/readyz", "/metrics"} <= {r.path for r in routes}
    for route in routes:
        assert route.path in paths, route.path
        assert {m.lower() for m in route.methods} <= set(paths[route.path]), route.path


class TestEveryRequestHasAnId:
    def test_a_sane_client_id_is_echoed_and_put_in_error_bodies(self, client: TestClient) -> None:
        r = client.get("/v1/persons/nobody", headers={"X-Request-ID": "his-42.a:b"})
        assert r.headers["X-Request-ID"] == "his-42.a:b"
        assert r.json()["error"]["request_id"] == "his-42.a:b"

    @pytest.mark.parametrize("sent", [None, "", "x" * 65, "has space", "semi;colon"])
    def test_otherwise_the_server_makes_one(self, client: TestClient, sent: str | None) -> None:
        headers = ADMIN | ({"X-Request-ID": sent} if sent is not None else {})
        r1 = client.get("/healthz", headers=headers)
        r2 = client.get("/healthz", headers=headers)
        assert r1.status_code == 200
        ids = {r1.headers["X-Request-ID"], r2.headers["X-Request-ID"]}
        assert len(ids) == 2 and sent not in ids
        assert all(0 < len(i) <= 64 for i in ids)


class TestUnexpectedErrors:
    """The catch-all: any exception becomes the usual error body, never a traceback."""

    @pytest.fixture()
    def failing(self, settings: Settings) -> TestClient:
        app = create_app(settings)

        @app.get("/sync-boom")
        def sync_boom() -> None:
            raise RuntimeError("secret-sync-detail")

        @app.post("/async-boom")
        async def async_boom() -> None:
            raise KeyError("secret-async-detail")

        # raise_server_exceptions=True: an exception escaping the app would fail the test
        return TestClient(app, raise_server_exceptions=True)

    @pytest.mark.parametrize(("method", "path"), [("GET", "/sync-boom"), ("POST", "/async-boom")])
    def test_500_with_code_and_request_id_logged_with_the_traceback(
        self,
        failing: TestClient,
        caplog: pytest.LogCaptureFixture,
        method: str,
        path: str,
    ) -> None:
        with caplog.at_level(logging.ERROR, logger="medhtap.api"):
            r = failing.request(method, path, headers={"X-Request-ID": "req-500"})
        assert r.status_code == 500
        assert r.headers["content-type"] == "application/json"
        error = r.json()["error"]
        assert error["code"] == "INTERNAL" and error["request_id"] == "req-500"
        assert r.headers["X-Request-ID"] == "req-500"
        assert "secret" not in r.text and "Traceback" not in r.text
        logged = [rec for rec in caplog.records if "req-500" in rec.getMessage()]
        assert logged and logged[0].exc_info is not None
        assert "secret" in caplog.text and "Traceback" in caplog.text


class TestFrameworkErrorsUseTheErrorShape:
    def test_a_body_that_is_not_utf8_is_malformed_json(self, client: TestClient) -> None:
        r = client.post(
            "/v1/visits",
            headers=HIS | {"Content-Type": "application/json"},
            content=b'{"psn_no": "\xff\xfe"}',
        )
        assert r.status_code == 400
        assert r.json()["error"]["code"] == "MALFORMED_JSON"
        assert "detail" not in r.json()

    def test_a_body_that_is_not_json_is_malformed_json(self, client: TestClient) -> None:
        r = client.post(
            "/v1/visits", headers=HIS | {"Content-Type": "application/json"}, content=b"{"
        )
        assert r.status_code == 400 and r.json()["error"]["code"] == "MALFORMED_JSON"

    def test_unknown_path_and_method(self, client: TestClient) -> None:
        r = client.get("/v1/nothing-here", headers=HIS)
        assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"
        r = client.put("/v1/visits", headers=HIS)
        assert r.status_code == 405 and r.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
        assert "POST" in r.headers["Allow"]


def test_audit_rows_carry_the_request_id_the_answer_carries(
    client: TestClient, engine: Engine
) -> None:
    """Without an X-Request-ID header the generated id is the one audited (was NULL)."""
    body = {
        "certno": next_certno(dt.date(1980, 1, 1), "1"),
        "psn_name": "Audit Id",
        "gend": "1",
        "brdy": "1980-01-01",
        "insutype": "310",
        "admdvs": "110105",
        "acct_balc": "0.00",
    }
    r = client.post("/v1/persons", headers={"X-API-Key": "dev-admin-key"}, json=body)
    assert r.status_code == 201, r.text
    rid = r.headers["X-Request-ID"]
    with engine.connect() as conn:
        audited = conn.execute(
            text(
                "SELECT request_id FROM audit_log WHERE action = 'person_create' AND entity_id = :p"
            ),
            {"p": r.json()["psn_no"]},
        ).scalar_one()
    assert audited == rid
