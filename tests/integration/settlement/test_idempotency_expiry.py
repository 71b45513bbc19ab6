"""Idempotency records expire (issue 13.3): a key replays for MEDHTAP_IDEMPOTENCY_TTL_DAYS
days; once its record is gone, the same key is a new request. TiDB's TTL option where the
server runs TTL jobs (this one does), a bounded purge everywhere."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from medhtap.platform.settings import Settings
from medhtap.services.settlement import expiry

from .conftest import EXAMPLE_LINES, HIS, Factory


@pytest.fixture
def ttl_paused(engine: Engine, settings: Settings) -> Iterator[None]:
    """The server's TTL job off for this table, so only the purge deletes (exact counts);
    the setting's TTL is back afterwards."""
    with engine.begin() as conn:
        if expiry.mode(conn) == "ttl":
            conn.execute(text(f"ALTER TABLE {expiry.TABLE} TTL_ENABLE = 'OFF'"))
    try:
        yield
    finally:
        with engine.begin() as conn:
            if expiry.mode(conn) == "ttl":
                conn.execute(text(expiry.ttl_ddl(settings.idempotency_ttl_days)))


def _backdate(engine: Engine, key: str, days: int) -> int:
    with engine.begin() as conn:
        return conn.execute(
            text(
                "UPDATE idempotency_record SET created_at = NOW(6) - INTERVAL :d DAY "
                "WHERE idem_key LIKE :k"
            ),
            {"d": days, "k": f"%:{key}"},
        ).rowcount


def _records(engine: Engine, key: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT COUNT(*) FROM idempotency_record WHERE idem_key LIKE :k"),
                {"k": f"%:{key}"},
            ).scalar_one()
        )


class TestTheStoreExpiresRecords:
    def test_the_migrated_table_carries_the_configured_ttl(
        self, engine: Engine, settings: Settings
    ) -> None:
        with engine.connect() as conn:
            assert expiry.mode(conn) == "ttl"  # TiDB with its TTL job on, unistore included
            assert expiry.table_ttl_days(conn) == settings.idempotency_ttl_days
            ddl = conn.execute(text(f"SHOW CREATE TABLE {expiry.TABLE}")).one()[1]
        assert "TTL_ENABLE='ON'" in ddl and "ix_idempotency_record_created_at" in ddl

    def test_a_changed_setting_is_applied_at_start(
        self, engine: Engine, settings: Settings
    ) -> None:
        days = settings.idempotency_ttl_days + 5
        try:
            assert expiry.ensure(engine, days) == "ttl"
            with engine.connect() as conn:
                assert expiry.table_ttl_days(conn) == days
        finally:
            expiry.ensure(engine, settings.idempotency_ttl_days)


@pytest.mark.usefixtures("ttl_paused")
class TestReplayUntilExpiry:
    def test_a_key_replays_within_the_ttl_and_is_a_new_request_after_it(
        self, factory: Factory, engine: Engine, settings: Settings
    ) -> None:
        """Given a settled visit, when its key is re-sent within the TTL, then the stored
        answer replays; once the record expired and was purged, the same key is a new
        request: 409 ALREADY_SETTLED while the visit is settled, a new settlement after the
        settlement was cancelled. A fresh key still replays after the purge."""
        days = settings.idempotency_ttl_days
        psn = factory.person("310", "100.00")
        old, fresh = factory.visit(psn), factory.visit(psn)
        factory.fees(old, EXAMPLE_LINES)
        factory.fees(fresh, EXAMPLE_LINES)
        key, other = uuid.uuid4().hex, uuid.uuid4().hex
        first = factory.settle(old, key=key)
        assert first.status_code == 200, first.text
        assert factory.settle(fresh, key=other).status_code == 200
        again = factory.settle(old, key=key)
        assert again.status_code == 200 and again.json()["replay"] is True
        assert again.json()["setl_id"] == first.json()["setl_id"]

        assert _backdate(engine, key, days - 1) == 1  # not yet expired: kept, replays
        assert expiry.purge_expired(engine, days) == 0
        assert factory.settle(old, key=key).json()["replay"] is True

        assert _backdate(engine, key, days + 1) == 1
        assert expiry.purge_expired(engine, days) == 1
        assert _records(engine, key) == 0 and _records(engine, other) == 1
        r = factory.settle(old, key=key)
        assert r.status_code == 409 and r.json()["error"]["code"] == "ALREADY_SETTLED"
        assert factory.settle(fresh, key=other).json()["replay"] is True

        setl_id = first.json()["setl_id"]
        cancel = factory.client.post(
            f"/v1/settlements/{setl_id}/cancel",
            headers={**HIS, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert cancel.status_code == 200, cancel.text
        anew = factory.settle(old, key=key)
        assert anew.status_code == 200 and anew.json()["replay"] is False
        assert anew.json()["setl_id"] != setl_id

    def test_the_purge_is_bounded_per_call(self, engine: Engine, settings: Settings) -> None:
        """25 expired records, batches of 10, at most 2 batches: 20 go, the next call takes
        the other 5; a record inside the TTL stays."""
        days, tag = settings.idempotency_ttl_days, uuid.uuid4().hex
        rows = [{"k": f"test:{tag}:{n}", "d": days + 1 + n % 3} for n in range(25)] + [
            {"k": f"test:{tag}:kept", "d": days - 1}
        ]
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO idempotency_record (idem_key, request_hash, status_code,"
                    " response, created_at) VALUES (:k, 'h', 200, :r, NOW(6) - INTERVAL :d DAY)"
                ),
                [r | {"r": json.dumps({})} for r in rows],
            )
        assert expiry.purge_expired(engine, days, batch=10, max_batches=2) == 20
        assert _records(engine, tag + ":%") == 6
        assert expiry.purge_expired(engine, days, batch=10, max_batches=2) == 5
        assert _records(engine, tag + ":%") == 1

    def test_the_cli_purges_what_expired(
        self, engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from medhtap.services import cli as cli_mod

        tag, days = uuid.uuid4().hex, settings.idempotency_ttl_days
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO idempotency_record (idem_key, request_hash, status_code,"
                    " response, created_at) VALUES (:k, 'h', 200, '{}', NOW(6) - INTERVAL :d DAY)"
                ),
                [{"k": f"test:{tag}:old", "d": days + 2}, {"k": f"test:{tag}:new", "d": 0}],
            )
        monkeypatch.setattr(cli_mod, "get_settings", lambda: settings)
        res = CliRunner().invoke(cli_mod.app, ["db", "purge-idempotency"])
        assert res.exit_code == 0, res.output
        assert "purged 1 idempotency records (expiry on this store: ttl)" in res.output
        assert _records(engine, tag + ":%") == 1
