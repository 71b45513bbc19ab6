"""Visit lifecycle and read-backs over HTTP (issue 13.2): 2402 discharge before an inpatient
settlement, 2202/2404 cancel of a visit without settled fees, a settlement by setl_id, and a
person's visits and settlements a page at a time."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from .conftest import EXAMPLE_LINES, HIS, L2, L3, Factory


def code(r: Any) -> str:
    return str(r.json()["error"]["code"])


def discharge(factory: Factory, mdtrt_id: str, **fields: str) -> Any:
    body = {
        "endtime": dt.datetime.now().isoformat(),
        "dscg_maindiag_code": "E11.9",
        "dscg_way": "1",
    } | fields
    return factory.client.post(f"/v1/visits/{mdtrt_id}/discharge", headers=HIS, json=body)


def cancel_visit(factory: Factory, mdtrt_id: str) -> Any:
    return factory.client.post(f"/v1/visits/{mdtrt_id}/cancel", headers=HIS)


def cancel_settlement(factory: Factory, setl_id: str) -> Any:
    return factory.client.post(
        f"/v1/settlements/{setl_id}/cancel", headers={**HIS, "Idempotency-Key": uuid.uuid4().hex}
    )


class TestDischarge:
    def test_an_inpatient_stay_settles_only_after_its_discharge(self, factory: Factory) -> None:
        """Given an admission with fees, when settled before discharge, then 409
        NOT_DISCHARGED (a pre-settlement is allowed); after 2402 it settles, and the stay's
        length reaches the analytic fact."""
        psn = factory.person("390")
        admitted = dt.datetime.now().replace(microsecond=0) - dt.timedelta(days=4)
        visit = factory.visit(psn, L2, "inpatient", begntime=admitted)
        factory.fees(visit, EXAMPLE_LINES)

        r = factory.settle(visit)
        assert r.status_code == 409 and code(r) == "NOT_DISCHARGED", r.text
        pre = factory.client.post(f"/v1/visits/{visit}/pre-settlement", headers=HIS)
        assert pre.status_code == 200, pre.text

        r = discharge(factory, visit, dscg_maindiag_code="e119", dscg_way="2")
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["dscg_maindiag_code"], body["dscg_way"]) == ("E11.9", "2")
        assert body["endtime"] is not None and body["vis_status"] == "open"

        settled = factory.settle(visit)
        assert settled.status_code == 200, settled.text
        assert settled.json()["medfee_sumamt"] == pre.json()["medfee_sumamt"]
        los = factory.scalar(
            "SELECT los_days FROM setl_fact WHERE setl_id = :s AND sign = 1",
            s=settled.json()["setl_id"],
        )
        assert los == 4

    def test_discharge_refuses_what_it_cannot_record(self, factory: Factory) -> None:
        psn = factory.person()
        outpatient = factory.visit(psn, L3, "outpatient")
        r = discharge(factory, outpatient)
        assert r.status_code == 409 and code(r) == "NOT_INPATIENT"

        stay = factory.visit(psn, L3, "inpatient")
        early = (dt.datetime.now() - dt.timedelta(days=1)).replace(microsecond=0).isoformat()
        for fields, status, expected in (
            ({"endtime": early}, 422, "INVALID_ENDTIME"),
            ({"dscg_maindiag_code": "Z99.999"}, 422, "UNKNOWN_DIAGNOSIS"),
            ({"dscg_way": "7"}, 422, "VALIDATION_FAILED"),
        ):
            r = discharge(factory, stay, **fields)
            assert (r.status_code, code(r)) == (status, expected), (fields, r.text)
        assert discharge(factory, stay).status_code == 200
        r = discharge(factory, stay)
        assert r.status_code == 409 and code(r) == "ALREADY_DISCHARGED"
        r = factory.client.post(f"/v1/visits/{uuid.uuid4().hex}/discharge", headers=HIS, json={})
        assert r.status_code == 422  # the body is checked first
        r = discharge(factory, uuid.uuid4().hex)
        assert r.status_code == 404 and code(r) == "VISIT_NOT_FOUND"


class TestCancelVisit:
    def test_a_registration_without_settled_fees_is_cancelled_with_its_lines(
        self, factory: Factory
    ) -> None:
        """2202: the visit turns 'cancelled', its active lines 'revoked'; nothing more
        happens on it (fees, settlement, another cancel: 409 VISIT_CANCELLED)."""
        psn = factory.person()
        visit = factory.visit(psn)
        factory.fees(visit, EXAMPLE_LINES)
        r = cancel_visit(factory, visit)
        assert r.status_code == 200 and r.json()["vis_status"] == "cancelled", r.text
        statuses = factory.rows(
            "SELECT DISTINCT fee_status FROM fee_detail WHERE mdtrt_id = :m", m=visit
        )
        assert [s[0] for s in statuses] == ["revoked"]

        for r in (
            cancel_visit(factory, visit),
            factory.settle(visit),
            factory.client.post(f"/v1/visits/{visit}/pre-settlement", headers=HIS),
            factory.client.post(
                f"/v1/visits/{visit}/fees",
                headers=HIS,
                json={
                    "lines": [
                        {
                            "feedetl_sn": "X1",
                            "item_code": "TST-A",
                            "cnt": "1",
                            "pric": "1.00",
                            "fee_ocur_time": dt.datetime.now().isoformat(),
                        }
                    ]
                },
            ),
        ):
            assert r.status_code == 409 and code(r) == "VISIT_CANCELLED", r.text

    def test_an_admission_with_settled_fees_is_refused_until_the_settlement_is_cancelled(
        self, factory: Factory
    ) -> None:
        """2404: a settled stay answers 409 VISIT_HAS_SETTLEMENT; after 2208 reopened it,
        the admission can be cancelled."""
        psn = factory.person("310", "100.00")
        stay = factory.visit(psn, L2, "inpatient")
        factory.fees(stay, EXAMPLE_LINES)
        assert discharge(factory, stay).status_code == 200
        settled = factory.settle(stay)
        assert settled.status_code == 200, settled.text
        r = cancel_visit(factory, stay)
        assert r.status_code == 409 and code(r) == "VISIT_HAS_SETTLEMENT"
        assert cancel_settlement(factory, settled.json()["setl_id"]).status_code == 200
        r = cancel_visit(factory, stay)
        assert r.status_code == 200 and r.json()["vis_status"] == "cancelled", r.text


class TestReadBack:
    def test_a_settlement_reads_back_as_answered_and_as_it_stands(self, factory: Factory) -> None:
        psn = factory.person("310", "100.00")
        visit = factory.visit(psn)
        factory.fees(visit, EXAMPLE_LINES)
        answer = factory.settle(visit).json()
        setl_id = answer["setl_id"]

        r = factory.client.get(f"/v1/settlements/{setl_id}", headers=HIS)
        assert r.status_code == 200, r.text
        got = r.json()
        assert got["setl_status"] == "settled" and got["cancel_time"] is None
        for k, v in answer.items():
            if k not in ("replay",):
                assert got[k] == v, k

        reversal = cancel_settlement(factory, setl_id).json()
        got = factory.client.get(f"/v1/settlements/{setl_id}", headers=HIS).json()
        assert got["setl_status"] == "cancelled" and got["cancel_time"] is not None
        assert got["lines"] == []  # the lines went back to the visit
        rev = factory.client.get(f"/v1/settlements/{reversal['setl_id']}", headers=HIS).json()
        assert (rev["setl_type"], rev["orig_setl_id"]) == ("reversal", setl_id)
        assert rev["medfee_sumamt"] == "-" + answer["medfee_sumamt"]

        r = factory.client.get(f"/v1/settlements/{uuid.uuid4().hex}", headers=HIS)
        assert r.status_code == 404 and code(r) == "SETTLEMENT_NOT_FOUND"

    def test_a_persons_visits_page_newest_first_without_gaps_or_repeats(
        self, factory: Factory
    ) -> None:
        """Seven visits, three of them at the very same time: pages of 2 give each visit
        once, newest first, ties in a stable order; the last page has no next_cursor."""
        psn = factory.person()
        base = dt.datetime.now().replace(microsecond=0) - dt.timedelta(days=10)
        times = [base + dt.timedelta(days=d) for d in (0, 1, 2, 3)] + [base] * 3
        made = {factory.visit(psn, begntime=t) for t in times}
        seen: list[dict[str, Any]] = []
        cursor, pages = None, 0
        while True:
            params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
            r = factory.client.get(f"/v1/persons/{psn}/visits", headers=HIS, params=params)
            assert r.status_code == 200, r.text
            seen += r.json()["items"]
            cursor, pages = r.json()["next_cursor"], pages + 1
            if cursor is None:
                break
        assert pages == 4 and len(seen) == 7 and {v["mdtrt_id"] for v in seen} == made
        keys = [(v["begntime"], v["mdtrt_id"]) for v in seen]
        assert keys == sorted(keys, reverse=True)

    def test_a_persons_settlements_page_and_bad_pages_are_refused(self, factory: Factory) -> None:
        psn = factory.person("310", "100.00")
        ids = set()
        for _ in range(2):
            visit = factory.visit(psn)
            factory.fees(visit, EXAMPLE_LINES)
            ids.add(factory.settle(visit).json()["setl_id"])
        first = sorted(ids)[0]
        ids.add(cancel_settlement(factory, first).json()["setl_id"])

        url = f"/v1/persons/{psn}/settlements"
        page1 = factory.client.get(url, headers=HIS, params={"limit": 2}).json()
        page2 = factory.client.get(
            url, headers=HIS, params={"limit": 2, "cursor": page1["next_cursor"]}
        ).json()
        got = page1["items"] + page2["items"]
        assert page2["next_cursor"] is None
        assert {s["setl_id"] for s in got} == ids and len(got) == 3
        assert {s["setl_id"]: s["setl_status"] for s in got}[first] == "cancelled"

        for params, expected in (
            ({"cursor": "not-a-cursor"}, "INVALID_CURSOR"),
            ({"limit": 0}, "VALIDATION_FAILED"),
            ({"limit": 101}, "VALIDATION_FAILED"),
        ):
            r = factory.client.get(url, headers=HIS, params=params)
            assert r.status_code == 422 and code(r) == expected, (params, r.text)
        r = factory.client.get("/v1/persons/NOBODY/settlements", headers=HIS)
        assert r.status_code == 404 and code(r) == "PERSON_NOT_FOUND"


class TestMedTypes:
    def test_national_codes_settle_by_their_policy_over_http(self, factory: Factory) -> None:
        """An employee at a level-3 hospital, one class A line each: 14 (chronic outpatient)
        pays the inpatient ratio 0.85 without deductible and counts under the inpatient
        cap; 41 (pharmacy) pays nothing from the fund; the old word maps to 11."""
        psn = factory.person("310", "100.00")
        chronic = factory.visit(psn, L3, "14")
        factory.fees(chronic, [("TST-A", "1", "1000.00")])
        body = factory.settle(chronic, use_account=False).json()
        assert (body["med_type"], body["act_pay_dedc"], body["hifp_pay"]) == (
            "14",
            "0.00",
            "850.00",
        )
        acc = factory.rows(
            "SELECT med_type, hifp_paid FROM person_year_accumulator WHERE psn_no = :p", p=psn
        )
        assert [(a[0], str(a[1])) for a in acc] == [("inpatient", "850.00")]

        pharmacy = factory.visit(psn, L3, "41")
        factory.fees(pharmacy, [("TST-A", "1", "300.00")])
        body = factory.settle(pharmacy, use_account=True).json()
        assert (body["med_type"], body["hifp_pay"], body["psn_part_amt"]) == (
            "41",
            "0.00",
            "300.00",
        )
        assert (body["acct_pay"], body["psn_cash_pay"]) == ("100.00", "200.00")

        visit = factory.visit(psn, L3, "outpatient")
        r = factory.client.get(f"/v1/persons/{psn}/visits", headers=HIS)
        kinds = {v["mdtrt_id"]: v["med_type"] for v in r.json()["items"]}
        assert kinds == {chronic: "14", pharmacy: "41", visit: "11"}
        bad = factory.client.post(
            "/v1/visits",
            headers=HIS,
            json={
                "psn_no": psn,
                "fixmedins_code": L3,
                "med_type": "99",
                "dept_name": "x",
                "begntime": dt.datetime.now().isoformat(),
                "main_diag_code": "E11.9",
            },
        )
        assert bad.status_code == 422
