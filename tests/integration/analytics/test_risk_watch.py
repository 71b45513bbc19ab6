"""Risk control as it happens: the API's risk watcher raises an alert for a settlement that
must fire a rule, with no manual run (analytics/watch.py)."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from medhtap.analytics import watch
from medhtap.platform.settings import Settings
from medhtap.services.api import create_app
from medhtap.services.settlement.identity import next_certno

ADMIN = {"X-API-Key": "dev-admin-key"}
HIS = {"X-API-Key": "dev-his-key"}
MANAGER = {"X-API-Key": "dev-manager-key"}
BOUND_S = 120  # generous: the machine is shared; the watcher ticks every 0.5 s here


@pytest.fixture
def watched(settings: Settings) -> Iterator[TestClient]:
    """An API process with its risk watcher on (the session's app has it off)."""
    with TestClient(create_app(settings.model_copy(update={"risk_watch_s": 0.5}))) as c:
        yield c


def settle_identical_lines(client: TestClient) -> str:
    """One outpatient visit billed the very same line twice: duplicate_charge must fire."""
    r = client.post(
        "/v1/persons",
        headers=ADMIN,
        json={
            "certno": next_certno(dt.date(1970, 1, 1), "1"),
            "psn_name": "Watch Person",
            "gend": "1",
            "brdy": "1970-01-01",
            "insutype": "390",
            "admdvs": "110100",
            "acct_balc": "0.00",
        },
    )
    assert r.status_code == 201, r.text
    psn_no = str(r.json()["psn_no"])
    visit = client.post(
        "/v1/visits",
        headers=HIS,
        json={
            "psn_no": psn_no,
            "fixmedins_code": "H11010000001",
            "med_type": "outpatient",
            "dept_name": "Internal medicine",
            "begntime": dt.datetime.now().replace(microsecond=0).isoformat(),
            "main_diag_code": "E11.9",
        },
    ).json()["mdtrt_id"]
    when = dt.datetime.now().replace(microsecond=0).isoformat()
    line = {"item_code": "XA10BAA003", "cnt": "1", "pric": "30.00", "fee_ocur_time": when}
    body = {"lines": [line | {"feedetl_sn": "W1"}, line | {"feedetl_sn": "W2"}]}
    assert client.post(f"/v1/visits/{visit}/fees", headers=HIS, json=body).status_code == 201
    r = client.post(
        f"/v1/visits/{visit}/settlement",
        headers={**HIS, "Idempotency-Key": uuid.uuid4().hex},
        json={"use_account": False},
    )
    assert r.status_code == 200, r.text
    return psn_no


def test_an_alert_appears_for_a_settlement_without_a_manual_run(watched: TestClient) -> None:
    psn_no = settle_identical_lines(watched)
    deadline = time.monotonic() + BOUND_S
    alerts: list[dict] = []
    while time.monotonic() < deadline and not alerts:
        r = watched.get(f"/v1/risk/alerts?rule=duplicate_charge&psn_no={psn_no}", headers=MANAGER)
        assert r.status_code == 200, r.text
        alerts = r.json()["alerts"]
        time.sleep(0.5)
    assert [a["dedupe_key"].split(":")[0] for a in alerts] == ["line"]
    assert alerts[0]["psn_no"] == psn_no and alerts[0]["alert_status"] == "open"


def test_a_pass_moves_the_watermark_and_a_second_one_adds_no_duplicate(
    client: TestClient, read_engine: Engine, engine: Engine
) -> None:
    psn_no = settle_identical_lines(client)
    first = watch.watch_once(read_engine, engine, name=f"test-{uuid.uuid4().hex[:8]}")
    assert first is not None
    again = watch.watch_once(read_engine, engine, name="test-again")
    assert again is not None and sum(r.new for r in again.rules) == 0
    with engine.connect() as conn:
        n = conn.execute(
            text("SELECT COUNT(*) FROM risk_alert WHERE psn_no = :p"), {"p": psn_no}
        ).scalar_one()
        mark = conn.execute(
            text("SELECT recorded_at FROM risk_watermark WHERE name = 'test-again'")
        ).scalar_one()
    assert n == 1  # deduplicated: the second pass refreshed the same alert
    assert mark >= dt.datetime.now() - dt.timedelta(minutes=10)


def _age_facts(engine: Engine, psn_no: str, recorded_s_ago: int, visit_days_ago: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE setl_fact SET recorded_at = NOW(6) - INTERVAL :s SECOND, "
                "begntime = NOW() - INTERVAL :d DAY WHERE psn_no = :p"
            ),
            {"s": recorded_s_ago, "d": visit_days_ago, "p": psn_no},
        )


def test_a_pass_does_not_evaluate_again_what_an_earlier_pass_saw(
    client: TestClient, read_engine: Engine, engine: Engine
) -> None:
    """A fact committed 50 s ago is read by one pass only: the watermark is not a fixed
    look-back (which made every pass re-run a bulk load's last minute, a year of visits)."""
    _age_facts(engine, settle_identical_lines(client), recorded_s_ago=50, visit_days_ago=0)
    name = f"test-{uuid.uuid4().hex[:8]}"
    assert watch.watch_once(read_engine, engine, name=name, margin=dt.timedelta(0)) is not None
    assert watch.watch_once(read_engine, engine, name=name, margin=dt.timedelta(0)) is None


def test_a_pass_covers_at_most_max_days(
    client: TestClient, read_engine: Engine, engine: Engine
) -> None:
    """A settled visit that began 200 days ago (an import of history) does not make the
    pass a 200-day run, which the analyst account's time limit stops at city scale."""
    _age_facts(engine, settle_identical_lines(client), recorded_s_ago=0, visit_days_ago=200)
    out = watch.watch_once(read_engine, engine, name=f"test-{uuid.uuid4().hex[:8]}")
    assert out is not None
    assert out.date_from == dt.date.today() - dt.timedelta(days=watch.MAX_DAYS)


def _run_of(engine: Engine, psn_no: str) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(
                text("SELECT run_id FROM risk_alert WHERE psn_no = :p"), {"p": psn_no}
            ).scalar_one()
        )


@pytest.mark.parametrize("scoped", [True, False], ids=["new-facts", "over-the-cap"])
def test_a_pass_evaluates_only_what_settled_since_its_watermark(
    client: TestClient,
    read_engine: Engine,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    scoped: bool,
) -> None:
    """A pass evaluates the persons, visits and institutions of the facts recorded since its
    watermark, not the whole day again: an alert an earlier pass raised is left alone by a
    pass about someone else (the first version re-ran every rule over all of today's
    settlements and re-stored all of today's alerts every 2 s). Over SCOPE_MAX_FACTS new
    facts a pass evaluates the days in full, and refreshes the earlier alert too."""
    name = f"test-{uuid.uuid4().hex[:8]}"
    first = settle_identical_lines(client)
    assert watch.watch_once(read_engine, engine, name=name, margin=dt.timedelta(0))
    first_run = _run_of(engine, first)
    if not scoped:
        monkeypatch.setattr(watch, "SCOPE_MAX_FACTS", 0)
    second = settle_identical_lines(client)
    out = watch.watch_once(read_engine, engine, name=name, margin=dt.timedelta(0))
    assert out is not None
    assert _run_of(engine, second) == out.run_id  # the new alert
    assert (_run_of(engine, first) == first_run) is scoped
    assert out.meta["scope"] == ("new facts: 1" if scoped else "whole window")
