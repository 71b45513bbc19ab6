"""T+0: a settlement committed through the API is in the next report and /v1/sql answer."""

from __future__ import annotations

import datetime as dt
import uuid

from fastapi.testclient import TestClient

from medhtap.services.settlement.identity import next_certno

HIS = {"X-API-Key": "dev-his-key"}
ADMIN = {"X-API-Key": "dev-admin-key"}  # registers persons
ANALYST = {"X-API-Key": "dev-analyst-key"}


def _visits(client: TestClient, today: dt.date) -> int:
    r = client.get(
        f"/v1/reports/cost?from={today}&to={today}&group_by=institution", headers=ANALYST
    )
    assert r.status_code == 200, r.text
    return sum(g["visits"] for g in r.json()["groups"] if g["fixmedins_code"] == "H11010000002")


def test_a_settlement_is_read_back_by_report_and_sql_right_after_commit(
    client: TestClient,
) -> None:
    certno = next_certno(dt.date(1980, 1, 1), "1")
    person = client.post(
        "/v1/persons",
        headers=ADMIN,
        json={
            "certno": certno,
            "psn_name": "孙七",
            "gend": "1",
            "brdy": "1980-01-01",
            "insutype": "310",
            "admdvs": "110100",
            "acct_balc": "500.00",
        },
    )
    assert person.status_code == 201, person.text
    psn_no = person.json()["psn_no"]
    now = dt.datetime.now().replace(microsecond=0)
    before = _visits(client, now.date())

    visit = client.post(
        "/v1/visits",
        headers=HIS,
        json={
            "psn_no": psn_no,
            "fixmedins_code": "H11010000002",
            "med_type": "outpatient",
            "dept_name": "Internal medicine",
            "begntime": now.isoformat(),
            "main_diag_code": "E11.9",
        },
    )
    assert visit.status_code == 201, visit.text
    mdtrt_id = visit.json()["mdtrt_id"]
    fees = client.post(
        f"/v1/visits/{mdtrt_id}/fees",
        headers=HIS,
        json={
            "lines": [
                {
                    "feedetl_sn": "1",
                    "item_code": "XA10BAA003",
                    "cnt": "2",
                    "pric": "30.00",
                    "fee_ocur_time": now.isoformat(),
                },
                {
                    "feedetl_sn": "2",
                    "item_code": "S110200001",
                    "cnt": "1",
                    "pric": "25.00",
                    "fee_ocur_time": now.isoformat(),
                },
            ]
        },
    )
    assert fees.status_code == 201, fees.text
    settled = client.post(
        f"/v1/visits/{mdtrt_id}/settlement",
        headers=HIS | {"Idempotency-Key": uuid.uuid4().hex},
        json={"use_account": True},
    )
    assert settled.status_code == 200, settled.text
    setl_id = settled.json()["setl_id"]

    # immediately after the commit returned: no copy job, no wait
    assert _visits(client, now.date()) == before + 1
    r = client.post(
        "/v1/sql",
        headers=ANALYST,
        json={
            "sql": "SELECT setl_status, medfee_sumamt, mdtrt_id FROM v_settlement "
            f"WHERE setl_id = '{setl_id}'"
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["rows"] == [["settled", "85.00", mdtrt_id]]
    assert r.json()["engine"] in ("tikv", "tiflash", "mpp")
