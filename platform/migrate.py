"""Run the Alembic migrations programmatically (`medhtap db migrate`, the test database)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

from medhtap.platform.db import make_engine, server_connection, write_engine
from medhtap.platform.settings import REPO_ROOT, Settings

MIGRATIONS_DIR = REPO_ROOT / "migrations"


def alembic_config(settings: Settings) -> Config:
    cfg = Config(str(Path(MIGRATIONS_DIR) / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["settings"] = settings
    cfg.attributes["configure_logging"] = False
    return cfg


def create_database(settings: Settings) -> None:
    with server_connection(settings) as conn:
        conn.execute(text(f"CREATE DATABASE IF NOT EXISTS `{settings.database}`"))


def drop_database(settings: Settings) -> None:
    with server_connection(settings) as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS `{settings.database}`"))


def migration_engine(settings: Settings) -> Engine:
    """The connection migrations run on: no client read timeout. Building an index over a
    city's facts takes minutes to hours (5M facts: past the write engine's 120 s); a
    client that stops waiting loses the migration while TiDB's DDL job goes on, leaving
    the schema changed and alembic_version not."""
    return make_engine(settings.url(), settings=settings, pool_size=1, read_timeout=None)


def _run(settings: Settings, fn: str, revision: str) -> None:
    cfg = alembic_config(settings)
    engine = migration_engine(settings)
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            getattr(command, fn)(cfg, revision)
    finally:
        engine.dispose()


def upgrade(settings: Settings, revision: str = "head") -> None:
    create_database(settings)
    _run(settings, "upgrade", revision)


def downgrade(settings: Settings, revision: str) -> None:
    _run(settings, "downgrade", revision)


def current(settings: Settings) -> str | None:
    engine = write_engine(settings)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()
