"""The /v1/sql parser guard, without a database."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medhtap.analytics.errors import SqlRejected
from medhtap.analytics.sqlguard import check


class TestAccepted:
    @pytest.mark.parametrize(
        "sql",
        [
            "SELECT * FROM v_visit",
            "select psn_no, count(*) from v_visit group by psn_no having count(*) > 2",
            "WITH a AS (SELECT * FROM v_settlement) SELECT COUNT(*) FROM a",
            "SELECT * FROM v_visit v JOIN v_settlement s ON s.mdtrt_id = v.mdtrt_id",
            "SELECT 1 UNION ALL SELECT 2",
            "SELECT x FROM (SELECT psn_no AS x FROM v_person) t",
            "SELECT * FROM db1.v_visit",
            "SELECT /*+ READ_FROM_STORAGE(TIFLASH[v]) */ COUNT(*) FROM v_visit v",
            "SELECT DATE_FORMAT(setl_time, '%Y-%m') m FROM v_settlement -- a comment",
            "SELECT ROW_NUMBER() OVER (PARTITION BY psn_no ORDER BY begntime) FROM v_visit",
            "SELECT 1;",
        ],
    )
    def test_read_only_selects_pass(self, sql: str) -> None:
        assert check(sql, database="db1").sql

    def test_the_server_gets_the_regenerated_statement_with_a_row_limit(self) -> None:
        out = check("select * from v_visit -- note", max_rows=10)
        assert out.sql == "SELECT * FROM v_visit LIMIT 11"
        assert check("SELECT * FROM v_visit LIMIT 3", max_rows=10).sql.endswith("LIMIT 3")
        assert check("SELECT * FROM v_visit LIMIT 99", max_rows=10).sql.endswith("LIMIT 11")
        assert check("SELECT 1 UNION SELECT 2", max_rows=10).sql == (
            "SELECT * FROM (SELECT 1 UNION SELECT 2) AS _q LIMIT 11"
        )


class TestRejected:
    @pytest.mark.parametrize(
        ("sql", "reason"),
        [
            ("", "empty"),
            ("UPDATE v_visit SET psn_no = 1", "only SELECT"),
            ("REPLACE INTO v_visit VALUES (1)", "only SELECT"),
            ("TRUNCATE TABLE visit", "only SELECT"),
            ("ALTER TABLE visit ADD c INT", "only SELECT"),
            ("GRANT ALL ON *.* TO x", "only SELECT"),
            ("SET GLOBAL max_connections = 1", "only SELECT"),
            ("SHOW GRANTS", "only SELECT"),
            ("EXPLAIN ANALYZE DELETE FROM visit", ""),
            ("CALL p()", ""),
            ("SELECT 1; SELECT 2", "exactly one"),
            ("SELECT * FROM v_visit WHERE 1 = 1 FOR UPDATE NOWAIT", "locking"),
            ("SELECT * INTO OUTFILE '/tmp/x' FROM v_visit", ""),
            ("SELECT * FROM v_visit INTO OUTFILE '/tmp/x'", ""),
            ("SELECT sleep(1) FROM v_visit", "SLEEP"),
            ("SELECT Release_Lock('a')", "RELEASE_LOCK"),
            ("SELECT LOAD_FILE('/etc/passwd')", "LOAD_FILE"),
            (
                "SELECT * FROM v_visit WHERE psn_no IN (SELECT user FROM mysql.user)",
                "system schema",
            ),
            ("SELECT * FROM PERFORMANCE_SCHEMA.threads", "system schema"),
            ("SELECT * FROM other_db.v_visit", "only the analytics database"),
            ("SELECT * FROM settlement", "not an analyst view"),
            ("WITH v_x AS (SELECT 1) SELECT * FROM v_x, idempotency_record", "not an analyst view"),
            ("SELECT 1 /*!50000 , SLEEP(9) */", "executable comments"),
            ("SELECT 1 /*T![x] , SLEEP(9) */", "executable comments"),
        ],
    )
    def test_everything_else_is_refused_with_a_reason(self, sql: str, reason: str) -> None:
        with pytest.raises(SqlRejected) as info:
            check(sql, database="db1")
        assert info.value.status_code == 400 and info.value.code == "SQL_REJECTED"
        assert reason in info.value.message


@given(st.text(max_size=200))
def test_arbitrary_text_is_either_a_checked_select_or_a_clean_rejection(sql: str) -> None:
    try:
        out = check(sql, database="db1", max_rows=5)
    except SqlRejected:
        return
    assert out.sql.upper().startswith(("SELECT", "WITH", "("))
