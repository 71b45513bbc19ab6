"""Operational endpoints and the error contract, through HTTP on the real database."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_readyz_reports_the_engine_analytics_will_use(client: TestClient) -> None:
    r = client.get("/readyz")
    assert r.status_code == 200
    db = r.json()["database"]
    assert db["server"] == "tidb" and "TiDB" in db["version"]
    assert db["analytic_engine"] == ("tiflash" if db["tiflash_stores"] else "tikv")


def test_metrics_are_exposed_for_prometheus(client: TestClient) -> None:
    r = client.get("/metrics")
    assert r.status_code == 200
    assert "medhtap_txn_attempts_total" in r.text


def test_missing_and_unknown_api_keys_get_401_with_a_code(client: TestClient) -> None:
    r = client.get("/v1/persons/nobody")
    assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHORIZED"
    r = client.get("/v1/persons/nobody", headers={"X-API-Key": "guess"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHORIZED"


def test_openapi_lists_the_api(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/readyz" in paths
