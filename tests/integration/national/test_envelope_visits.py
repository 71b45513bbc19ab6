"""Whole visits through the national envelope, as an HIS drives them (issue 14.1, 14.2)."""

from __future__ import annotations

from decimal import Decimal

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from .conftest import HisClient, new_person, scalar

LINES = [("F1", "XA10BAA003", "2", "30.00"), ("F2", "XC10AAA005", "1", "120.00")]


class TestOutpatientVisit:
    def test_given_an_insured_person_when_the_his_runs_a_visit_then_every_step_answers(
        self, his: HisClient, client: TestClient, engine: Engine
    ) -> None:
        psn_no = new_person(client)
        person = his.person(psn_no)
        assert person["baseinfo"]["psn_no"] == psn_no
        assert person["insuinfo"][0]["balc"] == "300.00"

        mdtrt_id = his.register(psn_no)
        result = his.ok("2204", his.fee_lines(mdtrt_id, psn_no, LINES))["result"]
        assert [r["feedetl_sn"] for r in result] == ["F1", "F2"]
        assert [r["det_item_fee_sumamt"] for r in result] == ["60.00", "120.00"]
        assert result[0]["med_list_codg"] == "XA10BAA003"

        pre = his.ok("2206", his.settle_data(mdtrt_id, psn_no, "180.00"))
        # the same service as the REST route: the same split, field for field
        rest = client.post(
            f"/v1/visits/{mdtrt_id}/pre-settlement",
            headers={"X-API-Key": "dev-his-key"},
            json={"use_account": True},
        ).json()
        for name in ("medfee_sumamt", "hifp_pay", "acct_pay", "psn_cash_pay", "act_pay_dedc"):
            assert pre["setlinfo"][name] == rest[name], name
        assert pre["setlinfo"]["setl_id"] is None

        setl = his.ok("2207", his.settle_data(mdtrt_id, psn_no, "180.00"))["setlinfo"]
        assert setl["setl_id"] and setl["mdtrt_id"] == mdtrt_id
        assert setl["medfee_sumamt"] == "180.00"
        assert Decimal(setl["balc"]) == Decimal("300.00") - Decimal(setl["acct_pay"])
        assert setl["hifp_pay"] == pre["setlinfo"]["hifp_pay"]

        back = his.ok("5203", {"data": {"setl_id": setl["setl_id"]}})
        assert back["setlinfo"]["setl_status"] == "settled"
        assert sorted(d["feedetl_sn"] for d in back["detlcutinfo"]) == ["F1", "F2"]
        visits = his.ok("5201", {"data": {"psn_no": psn_no, "limit": 5}})["mdtrtinfo"]
        assert [v["mdtrt_id"] for v in visits] == [mdtrt_id]

        rev = his.ok("2208", {"data": {"setl_id": setl["setl_id"], "psn_no": psn_no}})
        assert rev["setlinfo"]["setl_type"] == "reversal"
        assert rev["setlinfo"]["orig_setl_id"] == setl["setl_id"]
        assert scalar(engine, "SELECT vis_status FROM visit WHERE mdtrt_id = :m", m=mdtrt_id) == (
            "open"
        )
        assert scalar(
            engine, "SELECT acct_balc FROM insured_person WHERE psn_no = :p", p=psn_no
        ) == Decimal("300.00")

    def test_a_total_the_platform_does_not_compute_leaves_the_visit_unsettled(
        self, his: HisClient, client: TestClient, engine: Engine
    ) -> None:
        psn_no = new_person(client)
        mdtrt_id = his.register(psn_no)
        his.ok("2204", his.fee_lines(mdtrt_id, psn_no, LINES))
        his.fails("2207", his.settle_data(mdtrt_id, psn_no, "181.00"), "AMOUNT_MISMATCH")
        assert (
            scalar(engine, "SELECT COUNT(*) FROM settlement WHERE mdtrt_id = :m", m=mdtrt_id) == 0
        )

    def test_a_line_amount_that_is_not_cnt_times_pric_is_refused(
        self, his: HisClient, client: TestClient
    ) -> None:
        psn_no = new_person(client)
        mdtrt_id = his.register(psn_no)
        body = his.fee_lines(mdtrt_id, psn_no, LINES)
        body["feedetail"][0]["det_item_fee_sumamt"] = "59.99"
        his.fails("2204", body, "AMOUNT_MISMATCH")
        del body["feedetail"][0]["cnt"]
        err = his.fails("2204", body, "VALIDATION_FAILED")
        assert "cnt" in err


class TestTimedOutSettlement:
    def test_given_a_2207_whose_answer_was_lost_when_reversed_and_retried_then_one_settlement(
        self, his: HisClient, client: TestClient, engine: Engine
    ) -> None:
        psn_no = new_person(client)
        mdtrt_id = his.register(psn_no)
        his.ok("2204", his.fee_lines(mdtrt_id, psn_no, LINES))
        lost = his.new_msgid()
        his.call("2207", his.settle_data(mdtrt_id, psn_no), lost)  # the HIS never reads it

        done = his.reverse(psn_no, lost, "2207")["data"]
        assert done["done"] == "settlement cancelled"
        again = his.reverse(psn_no, lost, "2207")["data"]  # a second 2601: nothing left to do
        assert again["done"] == "already cancelled"
        # the lost message, replayed, no longer claims a settlement
        his.fails("2207", his.settle_data(mdtrt_id, psn_no), "MESSAGE_REVERSED", lost)

        setl = his.ok("2207", his.settle_data(mdtrt_id, psn_no))["setlinfo"]  # new msgid
        rows = {
            r[0]: r[1]
            for r in _rows(
                engine, "SELECT setl_id, setl_status FROM settlement WHERE mdtrt_id = :m", mdtrt_id
            )
        }
        assert rows[setl["setl_id"]] == "settled"
        assert sorted(rows.values()) == ["cancelled", "reversal", "settled"]
        balance = scalar(engine, "SELECT acct_balc FROM insured_person WHERE psn_no = :p", p=psn_no)
        assert balance == Decimal("300.00") - Decimal(setl["acct_pay"])

    def test_given_a_2207_that_never_arrived_when_reversed_then_its_late_arrival_is_refused(
        self, his: HisClient, client: TestClient, engine: Engine
    ) -> None:
        psn_no = new_person(client)
        mdtrt_id = his.register(psn_no)
        his.ok("2204", his.fee_lines(mdtrt_id, psn_no, LINES))
        lost = his.new_msgid()
        first = his.envelope("2601", {"data": {"psn_no": psn_no, "omsgid": lost, "oinfno": "2207"}})
        answer = his.post(first)
        assert answer["infcode"] == 0
        assert answer["output"]["data"]["done"] == "not arrived: nothing to do"
        assert his.post(first)["output"] == answer["output"]  # the 2601 itself replays

        his.fails("2207", his.settle_data(mdtrt_id, psn_no), "REVERSED_BEFORE_ARRIVAL", lost)
        assert scalar(engine, "SELECT vis_status FROM visit WHERE mdtrt_id = :m", m=mdtrt_id) == (
            "open"
        )
        his.ok("2207", his.settle_data(mdtrt_id, psn_no))  # the retry with a new msgid


class TestReversals:
    def test_reversing_a_2204_revokes_exactly_its_lines(
        self, his: HisClient, client: TestClient, engine: Engine
    ) -> None:
        psn_no = new_person(client)
        mdtrt_id = his.register(psn_no)
        his.ok("2204", his.fee_lines(mdtrt_id, psn_no, LINES[:1]))
        second = his.new_msgid()
        his.ok("2204", his.fee_lines(mdtrt_id, psn_no, LINES[1:]), second)
        assert his.reverse(psn_no, second, "2204")["data"]["feedetl_sn"] == ["F2"]
        status = dict(
            _rows(
                engine,
                "SELECT feedetl_sn, fee_status FROM fee_detail WHERE mdtrt_id = :m",
                mdtrt_id,
            )
        )
        assert status == {"F1": "active", "F2": "revoked"}

    def test_reversing_a_2201_cancels_the_registration_unless_settled(
        self, his: HisClient, client: TestClient, engine: Engine
    ) -> None:
        psn_no = new_person(client)
        reg = his.new_msgid()
        mdtrt_id = his.register(psn_no, reg)
        his.ok("2204", his.fee_lines(mdtrt_id, psn_no, LINES))
        setl = his.ok("2207", his.settle_data(mdtrt_id, psn_no))["setlinfo"]
        his.fails(
            "2601",
            {"data": {"psn_no": psn_no, "omsgid": reg, "oinfno": "2201"}},
            "VISIT_HAS_SETTLEMENT",
        )
        his.ok("2208", {"data": {"setl_id": setl["setl_id"]}})
        assert his.reverse(psn_no, reg, "2201")["data"]["done"] == "visit cancelled"
        assert scalar(engine, "SELECT vis_status FROM visit WHERE mdtrt_id = :m", m=mdtrt_id) == (
            "cancelled"
        )
        his.fails(
            "2601",
            {"data": {"psn_no": psn_no, "omsgid": reg, "oinfno": "2207"}},
            "NOT_REVERSIBLE",
        )
        his.fails(
            "2601", {"data": {"psn_no": psn_no, "omsgid": reg, "oinfno": "2206"}}, "NOT_REVERSIBLE"
        )


class TestInpatientStay:
    def test_given_an_admission_when_discharged_then_settled_and_cancels_work(
        self, his: HisClient, client: TestClient, engine: Engine
    ) -> None:
        psn_no = new_person(client, "0.00")
        mdtrt_id = his.admit(psn_no)
        his.ok("2204", his.fee_lines(mdtrt_id, psn_no, LINES))
        his.ok("2206", his.settle_data(mdtrt_id, psn_no))  # during the stay: allowed
        his.fails("2207", his.settle_data(mdtrt_id, psn_no), "NOT_DISCHARGED")
        dscg = {
            "dscginfo": {
                "mdtrt_id": mdtrt_id,
                "psn_no": psn_no,
                "endtime": __import__("datetime").datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
                "dscg_maindiag_code": "E11.9",
                "dscg_way": "1",
            }
        }
        assert his.ok("2402", dscg)["data"]["dscg_way"] == "1"
        setl = his.ok("2207", his.settle_data(mdtrt_id, psn_no, "180.00"))["setlinfo"]
        assert setl["med_type"] == "21"
        his.fails("2404", {"data": {"mdtrt_id": mdtrt_id}}, "VISIT_HAS_SETTLEMENT")

        other = his.new_msgid()
        second = his.admit(psn_no, other)
        his.fails("2202", {"data": {"mdtrt_id": second}}, "VALIDATION_FAILED")  # not 2404
        assert his.reverse(psn_no, other, "2401")["data"]["done"] == "visit cancelled"
        third = his.admit(psn_no)
        assert his.ok("2404", {"data": {"mdtrt_id": third}})["data"]["vis_status"] == "cancelled"
        assert scalar(engine, "SELECT vis_status FROM visit WHERE mdtrt_id = :m", m=second) == (
            "cancelled"
        )


def _rows(engine: Engine, sql: str, mdtrt_id: str) -> list[tuple[str, str]]:
    from sqlalchemy import text

    with engine.connect() as conn:
        return [(r[0], r[1]) for r in conn.execute(text(sql), {"m": mdtrt_id})]


class TestReversalRace:
    def test_a_2601_racing_its_2207_never_leaves_the_settlement_standing(
        self, his: HisClient, client: TestClient, engine: Engine
    ) -> None:
        from concurrent.futures import ThreadPoolExecutor

        for _ in range(4):
            psn_no = new_person(client)
            mdtrt_id = his.register(psn_no)
            his.ok("2204", his.fee_lines(mdtrt_id, psn_no, LINES))
            msgid = his.new_msgid()
            settle = his.envelope("2207", his.settle_data(mdtrt_id, psn_no), msgid)
            rev = his.envelope(
                "2601", {"data": {"psn_no": psn_no, "omsgid": msgid, "oinfno": "2207"}}
            )
            with ThreadPoolExecutor(2) as pool:
                a, b = pool.map(his.post, [settle, rev])
            assert b["infcode"] == 0, b
            standing = scalar(
                engine,
                "SELECT COUNT(*) FROM settlement WHERE mdtrt_id = :m AND setl_status = 'settled'",
                m=mdtrt_id,
            )
            assert standing == 0, (a, b)
            if a["infcode"] == -1:  # the 2601 came first
                assert a["err_msg"].startswith("REVERSED_BEFORE_ARRIVAL:")
