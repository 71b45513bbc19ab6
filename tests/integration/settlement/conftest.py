"""Fixtures and factories for the settlement tests: catalog items with exactly the
properties the worked examples need, and helpers that create persons, visits and fees
through the HTTP API (so every test also exercises the routes)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.dialects.mysql import insert

from medhtap.schema.person import PersonYearAccumulator
from medhtap.schema.reference import CatalogItem, Institution
from medhtap.services.settlement.identity import next_certno

ADMIN = {"X-API-Key": "dev-admin-key"}
HIS = {"X-API-Key": "dev-his-key"}
L3 = "H11010000001"  # City First Hospital, level 3
L2 = "H11010500003"  # District Two Hospital, level 2
L1 = "H11010800004"
RECON = "HTEST00RECON"  # only the reconciliation tests settle here, so its day totals are exact

TEST_ITEMS: list[dict[str, Any]] = [
    # worked examples 1 and 2
    {"item_code": "TST-DRUG-A", "item_kind": "drug", "chrgitm_lv": "A"},
    {
        "item_code": "TST-DRUG-B",
        "item_kind": "drug",
        "chrgitm_lv": "B",
        "selfpay_prop": Decimal("0.10"),
        "pric_uplmt_amt": Decimal("100.00"),
    },
    {"item_code": "TST-EXAM-A", "item_kind": "service", "chrgitm_lv": "A"},
    {"item_code": "TST-MAT-C", "item_kind": "material", "chrgitm_lv": "C"},
    # worked example 3
    {"item_code": "TST-A", "item_kind": "service", "chrgitm_lv": "A"},
    {
        "item_code": "TST-B20",
        "item_kind": "drug",
        "chrgitm_lv": "B",
        "selfpay_prop": Decimal("0.20"),
    },
    # restrictions
    {"item_code": "TST-FEMALE", "item_kind": "drug", "chrgitm_lv": "A", "gend_lmt": "2"},
    {"item_code": "TST-CHILD", "item_kind": "drug", "chrgitm_lv": "A", "age_max": 14},
]

EXAMPLE_LINES = [
    ("TST-DRUG-A", "2", "35.50"),
    ("TST-DRUG-B", "1", "120.00"),
    ("TST-EXAM-A", "1", "200.00"),
    ("TST-MAT-C", "1", "50.00"),
]


def certno(brdy: str = "1980-05-05", gend: str = "1") -> str:
    """A valid id-card number for this birth date and gender, never repeated in-process."""
    return next_certno(dt.date.fromisoformat(brdy), gend)


@pytest.fixture(scope="session")
def test_catalog(engine: Engine) -> None:
    rows = [
        {
            "item_name": r["item_code"].lower(),
            "selfpay_prop": Decimal("0"),
            "pric_uplmt_amt": None,
            "gend_lmt": None,
            "age_min": None,
            "age_max": None,
            "max_qty_per_day": None,
            **r,
        }
        for r in TEST_ITEMS
    ]
    table = CatalogItem.__table__
    inst = {
        "fixmedins_code": RECON,
        "fixmedins_name": "Reconciliation Test Hospital",
        "hosp_lv": 2,
        "fixmedins_type": "hospital",
        "admdvs": "110100",
    }
    with engine.begin() as conn:
        stmt = insert(table).values(rows)
        conn.execute(stmt.on_duplicate_key_update({c: stmt.inserted[c] for c in rows[0]}))
        stmt = insert(Institution.__table__).values(inst)
        conn.execute(stmt.on_duplicate_key_update(fixmedins_name=stmt.inserted.fixmedins_name))


@dataclass
class Factory:
    client: TestClient
    engine: Engine

    def person(
        self,
        insutype: str = "310",
        balance: str = "0.00",
        gend: str = "1",
        brdy: str = "1980-05-05",
        assistance: str = "none",
    ) -> str:
        r = self.client.post(
            "/v1/persons",
            headers=ADMIN,
            json={
                "certno": certno(brdy, gend),
                "psn_name": "Test Person",
                "gend": gend,
                "brdy": brdy,
                "insutype": insutype,
                "admdvs": "110100",
                "acct_balc": balance,
                "assistance_category": assistance,
            },
        )
        assert r.status_code == 201, r.text
        return str(r.json()["psn_no"])

    def visit(
        self,
        psn_no: str,
        inst: str = L3,
        kind: str = "outpatient",
        begntime: dt.datetime | None = None,
    ) -> str:
        r = self.client.post(
            "/v1/visits",
            headers=HIS,
            json={
                "psn_no": psn_no,
                "fixmedins_code": inst,
                "med_type": kind,
                "dept_name": "General medicine",
                "begntime": (begntime or dt.datetime.now()).isoformat(),
                "main_diag_code": "E11.9",
            },
        )
        assert r.status_code == 201, r.text
        return str(r.json()["mdtrt_id"])

    def discharge(self, mdtrt_id: str, endtime: dt.datetime | None = None) -> Any:
        """2402: the stay ends now (or at `endtime`), discharged on medical advice."""
        return self.client.post(
            f"/v1/visits/{mdtrt_id}/discharge",
            headers=HIS,
            json={
                "endtime": (endtime or dt.datetime.now()).isoformat(),
                "dscg_maindiag_code": "E11.9",
                "dscg_way": "1",
            },
        )

    def fees(self, mdtrt_id: str, lines: list[tuple[str, str, str]], start: int = 1) -> list[str]:
        now = dt.datetime.now().replace(microsecond=0).isoformat()
        body = {
            "lines": [
                {
                    "feedetl_sn": f"L{start + i}",
                    "item_code": code,
                    "cnt": cnt,
                    "pric": pric,
                    "fee_ocur_time": now,
                }
                for i, (code, cnt, pric) in enumerate(lines)
            ]
        }
        r = self.client.post(f"/v1/visits/{mdtrt_id}/fees", headers=HIS, json=body)
        assert r.status_code == 201, r.text
        return [ln["feedetl_sn"] for ln in body["lines"]]

    def used(
        self,
        psn_no: str,
        med_type: str,
        dedc: str = "0.00",
        hifp: str = "0.00",
        year: int | None = None,
        inscp_self: str = "0.00",
        secondary: str = "0.00",
        assistance: str = "0.00",
    ) -> None:
        """Set what the person already used this year (as if earlier visits were settled):
        per visit kind the deductible and basic fund; the fund figures (in-scope self-pay,
        secondary fund, assistance) count over the person's rows of the year."""
        with self.engine.begin() as conn:
            conn.execute(
                insert(PersonYearAccumulator.__table__).values(
                    psn_no=psn_no,
                    year=year or dt.date.today().year,
                    med_type=med_type,
                    dedc_used=Decimal(dedc),
                    hifp_paid=Decimal(hifp),
                    setl_cnt=0,
                    inscp_selfpay=Decimal(inscp_self),
                    secondary_paid=Decimal(secondary),
                    assistance_paid=Decimal(assistance),
                )
            )

    def settle(self, mdtrt_id: str, use_account: bool = True, key: str | None = None) -> Any:
        return self.client.post(
            f"/v1/visits/{mdtrt_id}/settlement",
            headers={**HIS, "Idempotency-Key": key or uuid.uuid4().hex},
            json={"use_account": use_account},
        )

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(text(sql), params).all())


@pytest.fixture
def factory(client: TestClient, engine: Engine, test_catalog: None) -> Iterator[Factory]:
    yield Factory(client, engine)


@pytest.fixture(scope="module")
def live_server(settings: Any) -> Iterator[str]:
    """The app under a real uvicorn server on a free port, for truly concurrent requests."""
    import socket
    import threading
    import time

    import uvicorn

    from medhtap.services.api import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
