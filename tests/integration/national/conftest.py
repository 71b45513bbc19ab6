"""An HIS-style client of the national interface, written only from issue 14's field
names: one envelope per transaction, msgid = institution code + yyyyMMddHHmmss + a 4-digit
sequence. It knows nothing of the platform's REST routes."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from medhtap.platform.settings import Settings
from medhtap.services import auth
from medhtap.services.settlement.identity import next_certno

CENT = Decimal("0.01")
INST = "H11010500003"  # District Two Hospital (level 2)
OTHER = "H11010800004"
BOUND_KEY = "nat-his-key"  # an HIS key bound to INST
URL = "/fsi/api/rsfComIfsService/callService"
_seq = itertools.count(1)


@dataclass
class HisClient:
    http: TestClient
    api_key: str
    fixmedins_code: str
    sent: list[str] = field(default_factory=list)

    def new_msgid(self) -> str:
        stamp = dt.datetime.now().strftime("%Y%m%d%H%M%S")
        return f"{self.fixmedins_code}{stamp}{next(_seq) % 10000:04d}"

    def envelope(self, infno: str, inp: dict[str, Any], msgid: str | None = None) -> dict[str, Any]:
        return {
            "infno": infno,
            "msgid": msgid or self.new_msgid(),
            "mdtrtarea_admvs": "110100",
            "insuplc_admdvs": "110100",
            "recer_sys_code": "FSI_LOCAL",
            "infver": "V1.0",
            "opter_type": "1",
            "opter": "0001",
            "opter_name": "cashier",
            "inf_time": dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
            "fixmedins_code": self.fixmedins_code,
            "fixmedins_name": "hospital",
            "sign_no": "",
            "input": inp,
        }

    def post(self, body: Any) -> dict[str, Any]:
        r = self.http.post(URL, headers={"X-API-Key": self.api_key}, json=body)
        assert r.status_code == 200, r.text
        answer: dict[str, Any] = r.json()
        return answer

    def call(self, infno: str, inp: dict[str, Any], msgid: str | None = None) -> dict[str, Any]:
        env = self.envelope(infno, inp, msgid)
        self.sent.append(env["msgid"])
        return self.post(env)

    def ok(self, infno: str, inp: dict[str, Any], msgid: str | None = None) -> dict[str, Any]:
        answer = self.call(infno, inp, msgid)
        assert answer["infcode"] == 0, answer
        out: dict[str, Any] = answer["output"]
        return out

    def fails(self, infno: str, inp: dict[str, Any], code: str, msgid: str | None = None) -> str:
        answer = self.call(infno, inp, msgid)
        assert answer["infcode"] == -1, answer
        assert answer["err_msg"].startswith(f"{code}:"), answer
        return str(answer["err_msg"])

    # ---- the transactions, by the field names ----------------------------------

    def person(self, psn_no: str) -> dict[str, Any]:
        return self.ok("1101", {"data": {"psn_no": psn_no}})

    def register(self, psn_no: str, msgid: str | None = None) -> str:
        data = {
            "psn_no": psn_no,
            "begntime": dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
            "dept_name": "General medicine",
            "main_diag_code": "E11.9",
        }
        return str(self.ok("2201", {"data": data}, msgid)["data"]["mdtrt_id"])

    def admit(self, psn_no: str, msgid: str | None = None) -> str:
        info = {
            "psn_no": psn_no,
            "med_type": "21",
            "begntime": (dt.datetime.now() - dt.timedelta(days=3)).strftime("%Y-%m-%d %H:%M:%S"),
            "dept_name": "Internal medicine",
            "main_diag_code": "E11.9",
        }
        return str(self.ok("2401", {"mdtrtinfo": info}, msgid)["data"]["mdtrt_id"])

    @staticmethod
    def fee_lines(mdtrt_id: str, psn_no: str, lines: list[tuple[str, str, str, str]]) -> Any:
        now = dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        return {
            "feedetail": [
                {
                    "feedetl_sn": sn,
                    "mdtrt_id": mdtrt_id,
                    "psn_no": psn_no,
                    "chrg_bchno": "B1",
                    "med_list_codg": code,
                    "medins_list_codg": f"LOCAL-{code}",
                    "cnt": cnt,
                    "pric": pric,
                    "det_item_fee_sumamt": str((Decimal(cnt) * Decimal(pric)).quantize(CENT)),
                    "fee_ocur_time": now,
                }
                for sn, code, cnt, pric in lines
            ]
        }

    @staticmethod
    def fee_lines_at(
        mdtrt_id: str, psn_no: str, lines: list[tuple[str, str, str, str, dt.datetime]]
    ) -> Any:
        """feedetail[] with each line's own fee_ocur_time."""
        return {
            "feedetail": [
                {
                    "feedetl_sn": sn,
                    "mdtrt_id": mdtrt_id,
                    "psn_no": psn_no,
                    "med_list_codg": code,
                    "cnt": cnt,
                    "pric": pric,
                    "det_item_fee_sumamt": str((Decimal(cnt) * Decimal(pric)).quantize(CENT)),
                    "fee_ocur_time": at.strftime("%Y-%m-%d %H:%M:%S"),
                }
                for sn, code, cnt, pric, at in lines
            ]
        }

    # ---- review (issue 14.3): 3101 orders, 3102 uploaded lines, 3103 handling ---------

    def review_orders(
        self,
        psn_no: str,
        mdtrt_id: str,
        orders: list[tuple[str, str, str, str]],
        med_type: str = "11",
        diagnoses: tuple[str, ...] = ("E11.9",),
    ) -> list[dict[str, Any]]:
        encounter = {
            "mdtrt_id": mdtrt_id,
            "med_type": med_type,
            "fsi_diagnose_dtos": [
                {"dise_codg": d, "maindiag_flag": "1" if i == 0 else "0"}
                for i, d in enumerate(diagnoses)
            ],
            "fsi_order_dtos": [
                {"rx_id": rx, "hilist_code": code, "cnt": cnt, "pric": pric}
                for rx, code, cnt, pric in orders
            ],
        }
        patient = {"patn_id": psn_no, "curr_mdtrt_id": mdtrt_id, "fsi_encounter_dtos": [encounter]}
        result: list[dict[str, Any]] = self.ok("3101", {"data": {"patient_dtos": [patient]}})[
            "result"
        ]
        return result

    def review_fees(self, mdtrt_id: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.ok("3102", {"data": {"mdtrt_id": mdtrt_id}})["result"]
        return result

    def handle(self, warn_rslt_id: str, dspo_way: str, reason: str | None = None) -> Any:
        data = {"warn_rslt_id": warn_rslt_id, "dspo_way": dspo_way, "dspo_way_rea": reason}
        return self.ok("3103", {"data": data})["result"]

    def settle_data(self, mdtrt_id: str, psn_no: str, total: str | None = None) -> Any:
        data = {"mdtrt_id": mdtrt_id, "psn_no": psn_no, "acct_used_flag": "1"}
        return {"data": data | ({"medfee_sumamt": total} if total else {})}

    def reverse(self, psn_no: str, omsgid: str, oinfno: str) -> dict[str, Any]:
        return self.ok("2601", {"data": {"psn_no": psn_no, "omsgid": omsgid, "oinfno": oinfno}})


@pytest.fixture(scope="module")
def bound_keys(settings: Settings) -> Iterator[None]:
    """Add an HIS key bound to INST (the dev keys are not bound to an institution)."""
    keys = f"{settings.api_keys},{BOUND_KEY}:his:{INST}"
    patched = settings.model_copy(update={"api_keys": keys})
    mp = pytest.MonkeyPatch()
    mp.setattr(auth, "get_settings", lambda: patched)
    yield
    mp.undo()


@pytest.fixture
def his(client: TestClient, bound_keys: None) -> HisClient:
    return HisClient(client, BOUND_KEY, INST)


def new_person(client: TestClient, balance: str = "300.00") -> str:
    """Registration is not a national transaction: the platform's admin registers people."""
    r = client.post(
        "/v1/persons",
        headers={"X-API-Key": "dev-admin-key"},
        json={
            "certno": next_certno(dt.date(1975, 6, 1), "2"),
            "psn_name": "Zhao Liuliu",
            "gend": "2",
            "brdy": "1975-06-01",
            "insutype": "310",
            "admdvs": "110100",
            "acct_balc": balance,
        },
    )
    assert r.status_code == 201, r.text
    return str(r.json()["psn_no"])


def scalar(engine: Engine, sql: str, **params: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()
