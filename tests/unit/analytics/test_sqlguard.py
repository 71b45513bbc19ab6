"""The /v1/sql parser guard, without a database."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medhtap.analytics.errors import SqlRejected
from medhtap.analytics.sqlguard import MAX_NESTING, check

# One nesting level each: (opening text, closing text, depth it counts for).
_LEVELS = [
    ("(", ")", 1),
    ("CASE WHEN 1 THEN ", " END", 1),
    ("ABS(", ")", 1),
    ("(SELECT 1 FROM v_visit WHERE 1 IN (", "))", 2),
    ("NOT (", ")", 2),
    ("- ", "", 1),
]


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
            ("EXPLAIN ANALYZE DELETE FROM visit", "only SELECT"),
            ("CALL p()", "only SELECT"),
            ("SELECT 1; SELECT 2", "exactly one"),
            ("SELECT * FROM v_visit WHERE 1 = 1 FOR UPDATE NOWAIT", "locking"),
            ("SELECT * INTO OUTFILE '/tmp/x' FROM v_visit", "not valid"),
            ("SELECT * FROM v_visit INTO OUTFILE '/tmp/x'", "not valid"),
            ("SELECT psn_no INTO @x FROM v_visit", "INTO"),
            ("SPLIT TABLE settlement BETWEEN (0) AND (100) REGIONS 4", "not valid"),
            ("DO SLEEP(10)", "not valid"),
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
        assert reason
        assert reason in info.value.message


class TestLimitsCannotBeLiftedFromTheQuery:
    @pytest.mark.parametrize(
        ("sql", "hint"),
        [
            ("SELECT /*+ MAX_EXECUTION_TIME(45000) */ COUNT(*) FROM v_visit", "MAX_EXECUTION_TIME"),
            ("SELECT /*+ SET_VAR(max_execution_time=0) */ 1 FROM v_visit", "SET_VAR"),
            ("SELECT /*+ SET_VAR(tidb_mem_quota_query=1e12) */ 1 FROM v_visit", "SET_VAR"),
            ("SELECT /*+ MEMORY_QUOTA(10 GB) */ 1 FROM v_visit", "MEMORY_QUOTA"),
            ("SELECT /*+ RESOURCE_GROUP(default) */ 1 FROM v_visit", "RESOURCE_GROUP"),
            (
                "SELECT /*+ HASH_JOIN(a) SET_VAR(max_execution_time=0) */ 1 FROM v_visit a",
                "SET_VAR",
            ),
            (
                "SELECT x FROM (SELECT /*+ MAX_EXECUTION_TIME(1) */ 1 AS x FROM v_visit) t",
                "MAX_EXECUTION_TIME",
            ),
            ("SELECT 1 UNION SELECT /*+ SET_VAR(max_execution_time=0) */ 2", "SET_VAR"),
        ],
    )
    def test_limit_hints_are_refused_wherever_they_stand(self, sql: str, hint: str) -> None:
        with pytest.raises(SqlRejected, match=f"optimizer hint {hint} is not allowed"):
            check(sql)

    def test_plan_shape_hints_pass_and_reach_the_server(self) -> None:
        out = check(
            "SELECT /*+ HASH_JOIN(a, b) USE_INDEX(a, ix) */ 1 FROM v_visit a, v_fee_detail b"
        )
        assert "/*+ HASH_JOIN(a, b) USE_INDEX(a, ix) */" in out.sql

    def test_a_hint_comment_where_no_hint_belongs_is_dropped(self) -> None:
        out = check("SELECT 1 FROM v_visit WHERE 1 = 1 /*+ MAX_EXECUTION_TIME(1) */")
        assert "MAX_EXECUTION_TIME" not in out.sql and "/*" not in out.sql


class TestSystemVariables:
    @pytest.mark.parametrize(
        "sql",
        [
            "SELECT @@tidb_config",
            "SELECT @@datadir",
            "SELECT @@hostname",
            "SELECT @@GLOBAL.max_execution_time",
            "SELECT @@global.version",
            "SELECT psn_no FROM v_person WHERE @@session.tidb_snapshot = ''",
        ],
    )
    def test_server_configuration_is_refused(self, sql: str) -> None:
        with pytest.raises(SqlRejected, match="system variable @@"):
            check(sql)

    def test_the_session_allow_list_passes(self) -> None:
        sql = "SELECT @@version, @@session.time_zone, @@max_execution_time"
        assert check(sql).sql == sql


class TestDeepNesting:
    @pytest.mark.parametrize(
        "sql",
        [
            "SELECT " + "(" * 50 + "1" + ")" * 50,
            "SELECT * FROM v_visit WHERE psn_no IN "
            + "(SELECT psn_no FROM v_visit WHERE psn_no IN " * 35
            + "('x')"
            + ")" * 35,
            "SELECT " + "CASE WHEN 1 THEN " * 200 + "1" + " END" * 200,
            "SELECT " + "NOT " * 500 + "1",
            "SELECT " + "- " * 500 + "1",
            "SELECT " + "NOT (" * 20 + "1" + ")" * 20,
            "SELECT " + "ABS(" * 100 + "1" + ")" * 100,
        ],
    )
    def test_deep_nesting_is_a_clean_rejection_not_a_recursion_error(self, sql: str) -> None:
        with pytest.raises(SqlRejected, match="nested too deeply"):
            check(sql)

    @given(st.lists(st.sampled_from(range(len(_LEVELS))), max_size=MAX_NESTING))
    def test_every_mix_of_levels_up_to_the_bound_is_analysed(self, kinds: list[int]) -> None:
        kept, cost = [], 0
        for k in kinds:
            if cost + _LEVELS[k][2] <= MAX_NESTING:
                kept.append(k)
                cost += _LEVELS[k][2]
        sql = (
            "SELECT "
            + "".join(_LEVELS[k][0] for k in kept)
            + "1"
            + "".join(_LEVELS[k][1] for k in reversed(kept))
            + " FROM v_visit"
        )
        assert check(sql).sql.startswith("SELECT")


class TestCteScope:
    @pytest.mark.parametrize(
        "sql",
        [
            # the CTE named like a base table is defined in a subquery, the outer read is real
            "SELECT * FROM (WITH settlement AS (SELECT 1) SELECT * FROM settlement) t, settlement",
            # a CTE is not visible in the CTEs defined before it
            "WITH a AS (SELECT * FROM settlement), settlement AS (SELECT 1) SELECT * FROM a",
            # nor in itself unless RECURSIVE
            "WITH settlement AS (SELECT * FROM settlement) SELECT * FROM settlement",
            # a CTE inside one union branch does not cover the other
            "SELECT * FROM (WITH visit AS (SELECT 1) SELECT * FROM visit) a UNION "
            "SELECT * FROM visit",
        ],
    )
    def test_a_cte_named_like_a_base_table_does_not_cover_reads_outside_its_scope(
        self, sql: str
    ) -> None:
        with pytest.raises(SqlRejected, match="is not an analyst view"):
            check(sql)

    @pytest.mark.parametrize(
        "sql",
        [
            "WITH settlement AS (SELECT * FROM v_settlement) SELECT * FROM settlement",
            "WITH a AS (SELECT 1 AS x), b AS (SELECT * FROM a) SELECT * FROM b",
            "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 3) "
            "SELECT * FROM r",
            "SELECT * FROM (WITH visit AS (SELECT * FROM v_visit) SELECT * FROM visit) t",
        ],
    )
    def test_reads_of_a_cte_in_scope_pass(self, sql: str) -> None:
        assert check(sql).tables


# Generated statements: every one parses; the generator knows what it put in, so the test
# asserts the exact verdict instead of "accepted or rejected".
_ALLOWED_TABLES = ["v_visit", "v_settlement", "v_person", "db1.v_fee_detail"]
_BAD_TABLES = ["settlement", "insured_person", "mysql.user", "information_schema.tables"]
_OK_EXPRS = ["psn_no", "COUNT(*)", "@@version", "ROUND(medfee_sumamt, 1)", "'a:b %Y'", "1 + 2"]
_BAD_EXPRS = ["SLEEP(1)", "@@tidb_config", "GET_LOCK('a', 1)", "@@global.time_zone"]
_OK_HINTS = ["", "/*+ HASH_JOIN(t) */", "/*+ READ_FROM_STORAGE(TIKV[t]) */"]
_BAD_HINTS = ["/*+ MAX_EXECUTION_TIME(1) */", "/*+ SET_VAR(max_execution_time=0) */"]


@st.composite
def _statements(draw: st.DrawFn) -> tuple[str, bool]:
    bad = False

    def pick(ok: list[str], no: list[str]) -> str:
        nonlocal bad
        if draw(st.integers(0, 9)) == 0:
            bad = True
            return draw(st.sampled_from(no))
        return draw(st.sampled_from(ok))

    exprs = [pick(_OK_EXPRS, _BAD_EXPRS) for _ in range(draw(st.integers(1, 3)))]
    hint = pick(_OK_HINTS, _BAD_HINTS)
    table = pick(_ALLOWED_TABLES, _BAD_TABLES)
    sql = f"SELECT {hint} {', '.join(exprs)} FROM {table} t"
    if draw(st.booleans()):
        sql += f" WHERE {pick(_OK_EXPRS, _BAD_EXPRS)} IS NOT NULL"
    if draw(st.booleans()):
        sql = f"WITH c AS ({sql}) SELECT * FROM c"
    if draw(st.booleans()):
        sql += f" LIMIT {draw(st.integers(0, 50))}"
    return sql, bad


@given(_statements())
def test_generated_statements_get_exactly_the_expected_verdict(case: tuple[str, bool]) -> None:
    sql, bad = case
    if bad:
        with pytest.raises(SqlRejected) as info:
            check(sql, database="db1", max_rows=5)
        assert "not valid" not in info.value.message  # refused for what it holds
        return
    out = check(sql, database="db1", max_rows=5)
    assert out.sql.upper().startswith(("SELECT", "WITH"))
    again = check(out.sql, database="db1", max_rows=5)  # what runs passes the guard too
    assert again.tables == out.tables


@given(st.text(max_size=200))
def test_arbitrary_text_is_either_a_checked_select_or_a_clean_rejection(sql: str) -> None:
    try:
        out = check(sql, database="db1", max_rows=5)
    except SqlRejected:
        return
    assert out.sql.upper().startswith(("SELECT", "WITH", "("))
