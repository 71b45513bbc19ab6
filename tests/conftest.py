"""Test database: a real TiDB server, a fresh database built by running the migrations.

The server is MEDHTAP_DSN's cluster when set, else the local tidb-server (started if needed,
as `medhtap db up` does). Each pytest run gets its own database and analyst account, so
runs and developers sharing one server never see each other's rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Engine, text

from medhtap.platform import localdb, migrate
from medhtap.platform.db import make_engine, write_engine
from medhtap.platform.settings import Settings, get_settings
from medhtap.schema.seed import seed_reference

RUN_ID = uuid.uuid4().hex[:8]
# No per-example time limit: on a shared 2-core host an example's time says nothing about
# the code (performance claims live in bench/), and a deadline only makes tests flaky.
hypothesis_settings.register_profile("medhtap", deadline=None)
hypothesis_settings.load_profile("medhtap")


@pytest.fixture(scope="session")
def settings() -> Iterator[Settings]:
    base = get_settings()
    localdb.up(base, say=lambda m: print(f"[tidb] {m}"))
    s = base.model_copy(
        update={
            "database": f"medhtap_test_{RUN_ID}",
            "analyst_user": f"analyst_{RUN_ID}",
            # alerts appear only when a test runs the rules (test_risk_watch starts its own)
            "risk_watch_s": 0.0,
        }
    )
    migrate.upgrade(s)
    engine = write_engine(s)
    with engine.begin() as conn:
        seed_reference(conn)
    engine.dispose()
    yield s
    migrate.downgrade(s, "base")  # proves every downgrade runs, then removes the rest
    migrate.drop_database(s)


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[Engine]:
    e = write_engine(settings)
    yield e
    e.dispose()


@pytest.fixture(scope="session")
def analyst_engine(settings: Settings) -> Iterator[Engine]:
    e = make_engine(settings.analyst_url(), settings=settings, pool_size=2)
    yield e
    e.dispose()


@pytest.fixture(scope="session")
def client(settings: Settings) -> Iterator[TestClient]:
    from medhtap.services.api import create_app

    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


ADMIN = {"X-API-Key": "dev-admin-key"}
HIS = {"X-API-Key": "dev-his-key"}
ANALYST = {"X-API-Key": "dev-analyst-key"}
MANAGER = {"X-API-Key": "dev-manager-key"}


def count(engine: Engine, sql: str, **params: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar_one())
