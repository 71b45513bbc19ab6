"""Managers close a risk alert with a reason; the closing is audited in the same transaction,
later rule runs leave it closed, and `medhtap risk watch` runs the watcher in the foreground."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from medhtap.analytics import risk
from medhtap.platform.settings import Settings

MANAGER = {"X-API-Key": "dev-manager-key"}
ANALYST = {"X-API-Key": "dev-analyst-key"}
ADMIN = {"X-API-Key": "dev-admin-key"}


def open_alert(read_engine: Engine, engine: Engine, factory, window) -> tuple[int, str]:
    """A person billed the very same line twice: one duplicate_charge alert; its id."""
    p = factory.person()
    factory.visit(
        p, begntime=window.at(4), lines=[("XA10BAA003", 1, "30.00"), ("XA10BAA003", 1, "30.00")]
    )
    risk.run_rules(read_engine, engine, window.date_from, window.date_to, ["duplicate_charge"])
    with engine.connect() as conn:
        alert_id = conn.execute(
            text("SELECT id FROM risk_alert WHERE psn_no = :p AND alert_status = 'open'"),
            {"p": p},
        ).scalar_one()
    return int(alert_id), p


def audit_rows(engine: Engine, alert_id: int) -> list:
    with engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT actor, action, detail, request_id FROM audit_log "
                    "WHERE entity = 'risk_alert' AND entity_id = :id"
                ),
                {"id": str(alert_id)},
            )
        )


class TestCloseAlert:
    def test_a_manager_closes_an_alert_and_the_closing_is_audited(
        self, client: TestClient, read_engine: Engine, engine: Engine, factory, window
    ) -> None:
        alert_id, psn_no = open_alert(read_engine, engine, factory, window)
        r = client.post(
            f"/v1/risk/alerts/{alert_id}/close",
            headers={**MANAGER, "X-Request-ID": "close-1"},
            json={"reason": "  checked with the hospital: a data-entry error  "},
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["id"] == alert_id and body["alert_status"] == "closed"
        assert body["reason"] == "checked with the hospital: a data-entry error"
        assert body["closed_by"] and body["closed_at"]

        listed = client.get(f"/v1/risk/alerts?psn_no={psn_no}&status=closed", headers=ANALYST)
        assert [a["id"] for a in listed.json()["alerts"]] == [alert_id]
        [row] = audit_rows(engine, alert_id)
        assert row.actor == body["closed_by"] and row.action == "alert_close"
        assert row.request_id == "close-1"
        detail = row.detail if isinstance(row.detail, dict) else json.loads(row.detail)
        assert detail["reason"] == body["reason"]

    def test_a_later_full_run_neither_reopens_nor_duplicates_the_closed_alert(
        self, client: TestClient, read_engine: Engine, engine: Engine, factory, window
    ) -> None:
        alert_id, psn_no = open_alert(read_engine, engine, factory, window)
        r = client.post(
            f"/v1/risk/alerts/{alert_id}/close", headers=ADMIN, json={"reason": "known case"}
        )
        assert r.status_code == 200, r.text
        again = client.post(
            "/v1/risk/run",
            headers=MANAGER,
            json={"from": str(window.date_from), "to": str(window.date_to)},
        )
        assert again.status_code == 200, again.text
        dup = next(x for x in again.json()["rules"] if x["code"] == "duplicate_charge")
        assert dup["findings"] >= 1 and dup["new"] == 0
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT id, alert_status FROM risk_alert WHERE psn_no = :p"), {"p": psn_no}
            ).all()
        assert [(int(i), s) for i, s in rows] == [(alert_id, "closed")]

    def test_closing_twice_is_409_and_writes_one_audit_row(
        self, client: TestClient, read_engine: Engine, engine: Engine, factory, window
    ) -> None:
        alert_id, _ = open_alert(read_engine, engine, factory, window)
        url = f"/v1/risk/alerts/{alert_id}/close"
        assert client.post(url, headers=MANAGER, json={"reason": "first"}).status_code == 200
        r = client.post(url, headers=MANAGER, json={"reason": "second"})
        assert r.status_code == 409
        assert r.json()["error"]["code"] == "ALERT_ALREADY_CLOSED"
        assert len(audit_rows(engine, alert_id)) == 1

    def test_an_unknown_alert_is_404(
        self, client: TestClient, read_engine: Engine, engine: Engine, factory, window
    ) -> None:
        gone, _ = open_alert(read_engine, engine, factory, window)
        with engine.begin() as conn:  # an id that existed and no longer does (never reused)
            conn.execute(text("DELETE FROM risk_alert WHERE id = :i"), {"i": gone})
        r = client.post(f"/v1/risk/alerts/{gone}/close", headers=MANAGER, json={"reason": "x"})
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "ALERT_NOT_FOUND"
        assert audit_rows(engine, gone) == []
        huge = client.post(f"/v1/risk/alerts/{2**64}/close", headers=MANAGER, json={"reason": "x"})
        assert huge.status_code == 422

    @pytest.mark.parametrize("reason", ["", "   ", "x" * 501, None])
    def test_an_empty_or_too_long_reason_is_422_and_the_alert_stays_open(
        self, reason, client: TestClient, read_engine: Engine, engine: Engine, factory, window
    ) -> None:
        alert_id, _ = open_alert(read_engine, engine, factory, window)
        r = client.post(
            f"/v1/risk/alerts/{alert_id}/close", headers=MANAGER, json={"reason": reason}
        )
        assert r.status_code == 422
        assert r.json()["error"]["code"] == "VALIDATION_FAILED"
        with engine.connect() as conn:
            status = conn.execute(
                text("SELECT alert_status FROM risk_alert WHERE id = :i"), {"i": alert_id}
            ).scalar_one()
        assert status == "open" and audit_rows(engine, alert_id) == []

    def test_analysts_may_not_close_alerts(
        self, client: TestClient, read_engine: Engine, engine: Engine, factory, window
    ) -> None:
        alert_id, _ = open_alert(read_engine, engine, factory, window)
        r = client.post(f"/v1/risk/alerts/{alert_id}/close", headers=ANALYST, json={"reason": "no"})
        assert r.status_code == 403

    def test_the_route_documents_its_errors(self, client: TestClient) -> None:
        op = client.get("/openapi.json").json()["paths"]["/v1/risk/alerts/{alert_id}/close"]
        answers = op["post"]["responses"]
        assert {"404", "409", "422", "403"} <= set(answers)
        assert "ALERT_ALREADY_CLOSED" in json.dumps(answers["409"])


def test_risk_watch_command_runs_for_a_bounded_time(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from medhtap.services import cli as cli_mod
    from medhtap.services.analyst import cli as analyst_cli

    monkeypatch.setattr(analyst_cli, "get_settings", lambda: settings)
    res = CliRunner().invoke(cli_mod.app, ["risk", "watch", "--seconds", "2", "--interval", "0.5"])
    assert res.exit_code == 0, res.output
    assert "risk watcher stopped" in res.output
