"""The envelope's own contract (issue 14.1): msgid replays, refusals as infcode -1 with a
code, the caller's institution, unknown and unbuilt transactions, the message record."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from .conftest import INST, OTHER, URL, HisClient, new_person, scalar

LINES = [("F1", "XA10BAA003", "2", "30.00")]


class TestMsgidIdempotency:
    def test_same_msgid_same_input_replays_the_stored_output(
        self, his: HisClient, client: TestClient, engine: Engine
    ) -> None:
        psn_no = new_person(client)
        reg = his.envelope("2201", _registration(psn_no))
        first, second = his.post(reg), his.post(reg)
        assert first["infcode"] == second["infcode"] == 0
        assert first["output"] == second["output"]
        assert first["inf_refmsgid"] != second["inf_refmsgid"]  # two messages received
        assert scalar(engine, "SELECT COUNT(*) FROM visit WHERE psn_no = :p", p=psn_no) == 1

        mdtrt_id = first["output"]["data"]["mdtrt_id"]
        his.ok("2204", his.fee_lines(mdtrt_id, psn_no, LINES))
        settle = his.envelope("2207", his.settle_data(mdtrt_id, psn_no))
        a, b = his.post(settle), his.post(settle)
        assert a["output"] == b["output"] and a["infcode"] == 0
        assert (
            scalar(engine, "SELECT COUNT(*) FROM settlement WHERE mdtrt_id = :m", m=mdtrt_id) == 1
        )

    def test_same_msgid_different_input_is_refused(
        self, his: HisClient, client: TestClient, engine: Engine
    ) -> None:
        psn_no = new_person(client)
        msgid = his.new_msgid()
        his.ok("2201", _registration(psn_no), msgid)
        changed = _registration(psn_no)
        changed["data"]["dept_name"] = "Surgery"
        err = his.fails("2201", changed, "MSGID_CONFLICT", msgid)
        assert "different message" in err
        his.fails("2202", {"data": {"mdtrt_id": "x"}}, "MSGID_CONFLICT", msgid)  # other infno
        assert scalar(engine, "SELECT COUNT(*) FROM visit WHERE psn_no = :p", p=psn_no) == 1

    def test_a_failed_write_keeps_no_answer_so_the_msgid_can_be_retried(
        self, his: HisClient, client: TestClient
    ) -> None:
        psn_no = new_person(client)
        mdtrt_id = his.register(psn_no)
        msgid = his.new_msgid()
        his.fails("2207", his.settle_data(mdtrt_id, psn_no), "NO_FEE_LINES", msgid)
        his.ok("2204", his.fee_lines(mdtrt_id, psn_no, LINES))
        his.ok("2207", his.settle_data(mdtrt_id, psn_no), msgid)


class TestRefusals:
    def test_fixmedins_code_must_be_the_keys_institution(
        self, his: HisClient, client: TestClient
    ) -> None:
        psn_no = new_person(client)
        other = HisClient(client, his.api_key, OTHER)
        other.fails("2201", _registration(psn_no), "FIXMEDINS_MISMATCH")

    def test_msgid_must_be_institution_time_and_sequence(
        self, his: HisClient, client: TestClient
    ) -> None:
        psn_no = new_person(client)
        bad = [
            f"{OTHER}202603010930000001",  # another institution's prefix
            f"{INST}202613010930000001",  # month 13
            f"{INST}20260301093000001",  # 3-digit sequence
            f"{INST}2026030109300000A1",
        ]
        for msgid in bad:
            his.fails("2201", _registration(psn_no), "INVALID_MSGID", msgid)

    @pytest.mark.parametrize(
        ("infno", "code"),
        [("9999", "UNKNOWN_INFNO"), ("3101", "VALIDATION_FAILED"), ("3103", "VALIDATION_FAILED")],
    )
    def test_unknown_transactions_and_empty_inputs(
        self, his: HisClient, infno: str, code: str
    ) -> None:
        his.fails(infno, {"data": {}}, code)

    @pytest.mark.parametrize(
        "body",
        [
            b"{not json",
            b"\xff\xfe",
            b"[]",
            b'"2207"',
            b"{}",
            b'{"infno": "2207", "msgid": "x", "fixmedins_code": "H11010500003"}',
            b'{"infno": 2207, "msgid": "H11010500003202603010930000001", '
            b'"fixmedins_code": "H11010500003", "input": {}}',
            b'{"infno": "2207", "msgid": "H11010500003202603010930000001", '
            b'"fixmedins_code": "H11010500003", "input": []}',
        ],
    )
    def test_a_malformed_envelope_is_an_answer_with_a_code(
        self, client: TestClient, bound_keys: None, body: bytes
    ) -> None:
        r = client.post(URL, headers={"X-API-Key": "nat-his-key"}, content=body)
        assert r.status_code == 200, r.text
        answer = r.json()
        assert answer["infcode"] == -1
        assert answer["err_msg"].split(":")[0] in ("MALFORMED_ENVELOPE", "INVALID_MSGID")

    def test_bad_business_input_is_an_answer_with_a_code(self, his: HisClient) -> None:
        his.fails("2204", {"feedetail": "x"}, "VALIDATION_FAILED")
        his.fails("2204", {"feedetail": []}, "VALIDATION_FAILED")
        his.fails("2207", {"data": {"mdtrt_id": "nope"}}, "VISIT_NOT_FOUND")
        his.fails(
            "2207", {"data": {"mdtrt_id": "nope", "acct_used_flag": "Y"}}, "VALIDATION_FAILED"
        )
        his.fails("2201", {"data": {"psn_no": "x"}}, "VALIDATION_FAILED")
        his.fails("1101", {}, "VALIDATION_FAILED")
        his.fails("5201", {"data": {"psn_no": "x", "limit": 0}}, "VALIDATION_FAILED")

    def test_authentication_failure_stays_http_401(self, client: TestClient) -> None:
        assert client.post(URL, json={}).status_code == 401
        assert client.post(URL, headers={"X-API-Key": "wrong"}, json={}).status_code == 401

    def test_a_role_that_may_not_send_messages_gets_infcode_minus_one(
        self, client: TestClient
    ) -> None:
        analyst = HisClient(client, "dev-analyst-key", INST)
        analyst.fails("1101", {"data": {"psn_no": "x"}}, "FORBIDDEN")


class TestReconciliation:
    def test_3201_and_3202_compare_the_institutions_day_with_the_platforms(
        self, his: HisClient
    ) -> None:
        day = {"stmt_begndate": "2001-01-01", "stmt_enddate": "2001-01-01"}
        zero = {"medfee_sumamt": "0.00", "hifp_pay": "0.00", "acct_pay": "0.00"}
        same = his.ok("3201", {"data": day | zero | {"fixmedins_setl_cnt": 0}})["data"]
        assert (same["stmt_rslt"], same["fixmedins_code"]) == ("0", INST)
        off = his.ok("3201", {"data": day | zero | {"fixmedins_setl_cnt": 1}})["data"]
        assert off["stmt_rslt"] == "1"
        detail = his.ok("3202", {"data": day, "setlinfo": []})["data"]
        assert detail["stmt_rslt"] == "0"
        extra = [{"setl_id": "S-NOT-HERE"} | zero]
        detail = his.ok("3202", {"data": day, "setlinfo": extra})["data"]
        assert (detail["stmt_rslt"], detail["missing_on_platform"]) == ("1", ["S-NOT-HERE"])
        his.fails("3201", {"data": day | {"stmt_enddate": "2001-01-02"}}, "VALIDATION_FAILED")


class TestPersonRead:
    def test_an_admin_read_is_audited_and_an_his_read_is_not(
        self, his: HisClient, client: TestClient, engine: Engine
    ) -> None:
        psn_no = new_person(client)
        reads = "SELECT COUNT(*) FROM audit_log WHERE action = 'person_read' AND entity_id = :p"
        assert his.person(psn_no)["baseinfo"]["psn_name"] == "Zhao Liuliu"
        assert scalar(engine, reads, p=psn_no) == 0
        admin = HisClient(client, "dev-admin-key", INST)
        assert admin.person(psn_no)["baseinfo"]["certno"] is not None
        assert scalar(engine, reads, p=psn_no) == 1


class TestMessageRecord:
    def test_every_message_is_recorded_without_personal_data(
        self,
        his: HisClient,
        client: TestClient,
        engine: Engine,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        psn_no = new_person(client)
        certno, name = (
            scalar(engine, "SELECT certno FROM insured_person WHERE psn_no = :p", p=psn_no),
            "Zhao Liuliu",
        )
        with caplog.at_level(logging.DEBUG):
            his.person(psn_no)
            mdtrt_id = his.register(psn_no)
            his.ok("2204", his.fee_lines(mdtrt_id, psn_no, LINES))
            his.ok("2207", his.settle_data(mdtrt_id, psn_no))
            his.fails("2207", his.settle_data(mdtrt_id, psn_no), "ALREADY_SETTLED")
            his.fails("2601", {"data": {"psn_no": psn_no}}, "VALIDATION_FAILED")
        text = "\n".join(r.getMessage() for r in caplog.records)
        for secret in (psn_no, certno, name):
            assert secret not in text
        recorded = {
            r[0]: r
            for r in _all(
                engine,
                "SELECT msgid, infno, fixmedins_code, infcode, err_code, duration_ms, recv_time "
                "FROM national_message WHERE fixmedins_code = :i",
                INST,
            )
        }
        for msgid in his.sent[-6:]:
            assert msgid in recorded
        last = recorded[his.sent[-1]]
        assert (last[1], last[3], last[4]) == ("2601", -1, "VALIDATION_FAILED")
        assert recorded[his.sent[-3]][3] == 0 and recorded[his.sent[-3]][5] >= 0
        columns = {
            r[0]
            for r in _all(
                engine,
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = 'national_message' AND table_schema = DATABASE() "
                "AND :i = :i",
                INST,
            )
        }
        assert not columns & {"psn_no", "certno", "psn_name", "input", "output"}


def _registration(psn_no: str) -> dict[str, dict[str, str]]:
    return {
        "data": {
            "psn_no": psn_no,
            "begntime": "2026-03-01 09:30:00",
            "dept_name": "General medicine",
            "main_diag_code": "E11.9",
        }
    }


def _all(engine: Engine, sql: str, inst: str) -> list[tuple[object, ...]]:
    from sqlalchemy import text

    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), {"i": inst})]
