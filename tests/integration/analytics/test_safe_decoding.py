"""Text the database returns is decoded safely: TiDB cuts GROUP_CONCAT output and plan text
at a byte limit, possibly in the middle of a UTF-8 character (issue 10.3, 11.4)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

ANALYST = {"X-API-Key": "dev-analyst-key"}
CUT_PSN_NO = "a" * 57 + "ÑÑÑÑ"  # the plan's operator info is cut inside an Ñ


def _still_serves(client: TestClient) -> None:
    # every pooled analyst connection must still work after the cut answers
    for _ in range(8):
        r = client.post("/v1/sql", headers=ANALYST, json={"sql": "SELECT '王小明' AS n"})
        assert r.status_code == 200, r.text
        assert r.json()["rows"] == [["王小明"]]


class TestCutCharacters:
    def test_risk_alerts_filter_cut_in_the_plan_answers_200(self, client: TestClient) -> None:
        for _ in range(6):
            r = client.get(f"/v1/risk/alerts?rule=x&psn_no={CUT_PSN_NO}", headers=ANALYST)
            assert r.status_code == 200, r.text
            assert r.json()["count"] == 0
        _still_serves(client)

    @pytest.mark.parametrize(
        "sql",
        [
            f"SELECT psn_no FROM v_risk_alert WHERE psn_no = '{CUT_PSN_NO}'",
            # a constant TiDB shows in the plan (Selection / Projection), cut at 64 bytes
            f"SELECT psn_no FROM v_risk_alert WHERE CONCAT(psn_no, '') = '{CUT_PSN_NO}'",
            f"SELECT CONCAT(psn_no, '{CUT_PSN_NO}') AS x FROM v_visit LIMIT 0",
        ],
    )
    def test_the_same_literal_in_sql_answers_200(self, client: TestClient, sql: str) -> None:
        for _ in range(6):
            r = client.post("/v1/sql", headers=ANALYST, json={"sql": sql})
            assert r.status_code == 200, r.text
            assert r.json()["rows"] == []
        _still_serves(client)

    def test_group_concat_of_chinese_names_cut_at_1024_bytes(
        self, client: TestClient, factory
    ) -> None:
        people = [factory.person(name="张三丰") for _ in range(160)]
        ids = ", ".join(f"'{p}'" for p in people)
        # 7 bytes per item ('张*' + '丰'): 1,024 bytes end 2 bytes into a character
        sql = (
            "SELECT GROUP_CONCAT(psn_name_masked, '丰' ORDER BY psn_no SEPARATOR '') AS names "
            f"FROM v_person WHERE psn_no IN ({ids})"
        )
        for _ in range(6):
            r = client.post("/v1/sql", headers=ANALYST, json={"sql": sql})
            assert r.status_code == 200, r.text
            names = r.json()["rows"][0][0]
            assert names.startswith("张*丰" * 146)
            assert names.endswith("\ufffd")  # the cut character, replaced, never a 500
        _still_serves(client)
