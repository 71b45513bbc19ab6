"""Done for issue 14: an HIS-style client, written only from the issue's field names
(conftest.HisClient: envelopes, msgids, the transactions by infno), drives a whole
outpatient visit and a whole inpatient stay through the envelope: review before
prescribing (3101), review of the uploaded lines (3102), the hospital's handling (3103),
a settlement blocked by the review and allowed after 3103, and a 2207 whose answer is lost
(timed out), reversed with 2601 and sent again with a new msgid."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from .conftest import HisClient, new_person

REVIEW_FIELDS = {
    "jr_id",
    "rule_id",
    "rule_name",
    "vola_cont",
    "vola_amt",
    "sev_deg",
    "vola_evid",
    "vola_bhvr_type",
}


def rules_of(results: list[dict[str, Any]]) -> list[str]:
    for r in results:
        assert set(r) >= REVIEW_FIELDS, r  # every result carries the fields
        assert r["judge_result_detail_dtos"], r  # and detail rows naming the lines
    return sorted(r["rule_id"] for r in results)


def standing(his: HisClient, psn_no: str, mdtrt_id: str) -> list[dict[str, Any]]:
    page = his.ok("5203", {"data": {"psn_no": psn_no, "limit": 20}})["setlinfo"]
    return [s for s in page if s["mdtrt_id"] == mdtrt_id and s["setl_status"] == "settled"]


class TestOutpatientVisit:
    def test_a_whole_visit_with_review_block_3103_and_a_timed_out_2207(
        self, his: HisClient, client: TestClient
    ) -> None:
        psn_no = new_person(client, "300.00")
        assert his.person(psn_no)["baseinfo"]["psn_no"] == psn_no
        mdtrt_id = his.register(psn_no)

        # 3101 before prescribing: the ward bed is not for an outpatient visit
        orders = [("RX1", "XA10BAA003", "2", "30.00"), ("RX2", "S120100001", "1", "80.00")]
        pre = his.review_orders(psn_no, mdtrt_id, orders, diagnoses=("E11.9", "I10"))
        assert rules_of(pre) == ["R004"] and pre[0]["sev_deg"] == "1"
        assert pre[0]["judge_result_detail_dtos"][0]["rx_id"] == "RX2"
        his.handle(pre[0]["jr_id"], "2", "order changed")  # go back and change
        assert his.review_orders(psn_no, mdtrt_id, orders[:1]) == []

        # the lines uploaded: the bed is billed anyway (a day-care bed), and a consultation
        # twice where the catalog allows one a day
        now = dt.datetime.now().replace(microsecond=0)
        lines = [
            ("F1", "XA10BAA003", "2", "30.00", now),
            ("F2", "S120100001", "1", "80.00", now),
            ("F3", "S110200002", "2", "50.00", now),
        ]
        his.ok("2204", his.fee_lines_at(mdtrt_id, psn_no, lines))
        found = his.review_fees(mdtrt_id)
        assert rules_of(found) == ["R001", "R004"]
        by_rule = {r["rule_id"]: r for r in found}
        assert by_rule["R001"]["sev_deg"] == "2" and by_rule["R001"]["vola_amt"] == "50.00"
        assert [d["feedetl_sn"] for d in by_rule["R004"]["judge_result_detail_dtos"]] == ["F2"]

        # 2207 refuses while the forbidden result is not handled, and says which
        blocked = his.call("2207", his.settle_data(mdtrt_id, psn_no, "240.00"))
        assert blocked["infcode"] == -1
        assert blocked["output"]["err_code"] == "REVIEW_BLOCKED"
        assert blocked["output"]["details"]["blocking"] == [by_rule["R004"]["jr_id"]]

        his.handle(by_rule["R004"]["jr_id"], "1", "day-care bed, approved by the chief")
        his.handle(by_rule["R001"]["jr_id"], "1", "second consultation after the lab")
        pre_setl = his.ok("2206", his.settle_data(mdtrt_id, psn_no, "240.00"))["setlinfo"]

        # 2207 times out: the platform settled, the HIS never read the answer
        lost = his.new_msgid()
        his.call("2207", his.settle_data(mdtrt_id, psn_no, "240.00"), lost)
        undone = his.reverse(psn_no, lost, "2207")["data"]
        assert undone["done"] == "settlement cancelled"
        assert standing(his, psn_no, mdtrt_id) == []

        retry = his.ok("2207", his.settle_data(mdtrt_id, psn_no, "240.00"))["setlinfo"]
        assert retry["medfee_sumamt"] == "240.00" == pre_setl["medfee_sumamt"]
        assert retry["hifp_pay"] == pre_setl["hifp_pay"]
        assert [s["setl_id"] for s in standing(his, psn_no, mdtrt_id)] == [retry["setl_id"]]
        balc = his.person(psn_no)["insuinfo"][0]["balc"]
        assert Decimal(balc) == Decimal("300.00") - Decimal(retry["acct_pay"])


class TestInpatientStay:
    def test_a_whole_stay_with_reviews_a_revoked_line_and_a_2207_that_never_arrived(
        self, his: HisClient, client: TestClient
    ) -> None:
        psn_no = new_person(client, "0.00")
        mdtrt_id = his.admit(psn_no)  # admitted three days ago
        orders = [("RX1", "S120100001", "1", "80.00"), ("RX2", "S210300001", "1", "300.00")]
        assert his.review_orders(psn_no, mdtrt_id, orders, med_type="21") == []  # bed: fine

        now = dt.datetime.now().replace(microsecond=0)
        day = [now - dt.timedelta(days=n) for n in (2, 1, 0)]
        lines = [(f"B{i}", "S120100001", "1", "80.00", d) for i, d in enumerate(day)]
        lines += [
            ("CT1", "S210300001", "1", "300.00", day[0]),
            ("CT2", "S210300001", "1", "300.00", day[2]),  # a second CT two days later
            ("D1", "XA10BAA003", "1", "30.00", day[1]),
        ]
        his.ok("2204", his.fee_lines_at(mdtrt_id, psn_no, lines))
        found = his.review_fees(mdtrt_id)
        assert rules_of(found) == ["R005"]
        assert [d["feedetl_sn"] for d in found[0]["judge_result_detail_dtos"]] == ["CT2"]

        his.ok("2205", {"data": {"mdtrt_id": mdtrt_id, "feedetl_sn": "CT2"}})  # billed twice
        assert his.review_fees(mdtrt_id) == []
        his.handle(found[0]["jr_id"], "2", "the second CT was a billing error, revoked")

        his.fails("2207", his.settle_data(mdtrt_id, psn_no), "NOT_DISCHARGED")
        endtime = now.strftime("%Y-%m-%d %H:%M:%S")
        dscg = {"mdtrt_id": mdtrt_id, "endtime": endtime, "dscg_maindiag_code": "E11.9"}
        his.ok("2402", {"dscginfo": dscg | {"dscg_way": "1"}})

        # 2207 times out before it reaches the platform: 2601 finds nothing to undo, the
        # late arrival is refused, the HIS sends it again with a new msgid
        lost = his.new_msgid()
        rev = his.reverse(psn_no, lost, "2207")["data"]
        assert rev["done"] == "not arrived: nothing to do"
        his.fails(
            "2207", his.settle_data(mdtrt_id, psn_no, "570.00"), "REVERSED_BEFORE_ARRIVAL", lost
        )
        setl = his.ok("2207", his.settle_data(mdtrt_id, psn_no, "570.00"))["setlinfo"]
        assert setl["med_type"] == "21" and setl["medfee_sumamt"] == "570.00"
        back = his.ok("5203", {"data": {"setl_id": setl["setl_id"]}})
        assert sorted(d["feedetl_sn"] for d in back["detlcutinfo"]) == [
            "B0",
            "B1",
            "B2",
            "CT1",
            "D1",
        ]
        assert [s["setl_id"] for s in standing(his, psn_no, mdtrt_id)] == [setl["setl_id"]]
