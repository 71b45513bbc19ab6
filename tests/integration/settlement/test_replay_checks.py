"""A replay never vouches for a settlement the database does not hold (issue 10.2).

A kill -9 of the old local store kept, for some acknowledged settlements, the idempotency
record without the settlement row (or with the visit still open); re-sending the key then
answered 200 with the lost setl_id. The loss is produced here by deleting rows as root.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest
from sqlalchemy import text

from .conftest import HIS, Factory

SERVICE_LOG = "medhtap.services.settlement.idempotency"


def _settled(factory: Factory) -> tuple[str, str, dict[str, Any]]:
    visit = factory.visit(factory.person("310", "500.00"))
    factory.fees(visit, [("TST-DRUG-A", "1", "100.00"), ("TST-EXAM-A", "1", "20.00")])
    key = "k-" + uuid.uuid4().hex
    r = factory.settle(visit, key=key)
    assert r.status_code == 200, r.text
    return visit, key, r.json()


def _cancel(factory: Factory, setl_id: str, key: str) -> Any:
    return factory.client.post(
        f"/v1/settlements/{setl_id}/cancel", headers={**HIS, "Idempotency-Key": key}
    )


def _root(factory: Factory, sql: str, **params: Any) -> None:
    with factory.engine.begin() as conn:
        conn.execute(text(sql), params)


class TestReplayOfALostSettlement:
    def test_missing_settlement_row_is_refused_loudly(
        self, factory: Factory, caplog: pytest.LogCaptureFixture
    ) -> None:
        visit, key, first = _settled(factory)
        _root(factory, "DELETE FROM settlement WHERE setl_id=:s", s=first["setl_id"])
        with caplog.at_level(logging.CRITICAL, logger=SERVICE_LOG):
            r = factory.settle(visit, key=key)
        assert r.status_code == 500, r.text
        assert r.json()["error"]["code"] == "REPLAY_INCONSISTENT"
        assert r.json()["error"]["details"]["setl_id"] == first["setl_id"]
        assert any(
            rec.levelno == logging.CRITICAL and key in rec.getMessage() for rec in caplog.records
        )

    def test_visit_reopened_without_a_cancel_is_refused(self, factory: Factory) -> None:
        visit, key, _ = _settled(factory)
        _root(factory, "UPDATE visit SET vis_status='open' WHERE mdtrt_id=:m", m=visit)
        r = factory.settle(visit, key=key)
        assert r.status_code == 500 and r.json()["error"]["code"] == "REPLAY_INCONSISTENT"

    def test_fee_lines_lost_from_the_settlement_are_refused(self, factory: Factory) -> None:
        visit, key, first = _settled(factory)
        _root(
            factory,
            "UPDATE fee_detail SET fee_status='active', setl_id=NULL WHERE mdtrt_id=:m "
            "AND feedetl_sn='L2'",
            m=visit,
        )
        r = factory.settle(visit, key=key)
        assert r.status_code == 500 and r.json()["error"]["code"] == "REPLAY_INCONSISTENT"
        assert r.json()["error"]["details"]["setl_id"] == first["setl_id"]

    def test_an_intact_settlement_still_replays(self, factory: Factory) -> None:
        visit, key, first = _settled(factory)
        r = factory.settle(visit, key=key)
        assert r.status_code == 200 and r.json()["replay"] is True
        assert {**r.json(), "replay": False} == first


class TestReplayAfterACancel:
    def test_settlement_key_replayed_after_cancel_says_cancelled(self, factory: Factory) -> None:
        visit, key, first = _settled(factory)
        c = _cancel(factory, first["setl_id"], "c-" + key)
        assert c.status_code == 200, c.text
        r = factory.settle(visit, key=key)
        assert r.status_code == 409, r.text
        err = r.json()["error"]
        assert err["code"] == "SETTLEMENT_CANCELLED"
        assert err["details"]["setl_status"] == "cancelled"
        assert err["details"]["setl_id"] == first["setl_id"]
        assert err["details"]["reversal_setl_id"] == c.json()["setl_id"]

    def test_cancel_key_replay_with_its_reversal_lost_is_refused(self, factory: Factory) -> None:
        _, key, first = _settled(factory)
        c = _cancel(factory, first["setl_id"], "c-" + key)
        assert c.status_code == 200, c.text
        _root(factory, "DELETE FROM settlement WHERE setl_id=:s", s=c.json()["setl_id"])
        r = _cancel(factory, first["setl_id"], "c-" + key)
        assert r.status_code == 500 and r.json()["error"]["code"] == "REPLAY_INCONSISTENT"

    def test_cancel_key_replays_while_intact(self, factory: Factory) -> None:
        _, key, first = _settled(factory)
        c = _cancel(factory, first["setl_id"], "c-" + key)
        again = _cancel(factory, first["setl_id"], "c-" + key)
        assert again.status_code == 200 and again.json()["replay"] is True
        assert again.json()["setl_id"] == c.json()["setl_id"]
