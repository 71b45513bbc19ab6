"""The foundation on the real server: TiDB itself, migrations both ways, models == database."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from medhtap.platform import migrate
from medhtap.platform.capabilities import probe
from medhtap.platform.settings import Settings
from medhtap.schema.models import metadata
from medhtap.services.settlement.repository import DEFAULT_REGION


def test_server_is_real_tidb_and_capabilities_are_probed(engine: Engine) -> None:
    caps = probe(engine)
    assert caps.is_tidb and "TiDB" in caps.version
    assert caps.store in ("unistore", "tikv")
    assert caps.tikv_stores >= 1
    if caps.store == "unistore":
        assert caps.tiflash_stores == 0 and caps.analytic_engine == "tikv"
        assert any("no TiFlash" in n for n in caps.notes)
        # unistore's resource groups vanish on restart and then poison the store
        assert not caps.resource_control


def test_models_and_migrated_database_agree(engine: Engine) -> None:
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diffs == []


def test_tidb_specific_ddl_is_in_place(engine: Engine, settings: Settings) -> None:
    with engine.connect() as conn:
        ddl = conn.execute(text("SHOW CREATE TABLE audit_log")).one()[1]
        assert "AUTO_RANDOM" in ddl
        fee = conn.execute(text("SHOW CREATE TABLE fee_detail")).one()[1]
        assert "PARTITION BY RANGE COLUMNS(`fee_ocur_time`)" in fee
        assert "GLOBAL" in fee
        parts = conn.execute(
            text(
                "SELECT COUNT(*) FROM information_schema.partitions "
                "WHERE table_schema = :db AND table_name = 'settlement'"
            ),
            {"db": settings.database},
        ).scalar_one()
        assert parts > 90  # monthly 2020..2027 plus MAXVALUE


def test_migrations_run_without_a_client_read_timeout(settings: Settings) -> None:
    """An index over 5M facts took longer than the write engine's 120 s read timeout: the
    client gave up, the DDL job went on in TiDB, and alembic_version stayed behind."""
    engine = migrate.migration_engine(settings)
    try:
        with engine.connect() as conn:
            assert conn.connection.dbapi_connection._read_timeout is None  # type: ignore[union-attr]
            assert conn.execute(text("SELECT SLEEP(1)")).scalar_one() == 0
    finally:
        engine.dispose()


def test_migrations_roll_back_and_forward_on_tidb(settings: Settings) -> None:
    s = settings.model_copy(
        update={"database": f"{settings.database}_rt", "analyst_user": f"{settings.analyst_user}rt"}
    )
    # the newest revision in migrations/versions (engineers add them concurrently)
    head = ScriptDirectory.from_config(migrate.alembic_config(s)).get_current_head()
    try:
        migrate.upgrade(s)
        assert migrate.current(s) == head
        migrate.downgrade(s, "0005")
        assert migrate.current(s) == "0005"
        migrate.downgrade(s, "base")
        eng = __import__("medhtap.platform.db", fromlist=["write_engine"]).write_engine(s)
        try:
            with eng.connect() as conn:
                tables = set(inspect(conn).get_table_names())
        finally:
            eng.dispose()
        assert tables <= {"alembic_version"}
        migrate.upgrade(s)
        assert migrate.current(s) == head
    finally:
        migrate.downgrade(s, "base")
        migrate.drop_database(s)


def test_policy_is_seeded_with_the_issue_table(engine: Engine) -> None:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT insutype, med_type, hosp_lv, dedc_amt, pool_prop, annual_cap FROM policy "
                "WHERE admdvs = :region ORDER BY insutype, med_type, hosp_lv"
            ),
            # the seeded table; other tests add regions' own policies to the same database
            {"region": DEFAULT_REGION},
        ).all()
    assert len(rows) == 12
    as_str = {(r[0], r[1], r[2]): (str(r[3]), str(r[4]), str(r[5])) for r in rows}
    assert as_str[("310", "outpatient", 3)] == ("1800.00", "0.8000", "20000.00")
    assert as_str[("390", "inpatient", 2)] == ("500.00", "0.7500", "250000.00")


def test_icd10_and_catalog_are_loaded(engine: Engine) -> None:
    with engine.connect() as conn:
        n, name = conn.execute(
            text(
                "SELECT COUNT(*), MAX(CASE WHEN diag_code = 'E11.9' THEN diag_name END) "
                "FROM diagnosis"
            )
        ).one()
    assert n > 12000
    assert name == "Type 2 diabetes mellitus without complications"


def test_cli_db_status_shows_the_real_tidb_version(settings: Settings) -> None:
    env = {**os.environ, "MEDHTAP_DATABASE": settings.database, "COLUMNS": "200"}
    out = subprocess.run(
        [sys.executable, "-m", "medhtap.services.cli", "db", "status", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    info = json.loads(out.stdout)
    assert info["server"] == "tidb"
    assert info["version"].startswith("8.0.11-TiDB-v8.5.0")
    assert info["migration"] == migrate.current(settings)
    assert info["analytic_engine"] in ("tikv", "tiflash")
