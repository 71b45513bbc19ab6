"""The fund split over HTTP on the real TiDB (issue 13.1): the worked examples, what is
stored (settlement row, setldetail, accumulators, facts), the assistance category, cancel,
and 3201/3202 with fund_pay_sumamt."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal as D
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.dialects.mysql import insert

from medhtap.schema.reference import Institution
from medhtap.services.settlement import errors

from .conftest import ADMIN, HIS, L1, L2, L3, Factory

FUNDS = ("hifp_pay", "hifob_pay", "hifmi_pay", "maf_pay", "fund_pay_sumamt")
SHARE = ("psn_part_amt", "acct_pay", "psn_cash_pay", "hosp_part_amt")
FUND_REC = "HTEST0FUNDREC"  # only this module settles here: its day totals are exact


def detail(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(d["fund_pay_type"], d["fund_payamt"]) for d in body["setldetail"]]


def money(body: dict[str, Any], *names: str) -> dict[str, str]:
    return {k: body[k] for k in names}


def accumulators(factory: Factory, psn: str) -> list[Any]:
    return factory.rows(
        "SELECT med_type, dedc_used, hifp_paid, setl_cnt, inscp_selfpay, secondary_paid,"
        " assistance_paid FROM person_year_accumulator WHERE psn_no=:p ORDER BY med_type",
        p=psn,
    )


def example_1(factory: Factory) -> tuple[str, str]:
    """Resident, level 2, inpatient, basic fund paid 249,800.00 this year, in-scope self-pay
    40,000.00 this year, dibao; one class A line of 30,000.00."""
    psn = factory.person("390", "0.00", assistance="dibao")
    factory.used(psn, "inpatient", hifp="249800.00", inscp_self="40000.00")
    visit = factory.visit(psn, L2, "inpatient")
    factory.fees(visit, [("TST-A", "1", "30000.00")])
    assert factory.discharge(visit).status_code == 200  # an admission settles once discharged
    return psn, visit


class TestWorkedExamplesOverHttp:
    def test_1_resident_inpatient_critical_illness_and_assistance(self, factory: Factory) -> None:
        _, visit = example_1(factory)
        r = factory.settle(visit, use_account=False)
        assert r.status_code == 200, r.text
        body = r.json()
        assert money(body, "act_pay_dedc", *FUNDS, *SHARE) == {
            "act_pay_dedc": "500.00",
            "hifp_pay": "200.00",
            "hifob_pay": "0.00",
            "hifmi_pay": "19860.00",
            "maf_pay": "6958.00",
            "fund_pay_sumamt": "27018.00",
            "psn_part_amt": "2982.00",
            "acct_pay": "0.00",
            "psn_cash_pay": "2982.00",
            "hosp_part_amt": "0.00",
        }
        assert detail(body) == [
            ("390100", "200.00"),
            ("390200", "19860.00"),
            ("610100", "6958.00"),
        ]
        critical = body["setldetail"][1]
        assert (critical["inscp_scp_amt"], critical["crt_payb_lmt_amt"]) == (
            "29800.00",
            "400000.00",
        )
        assert body["setldetail"][0]["crt_payb_lmt_amt"] == "200.00"  # basic cap still open
        assert all(d["setl_proc_info"] and d["fund_pay_type_name"] for d in body["setldetail"])

    def test_2_employee_outpatient_large_amount_subsidy_and_account(self, factory: Factory) -> None:
        psn = factory.person("310", "10.00")
        factory.used(psn, "outpatient", dedc="1800.00", inscp_self="4990.00")
        visit = factory.visit(psn, L1, "outpatient")
        factory.fees(visit, [("TST-A", "1", "1000.00")])
        r = factory.settle(visit, use_account=True)
        assert r.status_code == 200, r.text
        body = r.json()
        assert money(body, *FUNDS, *SHARE) == {
            "hifp_pay": "900.00",
            "hifob_pay": "76.50",
            "hifmi_pay": "0.00",
            "maf_pay": "0.00",
            "fund_pay_sumamt": "976.50",
            "psn_part_amt": "23.50",
            "acct_pay": "10.00",
            "psn_cash_pay": "13.50",
            "hosp_part_amt": "0.00",
        }
        assert detail(body) == [("310100", "900.00"), ("330100", "76.50"), ("310200", "10.00")]
        assert body["acct_balc_after"] == "0.00"

    def test_3_resident_outpatient_tekun_assistance_pays_the_deductible(
        self, factory: Factory
    ) -> None:
        psn = factory.person("390", "0.00", assistance="tekun")
        visit = factory.visit(psn, L3, "outpatient")
        factory.fees(visit, [("TST-A", "1", "100.00"), ("TST-MAT-C", "1", "50.00")])
        r = factory.settle(visit, use_account=False)
        assert r.status_code == 200, r.text
        body = r.json()
        assert money(body, "act_pay_dedc", *FUNDS, "psn_part_amt") == {
            "act_pay_dedc": "100.00",
            "hifp_pay": "0.00",
            "hifob_pay": "0.00",
            "hifmi_pay": "0.00",
            "maf_pay": "100.00",
            "fund_pay_sumamt": "100.00",
            "psn_part_amt": "50.00",
        }
        assert detail(body) == [("390100", "0.00"), ("390200", "0.00"), ("610100", "100.00")]

    def test_pre_settlement_gives_the_same_split(self, factory: Factory) -> None:
        _, visit = example_1(factory)
        pre = factory.client.post(
            f"/v1/visits/{visit}/pre-settlement", headers=HIS, json={"use_account": False}
        )
        assert pre.status_code == 200, pre.text
        real = factory.settle(visit, use_account=False).json()
        keep = (*FUNDS, *SHARE, "setldetail")
        assert money(pre.json(), *keep) == money(real, *keep)


class TestWhatIsStored:
    def test_row_detail_accumulators_and_facts(self, factory: Factory) -> None:
        psn, visit = example_1(factory)
        body = factory.settle(visit, use_account=False).json()
        setl_id = body["setl_id"]
        assert factory.rows(
            "SELECT hifp_pay, hifob_pay, hifmi_pay, maf_pay, fund_pay_sumamt, psn_part_amt,"
            " hosp_part_amt FROM settlement WHERE setl_id=:s",
            s=setl_id,
        ) == [tuple(D(x) for x in ("200", "0", "19860", "6958", "27018", "2982", "0"))]
        assert factory.rows(
            "SELECT fund_pay_type, inscp_scp_amt, crt_payb_lmt_amt, fund_payamt"
            " FROM setl_detail WHERE setl_id=:s ORDER BY fund_pay_type",
            s=setl_id,
        ) == [
            ("390100", D("30000.00"), D("200.00"), D("200.00")),
            ("390200", D("29800.00"), D("400000.00"), D("19860.00")),
            ("610100", D("9940.00"), D("30000.00"), D("6958.00")),
        ]
        year = accumulators(factory, psn)
        assert year == [
            ("inpatient", D("500"), D("250000"), 1, D("69800"), D("19860"), D("6958")),
        ]
        assert factory.rows(
            "SELECT hifob_pay, hifmi_pay, maf_pay, fund_pay_sumamt, hosp_part_amt"
            " FROM setl_fact WHERE setl_id=:s",
            s=setl_id,
        ) == [(D("0"), D("19860"), D("6958"), D("27018"), D("0"))]

    def test_the_yearly_figures_span_both_visit_kinds(self, factory: Factory) -> None:
        """Outpatient in-scope self-pay counts toward the secondary fund of an admission."""
        psn = factory.person("390", "0.00")
        factory.used(psn, "outpatient", inscp_self="14000.00")
        factory.used(psn, "inpatient", hifp="250000.00", inscp_self="1000.00")  # cap reached
        visit = factory.visit(psn, L2, "inpatient")
        factory.fees(visit, [("TST-A", "1", "1000.00")])
        assert factory.discharge(visit).status_code == 200
        body = factory.settle(visit, use_account=False).json()
        # ytd 15,000.00 -> 16,000.00: 60 % of 1,000.00; the basic fund's cap is used up
        assert (body["hifp_pay"], body["hifmi_pay"]) == ("0.00", "600.00")


class TestAssistanceCategory:
    def test_set_at_registration_changed_by_update_shown_by_1101(self, factory: Factory) -> None:
        psn = factory.person("390", assistance="dibao")
        read = factory.client.get(f"/v1/persons/{psn}", headers=HIS).json()
        assert read["assistance_category"] == "dibao"
        r = factory.client.patch(
            f"/v1/persons/{psn}", headers=ADMIN, json={"assistance_category": "tekun"}
        )
        assert r.status_code == 200, r.text
        assert r.json()["assistance_category"] == "tekun"
        read = factory.client.get(f"/v1/persons/{psn}", headers=HIS).json()
        assert read["assistance_category"] == "tekun"
        assert (
            factory.scalar(
                "SELECT COUNT(*) FROM audit_log WHERE action='person_update' AND entity_id=:p",
                p=psn,
            )
            == 1
        )

    def test_none_is_the_default_and_pays_no_assistance(self, factory: Factory) -> None:
        psn = factory.person("390")
        assert factory.client.get(f"/v1/persons/{psn}", headers=HIS).json()[
            "assistance_category"
        ] == ("none")
        visit = factory.visit(psn, L3, "outpatient")
        factory.fees(visit, [("TST-A", "1", "100.00")])
        body = factory.settle(visit, use_account=False).json()
        assert body["maf_pay"] == "0.00" and detail(body) == [
            ("390100", "0.00"),
            ("390200", "0.00"),
        ]

    @pytest.mark.parametrize(
        ("path", "headers", "json", "status"),
        [
            ("/v1/persons/{psn}", ADMIN, {"assistance_category": "rich"}, 422),
            ("/v1/persons/{psn}", ADMIN, {}, 422),
            ("/v1/persons/{psn}", HIS, {"assistance_category": "dibao"}, 403),
            ("/v1/persons/nobody", ADMIN, {"assistance_category": "dibao"}, 404),
        ],
    )
    def test_bad_updates_are_refused(
        self,
        factory: Factory,
        path: str,
        headers: dict[str, str],
        json: dict[str, Any],
        status: int,
    ) -> None:
        psn = factory.person("390")
        r = factory.client.patch(path.format(psn=psn), headers=headers, json=json)
        assert r.status_code == status, r.text
        assert r.json()["error"]["code"]
        assert factory.client.get(f"/v1/persons/{psn}", headers=HIS).json()[
            "assistance_category"
        ] == ("none")


class TestCancel:
    def test_restores_every_accumulator_exactly_once(self, factory: Factory) -> None:
        psn, visit = example_1(factory)
        before = accumulators(factory, psn)
        setl_id = factory.settle(visit, use_account=False).json()["setl_id"]
        key = "cancel-" + setl_id

        def cancel(k: str) -> Any:
            return factory.client.post(
                f"/v1/settlements/{setl_id}/cancel", headers={**HIS, "Idempotency-Key": k}
            )

        first = cancel(key)
        assert first.status_code == 200, first.text
        rev = first.json()
        assert money(rev, *FUNDS) == {
            "hifp_pay": "-200.00",
            "hifob_pay": "0.00",
            "hifmi_pay": "-19860.00",
            "maf_pay": "-6958.00",
            "fund_pay_sumamt": "-27018.00",
        }
        assert sorted(detail(rev)) == [
            ("390100", "-200.00"),
            ("390200", "-19860.00"),
            ("610100", "-6958.00"),
        ]
        replay = cancel(key)  # the same request again: the stored answer, nothing restored
        assert replay.status_code == 200 and replay.json()["replay"] is True
        again = cancel("other-" + setl_id)  # a second cancel: refused
        assert again.status_code == 409
        assert again.json()["error"]["code"] == errors.NotCancellable.code

        assert accumulators(factory, psn) == before
        assert factory.rows(
            "SELECT SUM(hifmi_pay), SUM(maf_pay), SUM(fund_pay_sumamt) FROM setl_fact"
            " WHERE setl_id=:s",
            s=setl_id,
        ) == [(D("0"), D("0"), D("0"))]
        assert factory.scalar(
            "SELECT SUM(fund_payamt) FROM setl_detail WHERE setl_id IN (:s, :r)",
            s=setl_id,
            r=rev["setl_id"],
        ) == D("0")

    def test_a_resettlement_after_cancel_pays_the_same(self, factory: Factory) -> None:
        _, visit = example_1(factory)
        first = factory.settle(visit, use_account=False).json()
        r = factory.client.post(
            f"/v1/settlements/{first['setl_id']}/cancel",
            headers={**HIS, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert r.status_code == 200, r.text
        second = factory.settle(visit, use_account=False).json()
        assert money(second, *FUNDS, *SHARE) == money(first, *FUNDS, *SHARE)


@pytest.fixture
def fund_rec(engine: Engine) -> str:
    inst = {
        "fixmedins_code": FUND_REC,
        "fixmedins_name": "Fund Reconciliation Test Hospital",
        "hosp_lv": 2,
        "fixmedins_type": "hospital",
        "admdvs": "110100",
    }
    with engine.begin() as conn:
        stmt = insert(Institution.__table__).values(inst)
        conn.execute(stmt.on_duplicate_key_update(fixmedins_name=stmt.inserted.fixmedins_name))
    return FUND_REC


def test_reconciliation_compares_fund_pay_sumamt_when_sent(factory: Factory, fund_rec: str) -> None:
    psn = factory.person("390", assistance="dibao")
    factory.used(psn, "inpatient", hifp="249800.00", inscp_self="40000.00")
    visit = factory.visit(psn, fund_rec, "inpatient")
    factory.fees(visit, [("TST-A", "1", "30000.00")])
    assert factory.discharge(visit).status_code == 200
    s = factory.settle(visit, use_account=False).json()
    today = dt.date.today().isoformat()
    body = {
        "fixmedins_code": fund_rec,
        "stmt_date": today,
        "setl_cnt": 1,
        "medfee_sumamt": s["medfee_sumamt"],
        "hifp_pay": s["hifp_pay"],
        "acct_pay": s["acct_pay"],
    }
    r = factory.client.post("/v1/reconciliation", headers=HIS, json=body)
    assert r.status_code == 200, r.text
    assert r.json()["result"] == "match"  # fund_pay_sumamt not sent: not compared
    assert money(r.json()["platform"], "fund_pay_sumamt", "hifmi_pay", "maf_pay") == {
        "fund_pay_sumamt": "27018.00",
        "hifmi_pay": "19860.00",
        "maf_pay": "6958.00",
    }
    good = {**body, "fund_pay_sumamt": "27018.00"}
    assert factory.client.post("/v1/reconciliation", headers=HIS, json=good).json()["result"] == (
        "match"
    )
    bad = {**body, "fund_pay_sumamt": "200.00"}  # the basic fund only
    assert factory.client.post("/v1/reconciliation", headers=HIS, json=bad).json()["result"] == (
        "mismatch"
    )
    assert factory.rows(
        "SELECT ins_fund_pay_sumamt, plt_fund_pay_sumamt, result FROM reconciliation"
        " WHERE fixmedins_code=:f ORDER BY id",
        f=fund_rec,
    )[-3:] == [
        (None, D("27018.00"), "match"),
        (D("27018.00"), D("27018.00"), "match"),
        (D("200.00"), D("27018.00"), "mismatch"),
    ]

    item = {k: s[k] for k in ("setl_id", "medfee_sumamt", "hifp_pay", "acct_pay")}
    detail_body = {"fixmedins_code": fund_rec, "stmt_date": today}
    for fund, result in ((None, "match"), ("27018.00", "match"), ("200.00", "mismatch")):
        sent = {**item, "fund_pay_sumamt": fund} if fund else item
        r = factory.client.post(
            "/v1/reconciliation/detail", headers=HIS, json={**detail_body, "items": [sent]}
        )
        assert r.status_code == 200, r.text
        assert r.json()["result"] == result, (fund, r.json())
