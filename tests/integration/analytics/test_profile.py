"""GET /v1/persons/{psn_no}/profile: the data portrait, for fund managers only."""

from __future__ import annotations

from fastapi.testclient import TestClient

MANAGER = {"X-API-Key": "dev-manager-key"}
ANALYST = {"X-API-Key": "dev-analyst-key"}


def test_profile_has_visits_spend_chronic_flags_and_open_alerts(
    client: TestClient, factory, window
) -> None:
    p = factory.person(name="李四")
    factory.visit(p, begntime=window.at(2), diag="E11.9", lines=[("XA10BAA003", 2, "30.00")])
    factory.visit(p, begntime=window.at(3), diag="I10", lines=[("XC09AAA004", 1, "20.00")])
    factory.visit(
        p,
        med_type="inpatient",
        begntime=window.at(5),
        endtime=window.at(8),
        diag="J18.9",
        lines=[("S120100001", 1, "240.00")],
    )
    factory.visit(p, begntime=window.at(9), diag="J06.9", cancel=True)
    factory.visit(p, begntime=window.at(10, 9), lines=[("XA01BAA001", 5, "10.00")])
    run = client.post(
        "/v1/risk/run",
        headers=MANAGER,
        json={
            "from": str(window.date_from),
            "to": str(window.date_to),
            "rules": ["duplicate_charge"],
        },
    )
    assert run.status_code == 200

    r = client.get(f"/v1/persons/{p}/profile", headers=MANAGER)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["person"]["psn_name_masked"] == "李*"
    assert "certno" not in body["person"]
    assert body["visit_count"] == 5 and len(body["visits"]) == 5
    year = window.date_from.year
    spend = {(s["year"], s["med_type"]): s for s in body["spend_by_year_and_kind"]}
    assert spend[(year, "11")]["visits"] == 3  # the cancelled visit does not count
    assert spend[(year, "11")]["medfee_sumamt"] == "130.00"
    assert spend[(year, "21")]["medfee_sumamt"] == "240.00"  # national med_type codes
    assert body["chronic_conditions"] == {"diabetes": ["E11.9"], "hypertension": ["I10"]}
    assert [a["rule_code"] for a in body["open_alerts"]] == ["duplicate_charge"]
    assert body["engine"] in ("tikv", "tiflash", "mpp")


def test_profile_is_not_for_analysts(client: TestClient, factory) -> None:
    p = factory.person()
    assert client.get(f"/v1/persons/{p}/profile", headers=ANALYST).status_code == 403


def test_unknown_person_is_404(client: TestClient) -> None:
    r = client.get("/v1/persons/NOPE0000/profile", headers=MANAGER)
    assert r.status_code == 404
