"""Run the Alembic migrations programmatically (`medhtap db migrate`, the test database)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from medhtap.platform.db import server_connection, write_engine
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


def _run(settings: Settings, fn: str, revision: str) -> None:
    cfg = alembic_config(settings)
    engine = write_engine(settings)
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
