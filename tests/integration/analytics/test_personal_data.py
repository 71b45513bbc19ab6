"""Personal data by design (issue 11.5): per-role person views, audited non-HIS reads,
and no personal data or analyst SQL text in the logs."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from medhtap.services.settlement.identity import next_certno

ADMIN = {"X-API-Key": "dev-admin-key"}
HIS = {"X-API-Key": "dev-his-key"}
ANALYST = {"X-API-Key": "dev-analyst-key"}
MANAGER = {"X-API-Key": "dev-manager-key"}


@pytest.fixture
def person(client: TestClient) -> dict[str, Any]:
    certno = next_certno(dt.date(1980, 5, 17), "1")
    body = {
        "certno": certno,
        "psn_name": "欧阳明华",
        "gend": "1",
        "brdy": "1980-05-17",
        "insutype": "310",
        "admdvs": "110100",
    }
    r = client.post("/v1/persons", headers=ADMIN, json=body)
    assert r.status_code == 201, r.text
    return body | {"psn_no": r.json()["psn_no"]}


def _audits(engine: Engine, psn_no: str) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT actor, action, detail, request_id, created_at FROM audit_log "
                    "WHERE entity = 'person' AND entity_id = :p AND action = 'person_read' "
                    "ORDER BY created_at"
                ),
                {"p": psn_no},
            )
        )


class TestPersonViewPerRole:
    def test_a_manager_gets_surname_and_birth_year_beside_the_masked_number(
        self, client: TestClient, person: dict[str, Any]
    ) -> None:
        r = client.get(f"/v1/persons/{person['psn_no']}", headers=MANAGER)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["psn_name"] == "欧*"
        assert body["brdy"] is None and body["birth_year"] == 1980
        assert body["certno"] == person["certno"][:6] + "********" + person["certno"][-4:]
        assert "0517" not in str(body)  # the birth day cannot be rebuilt from the answer

    def test_his_gets_name_and_birth_date_with_the_masked_number(
        self, client: TestClient, person: dict[str, Any]
    ) -> None:
        body = client.get(f"/v1/persons/{person['psn_no']}", headers=HIS).json()
        assert body["psn_name"] == "欧阳明华" and body["brdy"] == "1980-05-17"
        assert body["certno"] != person["certno"] and body["certno"].endswith(person["certno"][-4:])

    def test_admin_gets_everything(self, client: TestClient, person: dict[str, Any]) -> None:
        body = client.get(f"/v1/persons/{person['psn_no']}", headers=ADMIN).json()
        assert (body["certno"], body["psn_name"], body["brdy"]) == (
            person["certno"],
            "欧阳明华",
            "1980-05-17",
        )


class TestAudit:
    def test_every_non_his_read_of_a_person_is_audited(
        self, client: TestClient, engine: Engine, person: dict[str, Any]
    ) -> None:
        psn = person["psn_no"]
        assert _audits(engine, psn) == []
        assert client.get(f"/v1/persons/{psn}", headers=HIS).status_code == 200
        assert _audits(engine, psn) == []  # the treating institution's reads are not
        rid = uuid.uuid4().hex
        r = client.get(f"/v1/persons/{psn}", headers=MANAGER | {"X-Request-ID": rid})
        assert r.status_code == 200
        assert client.get(f"/v1/persons/{psn}", headers=ADMIN).status_code == 200
        assert client.get(f"/v1/persons/{psn}/profile", headers=MANAGER).status_code == 200
        r = client.get(f"/v1/risk/alerts?psn_no={psn}", headers=ANALYST)
        assert r.status_code == 200
        rows = _audits(engine, psn)
        seen = [(a.actor, _detail(a.detail)["route"]) for a in rows]
        assert seen == [
            ("manager", "GET /v1/persons/{psn_no}"),
            ("admin", "GET /v1/persons/{psn_no}"),
            ("manager", "GET /v1/persons/{psn_no}/profile"),
            ("analyst", "GET /v1/risk/alerts"),
        ]
        assert rows[0].request_id == rid and all(a.created_at for a in rows)


def _detail(value: Any) -> dict[str, Any]:
    import json

    return value if isinstance(value, dict) else json.loads(value)


class TestLogs:
    def test_analyst_sql_and_person_reads_leave_no_personal_data_in_the_log(
        self, client: TestClient, person: dict[str, Any], caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG)
        sql = (
            "SELECT psn_no FROM v_person WHERE certno_masked LIKE "
            f"'{person['certno'][:6]}%' AND psn_no = '{person['psn_no']}' "
            "AND psn_name_masked <> '欧阳明华'"
        )
        r = client.post("/v1/sql", headers=ANALYST, json={"sql": sql})
        assert r.status_code == 200, r.text
        client.get(f"/v1/persons/{person['psn_no']}", headers=MANAGER)
        logged = "\n".join(rec.getMessage() for rec in caplog.records)
        assert "analyst sql" in logged  # the query is logged, as a fingerprint
        for secret in ("欧阳明华", person["certno"], "v_person WHERE", "1980-05-17"):
            assert secret not in logged


class TestOverlongPersonNumber:
    """A psn_no longer than the column is refused before the audit write (was a 500: the
    audit row's entity_id is 64 characters)."""

    @pytest.mark.parametrize("route", ["/v1/risk/alerts?psn_no={}", "/v1/persons/{}/profile"])
    def test_is_a_422_not_a_500(self, client: TestClient, route: str) -> None:
        r = client.get(route.format("a" * 65), headers=MANAGER)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "VALIDATION_FAILED"
