"""Settlement through HTTP on the real TiDB: the worked examples, idempotency, cancel."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal as D
from typing import Any

import pytest

from medhtap.services.settlement import rules, settling

from .conftest import ADMIN, EXAMPLE_LINES, HIS, L2, L3, Factory

MONEY_FIELDS = rules.AMOUNTS


def amounts(body: dict[str, Any]) -> dict[str, str]:
    return {k: body[k] for k in MONEY_FIELDS}


class TestWorkedExamplesOverHttp:
    def test_example_1_deductible_takes_all_in_scope(self, factory: Factory) -> None:
        psn = factory.person("310", "500.00")
        visit = factory.visit(psn, L3, "outpatient")
        factory.fees(visit, EXAMPLE_LINES)

        r = factory.settle(visit, use_account=True)

        assert r.status_code == 200, r.text
        body = r.json()
        assert amounts(body) == {
            "medfee_sumamt": "441.00",
            "fulamt_ownpay_amt": "50.00",
            "overlmt_selfpay": "20.00",
            "preselfpay_amt": "10.00",
            "inscp_scp_amt": "361.00",
            "act_pay_dedc": "361.00",
            "hifp_pay": "0.00",
            "psn_part_amt": "441.00",
            "acct_pay": "441.00",
            "psn_cash_pay": "0.00",
        }
        assert body["pool_prop_selfpay"] == "0.8000" and body["setl_id"]
        assert [(ln["item_code"], ln["ownpay_reason"]) for ln in body["selfpay_lines"]] == [
            ("TST-MAT-C", "class_c")
        ]
        assert body["acct_balc_after"] == "59.00" and body["replay"] is False
        assert r.headers["Idempotent-Replay"] == "false"

    def test_example_1_stores_everything_in_one_go(self, factory: Factory) -> None:
        psn = factory.person("310", "500.00")
        visit = factory.visit(psn, L3, "outpatient")
        factory.fees(visit, EXAMPLE_LINES)
        setl_id = factory.settle(visit).json()["setl_id"]

        assert factory.scalar("SELECT acct_balc FROM insured_person WHERE psn_no=:p", p=psn) == D(
            "59.00"
        )
        acc = factory.rows(
            "SELECT med_type, dedc_used, hifp_paid, setl_cnt FROM "
            "person_year_accumulator WHERE psn_no=:p",
            p=psn,
        )
        assert acc == [("outpatient", D("361.00"), D("0.00"), 1)]
        lines = factory.rows(
            "SELECT feedetl_sn, fee_status, setl_id, fulamt_ownpay_amt, overlmt_selfpay, "
            "preselfpay_amt, inscp_scp_amt, ownpay_reason FROM fee_detail WHERE mdtrt_id=:m "
            "ORDER BY feedetl_sn",
            m=visit,
        )
        assert lines == [
            ("L1", "settled", setl_id, D("0"), D("0"), D("0"), D("71.00"), None),
            ("L2", "settled", setl_id, D("0"), D("20.00"), D("10.00"), D("90.00"), None),
            ("L3", "settled", setl_id, D("0"), D("0"), D("0"), D("200.00"), None),
            ("L4", "settled", setl_id, D("50.00"), D("0"), D("0"), D("0"), "class_c"),
        ]
        assert factory.rows(
            "SELECT amount, balance_after FROM account_ledger WHERE psn_no=:p", p=psn
        ) == [(D("-441.00"), D("59.00"))]
        assert factory.scalar("SELECT vis_status FROM visit WHERE mdtrt_id=:m", m=visit) == (
            "settled"
        )
        assert (
            factory.scalar(
                "SELECT COUNT(*) FROM audit_log WHERE action='settle' AND entity_id=:s", s=setl_id
            )
            == 1
        )

    def test_example_2_deductible_used_up(self, factory: Factory) -> None:
        psn = factory.person("310", "59.00")
        factory.used(psn, "outpatient", dedc="1800.00")
        visit = factory.visit(psn, L3, "outpatient")
        factory.fees(visit, EXAMPLE_LINES)

        body = factory.settle(visit, use_account=True).json()

        assert (body["act_pay_dedc"], body["hifp_pay"], body["psn_part_amt"]) == (
            "0.00",
            "288.80",
            "152.20",
        )
        assert (body["acct_pay"], body["psn_cash_pay"], body["acct_balc_after"]) == (
            "59.00",
            "93.20",
            "0.00",
        )

    def test_example_3_resident_inpatient_hits_annual_cap(self, factory: Factory) -> None:
        psn = factory.person("390", "1000.00", gend="2", brdy="1970-01-01")
        factory.used(psn, "inpatient", hifp="249800.00")
        visit = factory.visit(psn, L2, "inpatient")
        factory.fees(visit, [("TST-A", "1", "3000.00"), ("TST-B20", "1", "2000.00")])
        assert factory.discharge(visit).status_code == 200

        body = factory.settle(visit, use_account=True).json()

        assert (body["inscp_scp_amt"], body["act_pay_dedc"], body["hifp_pay"]) == (
            "4600.00",
            "500.00",
            "200.00",
        )
        assert (body["acct_pay"], body["psn_cash_pay"]) == ("0.00", "4800.00")
        assert factory.scalar(
            "SELECT hifp_paid FROM person_year_accumulator WHERE psn_no=:p", p=psn
        ) == D("250000.00")

    def test_pre_settlement_computes_the_same_and_stores_nothing(self, factory: Factory) -> None:
        psn = factory.person("310", "500.00")
        visit = factory.visit(psn)
        factory.fees(visit, EXAMPLE_LINES)
        r = factory.client.post(
            f"/v1/visits/{visit}/pre-settlement", headers=HIS, json={"use_account": True}
        )
        assert r.status_code == 200, r.text
        pre = r.json()
        assert pre["setl_id"] is None and pre["medfee_sumamt"] == "441.00"
        assert factory.scalar("SELECT COUNT(*) FROM settlement WHERE mdtrt_id=:m", m=visit) == 0
        assert (
            factory.scalar("SELECT COUNT(*) FROM person_year_accumulator WHERE psn_no=:p", p=psn)
            == 0
        )
        real = factory.settle(visit).json()
        assert amounts(real) == amounts(pre)


class TestRestrictions:
    def test_gender_and_age_restricted_lines_are_wholly_self_paid(self, factory: Factory) -> None:
        psn = factory.person("310", "0.00", gend="1", brdy="1980-01-01")
        visit = factory.visit(psn)
        factory.fees(
            visit,
            [
                ("TST-FEMALE", "1", "10.00"),
                ("TST-CHILD", "1", "20.00"),
                ("TST-DRUG-A", "1", "5.00"),
            ],
        )
        body = factory.settle(visit).json()
        assert {ln["item_code"]: ln["ownpay_reason"] for ln in body["selfpay_lines"]} == {
            "TST-FEMALE": "gender",
            "TST-CHILD": "age",
        }
        assert (body["fulamt_ownpay_amt"], body["inscp_scp_amt"]) == ("30.00", "5.00")


class TestIdempotency:
    def test_same_key_same_body_replays_the_original_answer(self, factory: Factory) -> None:
        psn = factory.person("310", "500.00")
        visit = factory.visit(psn)
        factory.fees(visit, EXAMPLE_LINES)
        first = factory.settle(visit, key="k-replay-" + visit)
        again = factory.settle(visit, key="k-replay-" + visit)
        assert again.status_code == 200
        assert again.headers["Idempotent-Replay"] == "true" and again.json()["replay"] is True
        assert {**again.json(), "replay": False} == first.json()
        assert factory.scalar("SELECT COUNT(*) FROM settlement WHERE mdtrt_id=:m", m=visit) == 1
        assert factory.scalar("SELECT acct_balc FROM insured_person WHERE psn_no=:p", p=psn) == D(
            "59.00"
        )

    def test_same_key_different_body_is_a_conflict(self, factory: Factory) -> None:
        psn = factory.person("310", "500.00")
        visit = factory.visit(psn)
        factory.fees(visit, EXAMPLE_LINES)
        key = "k-conflict-" + visit
        assert factory.settle(visit, use_account=True, key=key).status_code == 200
        r = factory.settle(visit, use_account=False, key=key)
        assert r.status_code == 409 and r.json()["error"]["code"] == "IDEMPOTENCY_CONFLICT"

    def test_a_settled_visit_cannot_be_settled_again(self, factory: Factory) -> None:
        psn = factory.person("310", "500.00")
        visit = factory.visit(psn)
        factory.fees(visit, EXAMPLE_LINES)
        assert factory.settle(visit).status_code == 200
        r = factory.settle(visit)  # a new key
        assert r.status_code == 409 and r.json()["error"]["code"] == "ALREADY_SETTLED"

    def test_missing_key_is_refused(self, factory: Factory) -> None:
        psn = factory.person()
        visit = factory.visit(psn)
        factory.fees(visit, EXAMPLE_LINES)
        r = factory.client.post(
            f"/v1/visits/{visit}/settlement", headers=HIS, json={"use_account": True}
        )
        assert r.status_code == 400 and r.json()["error"]["code"] == "IDEMPOTENCY_KEY_REQUIRED"

    def test_reply_lost_after_commit_is_replayed_on_retry(
        self, factory: Factory, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The commit lands, then the process fails before answering (the client sees a
        5xx or a dropped connection); the retry with the same key gets the stored answer."""
        psn = factory.person("310", "500.00")
        visit = factory.visit(psn)
        factory.fees(visit, EXAMPLE_LINES)
        real_settle = settling.settle

        class CommitThenCrash:
            def with_attempts(self, n: int) -> CommitThenCrash:
                return self

            def __call__(self, *args: Any, **kwargs: Any) -> Any:
                real_settle(*args, **kwargs)  # committed
                raise RuntimeError("process died before the reply was sent")

        monkeypatch.setattr(settling, "settle", CommitThenCrash())
        key = "k-crash-" + visit
        lost = factory.settle(visit, key=key)
        assert lost.status_code == 500
        monkeypatch.setattr(settling, "settle", real_settle)

        retry = factory.settle(visit, key=key)
        assert retry.status_code == 200 and retry.json()["replay"] is True
        assert retry.json()["acct_pay"] == "441.00"
        assert factory.scalar("SELECT COUNT(*) FROM settlement WHERE mdtrt_id=:m", m=visit) == 1
        assert factory.scalar("SELECT acct_balc FROM insured_person WHERE psn_no=:p", p=psn) == D(
            "59.00"
        )


class TestCancel:
    def cancel(self, factory: Factory, setl_id: str, key: str) -> Any:
        return factory.client.post(
            f"/v1/settlements/{setl_id}/cancel", headers={**HIS, "Idempotency-Key": key}
        )

    def test_cancel_restores_exactly_once_and_visit_can_be_resettled(
        self, factory: Factory
    ) -> None:
        psn = factory.person("310", "500.00")
        factory.used(psn, "outpatient", dedc="1700.00", hifp="100.00")
        visit = factory.visit(psn)
        factory.fees(visit, EXAMPLE_LINES)
        first = factory.settle(visit).json()
        assert (first["act_pay_dedc"], first["hifp_pay"]) == ("100.00", "208.80")

        key = "c-" + first["setl_id"]
        c = self.cancel(factory, first["setl_id"], key)
        assert c.status_code == 200, c.text
        rev = c.json()
        assert rev["setl_type"] == "reversal" and rev["orig_setl_id"] == first["setl_id"]
        assert rev["medfee_sumamt"] == "-441.00" and rev["acct_pay"] == f"-{first['acct_pay']}"
        again = self.cancel(factory, first["setl_id"], key)
        assert again.status_code == 200 and again.json()["replay"] is True
        other_key = self.cancel(factory, first["setl_id"], key + "-new")
        assert other_key.status_code == 409
        assert other_key.json()["error"]["code"] == "ALREADY_CANCELLED"

        assert factory.scalar("SELECT acct_balc FROM insured_person WHERE psn_no=:p", p=psn) == D(
            "500.00"
        )
        assert factory.rows(
            "SELECT dedc_used, hifp_paid, setl_cnt FROM person_year_accumulator WHERE psn_no=:p",
            p=psn,
        ) == [(D("1700.00"), D("100.00"), 0)]
        rows = factory.rows(
            "SELECT setl_type, setl_status, medfee_sumamt FROM settlement "
            "WHERE mdtrt_id=:m ORDER BY setl_time",
            m=visit,
        )
        assert rows == [
            ("normal", "cancelled", D("441.00")),
            ("reversal", "reversal", D("-441.00")),
        ]
        assert factory.scalar("SELECT vis_status FROM visit WHERE mdtrt_id=:m", m=visit) == "open"

        # correct the visit: revoke the class-C line, then settle again
        r = factory.client.delete(f"/v1/visits/{visit}/fees/L4", headers=HIS)
        assert r.status_code == 200, r.text
        second = factory.settle(visit).json()
        assert second["medfee_sumamt"] == "391.00" and second["setl_id"] != first["setl_id"]
        assert (
            factory.scalar(
                "SELECT COUNT(*) FROM settlement WHERE mdtrt_id=:m AND setl_type='normal' "
                "AND setl_status='settled'",
                m=visit,
            )
            == 1
        )
        assert (
            factory.scalar(
                "SELECT COUNT(*) FROM audit_log WHERE action='cancel' AND entity_id=:s",
                s=first["setl_id"],
            )
            == 1
        )

    def test_cancel_of_unknown_settlement_is_404(self, factory: Factory) -> None:
        r = self.cancel(factory, "nope", "k-" + uuid.uuid4().hex)
        assert r.status_code == 404 and r.json()["error"]["code"] == "SETTLEMENT_NOT_FOUND"

    def test_a_reversal_row_cannot_be_cancelled(self, factory: Factory) -> None:
        psn = factory.person("310", "500.00")
        visit = factory.visit(psn)
        factory.fees(visit, EXAMPLE_LINES)
        setl = factory.settle(visit).json()["setl_id"]
        rev = self.cancel(factory, setl, "k1-" + setl).json()["setl_id"]
        r = self.cancel(factory, rev, "k2-" + setl)
        assert r.status_code == 409


class TestPersons:
    def test_certno_is_masked_except_for_admin(self, factory: Factory) -> None:
        psn = factory.person("310", "12.34")
        full = factory.client.get(f"/v1/persons/{psn}", headers=ADMIN).json()
        masked = factory.client.get(f"/v1/persons/{psn}", headers=HIS).json()
        assert "*" not in full["certno"] and len(full["certno"]) == 18
        assert masked["certno"] == full["certno"][:6] + "********" + full["certno"][-4:]
        assert masked["acct_balc"] == "12.34"

    def test_person_shows_year_to_date_accumulators(self, factory: Factory) -> None:
        psn = factory.person("310", "500.00")
        visit = factory.visit(psn)
        factory.fees(visit, EXAMPLE_LINES)
        factory.settle(visit)
        body = factory.client.get(f"/v1/persons/{psn}", headers=HIS).json()
        assert body["accumulators"] == [
            {
                "year": dt.date.today().year,
                "med_type": "outpatient",
                "dedc_used": "361.00",
                "hifp_paid": "0.00",
                "setl_cnt": 1,
                "inscp_selfpay": "361.00",  # in scope, not paid by the basic fund
                "secondary_paid": "0.00",
                "assistance_paid": "0.00",
            }
        ]
        assert body["acct_balc"] == "59.00"
        assert body["assistance_category"] == "none"

    def test_unknown_person_is_404(self, factory: Factory) -> None:
        r = factory.client.get("/v1/persons/nobody", headers=HIS)
        assert r.status_code == 404 and r.json()["error"]["code"] == "PERSON_NOT_FOUND"

    def test_analyst_may_not_read_persons(self, factory: Factory) -> None:
        psn = factory.person()
        r = factory.client.get(f"/v1/persons/{psn}", headers={"X-API-Key": "dev-analyst-key"})
        assert r.status_code == 403


class TestRetries:
    def test_a_retryable_tidb_error_reruns_the_whole_unit_once(
        self, factory: Factory, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A deadlock reported at the last statement rolls everything back; the helper
        re-runs the unit from its first read, and the money moves exactly once."""
        import pymysql
        from sqlalchemy.exc import OperationalError

        from medhtap.services.settlement import repository

        psn = factory.person("310", "500.00")
        visit = factory.visit(psn)
        factory.fees(visit, EXAMPLE_LINES)
        real = repository.finish_idempotency
        calls = {"n": 0}

        def deadlock_once(*args: Any, **kwargs: Any) -> None:
            calls["n"] += 1
            if calls["n"] == 1:
                raise OperationalError("INSERT ...", {}, pymysql.err.OperationalError(1213, "x"))
            real(*args, **kwargs)

        monkeypatch.setattr(repository, "finish_idempotency", deadlock_once)
        r = factory.settle(visit)
        assert r.status_code == 200 and calls["n"] == 2
        assert factory.scalar("SELECT COUNT(*) FROM settlement WHERE mdtrt_id=:m", m=visit) == 1
        assert factory.scalar("SELECT acct_balc FROM insured_person WHERE psn_no=:p", p=psn) == D(
            "59.00"
        )
        assert factory.scalar("SELECT COUNT(*) FROM account_ledger WHERE psn_no=:p", p=psn) == 1


def test_openapi_documents_the_settlement_api(factory: Factory) -> None:
    spec = factory.client.get("/openapi.json").json()
    settle = spec["paths"]["/v1/visits/{mdtrt_id}/settlement"]["post"]
    assert {"200", "400", "409", "422", "503"} <= set(settle["responses"])
    assert "IDEMPOTENCY_CONFLICT" in settle["responses"]["409"]["description"]
    money = spec["components"]["schemas"]["SettlementOut"]["properties"]["hifp_pay"]
    assert money["type"] == "string"


def test_plain_english_field_names_are_accepted(factory: Factory) -> None:
    psn = factory.person("310", "500.00")
    r = factory.client.post(
        "/v1/visits",
        headers=HIS,
        json={
            "psn_no": psn,
            "institution_code": L3,
            "kind": "outpatient",
            "department": "GP",
            "begin_time": dt.datetime.now().isoformat(),
            "main_diagnosis": "I10",
        },
    )
    assert r.status_code == 201, r.text
    visit = r.json()["mdtrt_id"]
    lines = [
        {
            "feedetl_sn": f"E{i}",
            "item_code": code,
            "quantity": cnt,
            "unit_price": pric,
            "time": dt.datetime.now().isoformat(),
        }
        for i, (code, cnt, pric) in enumerate(EXAMPLE_LINES)
    ]
    assert (
        factory.client.post(
            f"/v1/visits/{visit}/fees", headers=HIS, json={"lines": lines}
        ).status_code
        == 201
    )
    pre = factory.client.post(f"/v1/visits/{visit}/pre-settlement", headers=HIS)  # no body
    assert pre.status_code == 200 and pre.json()["medfee_sumamt"] == "441.00"
    assert pre.json()["acct_pay"] == "0.00"
