"""POST /v1/sql on the real server: the parser guard, the analyst account behind it,
engine detection, masking and the session limits."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from medhtap.analytics.analyst_sql import run_analyst_sql
from medhtap.analytics.errors import QueryTimeout, SqlPermissionDenied
from medhtap.analytics.readpath import read_txn
from medhtap.platform.capabilities import probe
from medhtap.platform.db import make_engine
from medhtap.platform.settings import Settings
from medhtap.platform.tx import error_code

ANALYST = {"X-API-Key": "dev-analyst-key"}
HIS = {"X-API-Key": "dev-his-key"}


class TestAcceptedSelect:
    def test_given_a_select_over_views_when_posted_then_rows_engine_time_and_snapshot(
        self, client: TestClient
    ) -> None:
        r = client.post(
            "/v1/sql",
            headers=ANALYST,
            json={
                "sql": "SELECT chapter, COUNT(*) AS n, DATE_FORMAT(MIN(diag_code), '%Y') AS x "
                "FROM v_diagnosis WHERE chapter IN ('IV', 'IX') GROUP BY chapter "
                "ORDER BY chapter"
            },
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["columns"] == ["chapter", "n", "x"]
        assert [row[0] for row in body["rows"]] == ["IV", "IX"]
        assert body["engine"] in ("tikv", "tiflash", "mpp")
        assert body["elapsed_ms"] > 0
        assert body["snapshot"]["tso"] > 0 and body["snapshot"]["snapshot_time"]
        assert r.headers["X-MedHTAP-Engine"] == body["engine"]

    def test_given_more_rows_than_max_rows_then_truncated(self, client: TestClient) -> None:
        r = client.post(
            "/v1/sql",
            headers=ANALYST,
            json={"sql": "SELECT diag_code FROM v_diagnosis", "max_rows": 5},
        )
        assert r.status_code == 200
        assert r.json()["row_count"] == 5 and r.json()["truncated"] is True
        assert r.json()["executed_sql"].endswith("LIMIT 6")

    def test_given_csv_format_then_csv_with_engine_header(self, client: TestClient) -> None:
        r = client.post(
            "/v1/sql",
            headers=ANALYST,
            json={
                "sql": "SELECT diag_code, diag_name FROM v_diagnosis WHERE diag_code = 'E11.9'",
                "format": "csv",
            },
        )
        assert r.status_code == 200
        assert r.text.splitlines() == [
            "diag_code,diag_name",
            "E11.9,Type 2 diabetes mellitus without complications",
        ]
        assert r.headers["X-MedHTAP-Engine"] in ("tikv", "tiflash", "mpp")

    def test_personal_data_is_masked_in_the_view(self, client: TestClient, factory) -> None:
        psn = factory.person(name="王小明")
        certno = factory.certno(psn)
        r = client.post(
            "/v1/sql",
            headers=ANALYST,
            json={
                "sql": f"SELECT certno_masked, psn_name_masked FROM v_person WHERE psn_no = '{psn}'"
            },
        )
        assert r.status_code == 200, r.text
        masked, name = r.json()["rows"][0]
        assert masked == certno[:6] + "********" + certno[-4:]
        assert name == "王*"

    def test_his_role_may_not_use_sql(self, client: TestClient) -> None:
        r = client.post("/v1/sql", headers=HIS, json={"sql": "SELECT 1"})
        assert r.status_code == 403


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("DELETE FROM v_visit", "only SELECT"),
        ("UPDATE v_person SET gend = '2'", "only SELECT"),
        ("INSERT INTO v_visit (mdtrt_id) VALUES ('x')", "only SELECT"),
        ("DROP TABLE visit", "only SELECT"),
        ("CREATE TABLE x (a INT)", "only SELECT"),
        ("SELECT 1; SELECT 2", "exactly one statement"),
        ("SELECT 1; DELETE FROM v_visit", "exactly one statement"),
        ("SELECT psn_no INTO @x FROM v_visit LIMIT 1", "INTO"),
        ("SELECT * FROM v_visit FOR UPDATE", "locking"),
        ("SELECT * FROM v_visit LOCK IN SHARE MODE", "locking"),
        ("LOCK TABLES v_visit READ", "only SELECT"),
        ("SELECT SLEEP(5)", "SLEEP"),
        ("SELECT BENCHMARK(100000000, MD5('x'))", "BENCHMARK"),
        ("SELECT GET_LOCK('a', 10)", "GET_LOCK"),
        ("SELECT * FROM mysql.user", "system schema"),
        ("SELECT * FROM information_schema.tables", "system schema"),
        ("SELECT * FROM insured_person", "not an analyst view"),
        ("SELECT 1 /*! , SLEEP(5) */", "executable comments"),
        ("SELEC 1", "not valid"),
        ("SELECT /*+ MAX_EXECUTION_TIME(45000) */ COUNT(*) FROM v_visit", "MAX_EXECUTION_TIME"),
        ("SELECT /*+ SET_VAR(max_execution_time=0) */ COUNT(*) FROM v_visit", "SET_VAR"),
        ("SELECT /*+ SET_VAR(tidb_mem_quota_query=1099511627776) */ 1", "SET_VAR"),
        ("SELECT @@tidb_config", "system variable @@tidb_config"),
        ("SELECT @@datadir", "system variable @@datadir"),
        ("SELECT @@hostname", "system variable @@hostname"),
        ("SELECT " + "(" * 50 + "1" + ")" * 50, "nested too deeply"),
        ("SELECT " + "CASE WHEN 1 THEN " * 200 + "1" + " END" * 200, "nested too deeply"),
        (
            "SELECT * FROM (WITH settlement AS (SELECT 1) SELECT * FROM settlement) t, settlement",
            "not an analyst view",
        ),
        ("SPLIT TABLE v_visit BETWEEN (0) AND (100) REGIONS 4", "not valid"),
    ],
)
def test_rejected_statements_answer_400_with_the_reason(
    client: TestClient, sql: str, reason: str
) -> None:
    r = client.post("/v1/sql", headers=ANALYST, json={"sql": sql})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "SQL_REJECTED"
    assert reason in err["message"]


class TestDefenceInDepth:
    """The database account refuses on its own what the parser would have caught."""

    def test_analyst_account_cannot_read_base_tables(self, read_engine: Engine) -> None:
        with pytest.raises(SqlPermissionDenied), read_txn(read_engine) as txn:
            txn.query_raw("SELECT certno FROM insured_person LIMIT 1", kind="test")

    @pytest.mark.parametrize(
        "stmt",
        [
            "DELETE FROM settlement",
            "UPDATE insured_person SET acct_balc = 0",
            "INSERT INTO risk_alert (rule_code) VALUES ('x')",
            "SELECT * FROM mysql.user",
            "CREATE TABLE hack (a INT)",
        ],
    )
    def test_analyst_account_cannot_write_or_read_system_tables(
        self, analyst_engine: Engine, stmt: str
    ) -> None:
        with pytest.raises(DBAPIError) as info, analyst_engine.connect() as conn:
            conn.execute(text(stmt))
        assert error_code(info.value) in (1142, 1044, 1227, 1045, 8121)

    def test_analyst_cannot_explain_views_so_the_plan_comes_from_explain_for_connection(
        self, analyst_engine: Engine, read_engine: Engine
    ) -> None:
        with pytest.raises(DBAPIError) as info, analyst_engine.connect() as conn:
            conn.execute(text("EXPLAIN SELECT COUNT(*) FROM v_visit"))
        assert error_code(info.value) == 1345
        with read_txn(read_engine) as txn:
            res = txn.query("SELECT COUNT(*) FROM v_visit", kind="test")
        assert res.plan and any("tikv" in s.task or "tiflash" in s.task for s in res.plan)
        assert res.engine in ("tikv", "tiflash", "mpp")

    def test_max_execution_time_interrupts_a_long_query(self, settings: Settings) -> None:
        slow = make_engine(
            settings.analyst_url(),
            settings=settings,
            pool_size=1,
            session_vars={"max_execution_time": 50},
            read_timeout=30,  # if the server did not interrupt, fail fast instead of hanging
        )
        try:
            with pytest.raises(QueryTimeout):
                run_analyst_sql(
                    slow,
                    # a hash join of ~10^10 rows: the executor checks the deadline per
                    # chunk (a non-equi cartesian join on a fresh table, without
                    # statistics, was not interrupted on this build)
                    "SELECT COUNT(*) FROM v_diagnosis a JOIN v_diagnosis b ON a.chapter = "
                    "b.chapter JOIN v_diagnosis c ON c.chapter = b.chapter",
                    max_rows=10,
                )
        finally:
            slow.dispose()

    def test_the_account_is_bound_to_group_analyst_exactly_when_groups_are_durable(
        self, read_engine: Engine, engine: Engine, settings: Settings
    ) -> None:
        """Both outcomes are checked against what the server says independently: the
        global switch, the store, the account's stored binding and the live session."""
        caps = probe(engine)
        with engine.connect() as conn:
            rc_global = conn.execute(text("SELECT @@global.tidb_enable_resource_control")).scalar()
            stored = conn.execute(
                text(
                    "SELECT JSON_UNQUOTE(JSON_EXTRACT(User_attributes, '$.resource_group')) "
                    "FROM mysql.user WHERE User = :u"
                ),
                {"u": settings.analyst_user},
            ).scalar()
        with read_engine.connect() as conn:
            live = conn.execute(text("SELECT CURRENT_RESOURCE_GROUP()")).scalar()
        durable = caps.store != "unistore"  # unistore loses groups on restart (error 9005)
        wanted = str(rc_global).upper() in ("1", "ON") and durable
        assert caps.resource_control is wanted
        expected = "analyst" if wanted else "default"
        assert (stored or "default") == expected
        assert live == expected
        if str(rc_global).upper() in ("1", "ON") and caps.store == "unistore":
            assert any("resource groups not durable" in n for n in caps.notes)
