"""Bad input gets a 4xx with a machine code and writes nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from medhtap.platform.settings import get_settings
from medhtap.services import auth
from medhtap.services.settlement import repository

from .conftest import EXAMPLE_LINES, HIS, L2, L3, Factory

NOW = dt.datetime.now().replace(microsecond=0).isoformat()


def line(**over: Any) -> dict[str, Any]:
    return {
        "feedetl_sn": "X1",
        "item_code": "TST-DRUG-A",
        "cnt": "1",
        "pric": "10.00",
        "fee_ocur_time": NOW,
        **over,
    }


def code(r: Any) -> str:
    return str(r.json()["error"]["code"])


def written(factory: Factory, visit: str) -> tuple[int, int, int]:
    return (
        factory.scalar("SELECT COUNT(*) FROM fee_detail WHERE mdtrt_id=:m", m=visit),
        factory.scalar("SELECT COUNT(*) FROM settlement WHERE mdtrt_id=:m", m=visit),
        factory.scalar(
            "SELECT COUNT(*) FROM audit_log WHERE action <> 'visit_create' AND (entity_id = :m "
            "OR JSON_UNQUOTE(JSON_EXTRACT(detail, '$.mdtrt_id')) = :m)",
            m=visit,
        ),
    )


class TestFeeUpload:
    @pytest.mark.parametrize(
        ("override", "where"),
        [
            ({"cnt": "-1"}, "cnt"),
            ({"cnt": 0}, "cnt"),
            ({"cnt": "1e9"}, "cnt"),
            ({"cnt": True}, "cnt"),
            ({"cnt": "NaN"}, "cnt"),
            ({"cnt": "0.00001"}, "cnt"),
            ({"pric": "-0.01"}, "pric"),
            ({"pric": "99999999"}, "pric"),
            ({"pric": "1.23456"}, "pric"),
            ({"pric": "ten"}, "pric"),
            ({"feedetl_sn": ""}, "feedetl_sn"),
            ({"feedetl_sn": "x" * 31}, "feedetl_sn"),
            ({"fee_ocur_time": "1900-01-01T00:00:00"}, "fee_ocur_time"),
            ({"surprise": 1}, "surprise"),
        ],
    )
    def test_absurd_line_is_refused_and_nothing_stored(
        self, factory: Factory, override: dict[str, Any], where: str
    ) -> None:
        visit = factory.visit(factory.person())
        body = {"lines": [line(feedetl_sn="OK1"), line(**override)]}
        r = factory.client.post(f"/v1/visits/{visit}/fees", headers=HIS, json=body)
        assert r.status_code == 422 and code(r) == "VALIDATION_FAILED", r.text
        assert where in r.json()["error"]["message"]
        assert written(factory, visit) == (0, 0, 0)

    def test_unknown_item_refuses_the_whole_batch(self, factory: Factory) -> None:
        visit = factory.visit(factory.person())
        body = {"lines": [line(feedetl_sn="A"), line(feedetl_sn="B", item_code="NO-SUCH")]}
        r = factory.client.post(f"/v1/visits/{visit}/fees", headers=HIS, json=body)
        assert r.status_code == 422 and code(r) == "UNKNOWN_ITEM"
        assert written(factory, visit) == (0, 0, 0)

    def test_duplicate_feedetl_sn_in_batch_and_against_stored_lines(self, factory: Factory) -> None:
        visit = factory.visit(factory.person())
        r = factory.client.post(
            f"/v1/visits/{visit}/fees", headers=HIS, json={"lines": [line(), line()]}
        )
        assert r.status_code == 409 and code(r) == "DUPLICATE_FEE_LINE"
        factory.fees(visit, [("TST-DRUG-A", "1", "1.00")])  # stores L1
        r = factory.client.post(
            f"/v1/visits/{visit}/fees",
            headers=HIS,
            json={"lines": [line(feedetl_sn="L2"), line(feedetl_sn="L1")]},
        )
        assert r.status_code == 409 and code(r) == "DUPLICATE_FEE_LINE"
        assert r.json()["error"]["details"]["feedetl_sn"] == ["L1"]
        assert written(factory, visit)[0] == 1

    def test_empty_batch_and_malformed_json(self, factory: Factory) -> None:
        visit = factory.visit(factory.person())
        r = factory.client.post(f"/v1/visits/{visit}/fees", headers=HIS, json={"lines": []})
        assert r.status_code == 422
        r = factory.client.post(
            f"/v1/visits/{visit}/fees",
            headers={**HIS, "Content-Type": "application/json"},
            content=b'{"lines": [',
        )
        assert r.status_code == 400 and code(r) == "MALFORMED_JSON"
        assert written(factory, visit) == (0, 0, 0)

    def test_fees_on_unknown_or_settled_visit(self, factory: Factory) -> None:
        r = factory.client.post("/v1/visits/nope/fees", headers=HIS, json={"lines": [line()]})
        assert r.status_code == 404 and code(r) == "VISIT_NOT_FOUND"
        visit = factory.visit(factory.person("310", "500.00"))
        factory.fees(visit, EXAMPLE_LINES)
        assert factory.settle(visit).status_code == 200
        r = factory.client.post(
            f"/v1/visits/{visit}/fees", headers=HIS, json={"lines": [line(feedetl_sn="late")]}
        )
        assert r.status_code == 409 and code(r) == "VISIT_NOT_OPEN"
        r = factory.client.delete(f"/v1/visits/{visit}/fees/L1", headers=HIS)
        assert r.status_code == 409 and code(r) == "VISIT_NOT_OPEN"
        assert written(factory, visit)[:2] == (4, 1)


class TestFeeRevoke:
    def test_revoke_unknown_and_twice(self, factory: Factory) -> None:
        visit = factory.visit(factory.person())
        factory.fees(visit, [("TST-DRUG-A", "1", "1.00")])
        r = factory.client.delete(f"/v1/visits/{visit}/fees/L9", headers=HIS)
        assert r.status_code == 404 and code(r) == "FEE_LINE_NOT_FOUND"
        assert factory.client.delete(f"/v1/visits/{visit}/fees/L1", headers=HIS).status_code == 200
        r = factory.client.delete(f"/v1/visits/{visit}/fees/L1", headers=HIS)
        assert r.status_code == 409 and code(r) == "FEE_LINE_REVOKED"
        # a revoked line keeps its number: it cannot be uploaded again
        r = factory.client.post(
            f"/v1/visits/{visit}/fees", headers=HIS, json={"lines": [line(feedetl_sn="L1")]}
        )
        assert r.status_code == 409 and code(r) == "DUPLICATE_FEE_LINE"


class TestVisit:
    def visit(self, factory: Factory, **over: Any) -> Any:
        body = {
            "psn_no": factory.person(),
            "fixmedins_code": L3,
            "med_type": "outpatient",
            "dept_name": "GP",
            "begntime": NOW,
            "main_diag_code": "E11.9",
            **over,
        }
        return factory.client.post("/v1/visits", headers=HIS, json=body)

    def test_unknown_codes(self, factory: Factory) -> None:
        assert code(self.visit(factory, main_diag_code="Q99.99")) == "UNKNOWN_DIAGNOSIS"
        assert code(self.visit(factory, fixmedins_code="H000")) == "UNKNOWN_INSTITUTION"
        r = self.visit(factory, psn_no="ghost")
        assert r.status_code == 404 and code(r) == "PERSON_NOT_FOUND"
        assert self.visit(factory, med_type="dental").status_code == 422

    def test_undotted_icd10_code_is_accepted(self, factory: Factory) -> None:
        r = self.visit(factory, main_diag_code="e119")
        assert r.status_code == 201 and r.json()["main_diag_code"] == "E11.9"

    def test_his_key_bound_to_another_institution_is_forbidden(
        self, factory: Factory, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        keys = f"his-l2-key:his:{L2},dev-admin-key:admin,dev-his-key:his"
        bound = get_settings().model_copy(update={"api_keys": keys})
        monkeypatch.setattr(auth, "get_settings", lambda: bound)
        psn = factory.person()
        body = {
            "psn_no": psn,
            "fixmedins_code": L3,
            "med_type": "outpatient",
            "dept_name": "GP",
            "begntime": NOW,
            "main_diag_code": "E11.9",
        }
        r = factory.client.post("/v1/visits", headers={"X-API-Key": "his-l2-key"}, json=body)
        assert r.status_code == 403 and code(r) == "FORBIDDEN"
        r = factory.client.post(
            "/v1/visits", headers={"X-API-Key": "his-l2-key"}, json={**body, "fixmedins_code": L2}
        )
        assert r.status_code == 201
        # and it cannot touch the other institution's visits
        other = factory.visit(psn, L3)
        r = factory.client.post(
            f"/v1/visits/{other}/fees",
            headers={"X-API-Key": "his-l2-key"},
            json={"lines": [line()]},
        )
        assert r.status_code == 403
        assert written(factory, other) == (0, 0, 0)


class TestSettlement:
    def test_no_lines_nothing_written(self, factory: Factory) -> None:
        visit = factory.visit(factory.person())
        r = factory.settle(visit)
        assert r.status_code == 422 and code(r) == "NO_FEE_LINES"
        assert written(factory, visit) == (0, 0, 0)
        assert (
            factory.scalar(
                "SELECT COUNT(*) FROM idempotency_record WHERE idem_key LIKE :k", k=f"%{visit}%"
            )
            == 0
        )

    def test_bad_bodies_and_keys(self, factory: Factory) -> None:
        visit = factory.visit(factory.person("310", "100.00"))
        factory.fees(visit, EXAMPLE_LINES)
        before = written(factory, visit)
        url = f"/v1/visits/{visit}/settlement"
        for body in ({"use_account": "yes"}, {"use_account": 1}, {"use_account": True, "x": 1}):
            r = factory.client.post(url, headers={**HIS, "Idempotency-Key": "k"}, json=body)
            assert r.status_code == 422, body
        r = factory.client.post(
            url, headers={**HIS, "Idempotency-Key": "k" * 129}, json={"use_account": True}
        )
        assert r.status_code == 400 and code(r) == "IDEMPOTENCY_KEY_REQUIRED"
        r = factory.client.post(
            url,
            headers={**HIS, "Idempotency-Key": "k", "Content-Type": "application/json"},
            content=b"{",
        )
        assert r.status_code == 400 and code(r) == "MALFORMED_JSON"
        r = factory.client.post(
            "/v1/visits/ghost/settlement", headers={**HIS, "Idempotency-Key": "k"}, json={}
        )
        assert r.status_code == 404 and code(r) == "VISIT_NOT_FOUND"
        assert written(factory, visit) == before

    def test_auth(self, factory: Factory) -> None:
        visit = factory.visit(factory.person())
        url = f"/v1/visits/{visit}/settlement"
        r = factory.client.post(url, json={})
        assert r.status_code == 401
        r = factory.client.post(
            url, headers={"X-API-Key": "dev-analyst-key", "Idempotency-Key": "k"}, json={}
        )
        assert r.status_code == 403

    def test_failure_midway_leaves_no_half_written_settlement(
        self, factory: Factory, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        psn = factory.person("310", "500.00")
        visit = factory.visit(psn)
        factory.fees(visit, EXAMPLE_LINES)

        def boom(*_: Any, **__: Any) -> None:
            raise RuntimeError("disk on fire")

        # the last write of the unit fails after settlement, lines, accumulator, balance
        monkeypatch.setattr(repository, "finish_idempotency", boom)
        assert factory.settle(visit).status_code == 500
        monkeypatch.undo()
        assert written(factory, visit) == (4, 0, 1)  # the upload's audit row only
        assert factory.scalar("SELECT acct_balc FROM insured_person WHERE psn_no=:p", p=psn) == 500
        assert (
            factory.scalar("SELECT COUNT(*) FROM person_year_accumulator WHERE psn_no=:p", p=psn)
            == 0
        )
        assert (
            factory.scalar(
                "SELECT COUNT(*) FROM fee_detail WHERE mdtrt_id=:m AND "
                "fee_status='active' AND setl_id IS NULL",
                m=visit,
            )
            == 4
        )
        assert factory.settle(visit).status_code == 200


class TestPersonInput:
    def test_bad_and_duplicate_persons(self, factory: Factory) -> None:
        from .conftest import ADMIN, certno

        base = {
            "certno": certno("1990-01-01", "1"),
            "psn_name": "A",
            "gend": "1",
            "brdy": "1990-01-01",
            "insutype": "310",
            "admdvs": "110100",
            "acct_balc": "1.00",
        }
        for bad in (
            {"certno": "123"},
            {"insutype": "999"},
            {"acct_balc": "-1"},
            {"acct_balc": "1.001"},
            {"admdvs": "11"},
        ):
            r = factory.client.post("/v1/persons", headers=ADMIN, json={**base, **bad})
            assert r.status_code == 422, bad
        assert factory.client.post("/v1/persons", headers=ADMIN, json=base).status_code == 201
        r = factory.client.post("/v1/persons", headers=ADMIN, json=base)
        assert r.status_code == 409 and code(r) == "PERSON_EXISTS"

    def test_certno_must_be_a_valid_id_card_of_this_person(self, factory: Factory) -> None:
        """Given numbers of the documented shape that fail the check digit, or name another
        birth date or gender, when registered, then 422 INVALID_CERTNO and nothing stored."""
        from .conftest import ADMIN, certno

        good = certno("1990-01-01", "2")
        base = {
            "psn_name": "B",
            "gend": "2",
            "brdy": "1990-01-01",
            "insutype": "390",
            "admdvs": "110100",
        }
        wrong_digit = good[:17] + ("0" if good[17] != "0" else "1")
        for bad in (
            {"certno": wrong_digit},
            {"certno": good, "brdy": "1990-01-02"},
            {"certno": good, "gend": "1"},
            {"certno": "110101" + "19900101" + "0000"},  # 18 digits, no check digit
        ):
            r = factory.client.post("/v1/persons", headers=ADMIN, json={**base, **bad})
            assert r.status_code == 422 and code(r) == "INVALID_CERTNO", (bad, r.text)
        r = factory.client.post("/v1/persons", headers=ADMIN, json={**base, "certno": good})
        assert r.status_code == 201, r.text
        r = factory.client.post(
            "/v1/persons", headers=HIS, json={**base, "certno": certno("1990-01-01", "1")}
        )
        assert r.status_code == 403
