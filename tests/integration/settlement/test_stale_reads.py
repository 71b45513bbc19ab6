"""A settlement that waited on the visit lock must decide on what was committed meanwhile.

Deterministic races on the real server: one transaction takes the visit lock (a revoke, an
upload or a cancel, through the service's own units) and holds it uncommitted; a settlement
starts in a thread and blocks on that lock (seen in TiDB's processlist); then the first side
commits. In TiDB's pessimistic REPEATABLE READ a plain SELECT reads the transaction's start
snapshot even after the wait, so the settlement used to charge revoked lines, leave uploaded
lines active on a settled visit, and refuse a re-settlement after a cancel (issue 10.1).
The last test guards what READ COMMITTED changes for idempotency keys.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal as D
from typing import Any

from sqlalchemy import Engine, text

from medhtap.platform.db import WriteSession, write_sessionmaker
from medhtap.services.auth import Principal
from medhtap.services.settlement import settling, visits
from medhtap.services.settlement.schemas import FeeBatchIn, SettleIn
from medhtap.services.settlement.units import Caller

from .conftest import Factory

HIS = Caller(Principal("his"))
WAIT_LIMIT_S = 30.0  # a bound on waiting for the blocked state, never a timing assertion


VISIT_LOCK = "SELECT%FROM visit%FOR UPDATE%"
KEY_CLAIM = "INSERT INTO idempotency_record%"


def _blocked(engine: Engine, database: str, statement: str) -> bool:
    """True when a session of this test database is inside `statement` (a LIKE pattern)."""
    with engine.connect() as conn:
        n = conn.execute(
            text(
                "SELECT COUNT(*) FROM information_schema.processlist "
                "WHERE db = :db AND command = 'Query' AND id <> CONNECTION_ID() "
                "AND info LIKE :stmt"
            ),
            {"db": database, "stmt": statement},
        ).scalar_one()
    return int(n) > 0


@contextmanager
def settlement_blocked_behind(
    engine: Engine,
    holder: Callable[[WriteSession], Any],
    settle: Callable[[], Any],
    blocked_in: str = VISIT_LOCK,
) -> Iterator[dict[str, Any]]:
    """Run `holder` in an open transaction (it must lock the visit), start `settle` in a
    thread, wait until it blocks in `blocked_in`, then commit the holder. The caller's
    block runs after the settlement finished; `outcome` has its result or error."""
    outcome: dict[str, Any] = {}
    session = write_sessionmaker(engine)()
    database = engine.url.database or ""
    try:
        holder(session)

        def run() -> None:
            try:
                outcome["result"] = settle()
            except Exception as exc:  # noqa: BLE001 - handed to the test's assertions
                outcome["error"] = exc

        worker = threading.Thread(target=run)
        worker.start()
        deadline = time.monotonic() + WAIT_LIMIT_S
        while not _blocked(engine, database, blocked_in):
            assert worker.is_alive(), f"the settlement did not wait for the lock: {outcome}"
            assert time.monotonic() < deadline, "the settlement never blocked on the visit"
            time.sleep(0.05)
        session.commit()
    finally:
        session.close()
    worker.join(timeout=60)
    assert not worker.is_alive()
    yield outcome


def _settle(engine: Engine, visit: str, key: str | None = None) -> Callable[[], Any]:
    return lambda: settling.settle(
        engine, HIS, visit, key or uuid.uuid4().hex, SettleIn(use_account=False)
    )


def _status(factory: Factory, visit: str) -> dict[str, str]:
    rows = factory.rows("SELECT feedetl_sn, fee_status FROM fee_detail WHERE mdtrt_id=:m", m=visit)
    return {sn: st for sn, st in rows}


class TestSettlementAfterWaitingOnTheVisitLock:
    def test_a_line_revoked_meanwhile_is_not_charged(
        self, factory: Factory, engine: Engine
    ) -> None:
        visit = factory.visit(factory.person())
        factory.fees(visit, [("TST-DRUG-A", "1", "100.00"), ("TST-DRUG-A", "1", "50.00")])

        def revoke(s: WriteSession) -> None:
            visits.revoke_fee_unit(s, HIS, visit, "L2")

        with settlement_blocked_behind(engine, revoke, _settle(engine, visit)) as outcome:
            assert "error" not in outcome, outcome
            out = outcome["result"]
            assert out.medfee_sumamt == D("100.00")
            assert [ln.feedetl_sn for ln in out.lines + out.selfpay_lines] == ["L1"]
        assert _status(factory, visit) == {"L1": "settled", "L2": "revoked"}
        assert factory.scalar(
            "SELECT medfee_sumamt FROM settlement WHERE mdtrt_id=:m", m=visit
        ) == D("100.00")

    def test_a_line_uploaded_meanwhile_is_included(self, factory: Factory, engine: Engine) -> None:
        visit = factory.visit(factory.person())
        factory.fees(visit, [("TST-DRUG-A", "1", "100.00")])
        batch = FeeBatchIn.model_validate(
            {
                "lines": [
                    {
                        "feedetl_sn": "L2",
                        "item_code": "TST-DRUG-A",
                        "cnt": "1",
                        "pric": "50.00",
                        "fee_ocur_time": dt.datetime.now().replace(microsecond=0),
                    }
                ]
            }
        )

        def upload(s: WriteSession) -> None:
            visits.upload_fees_unit(s, HIS, visit, batch)

        with settlement_blocked_behind(engine, upload, _settle(engine, visit)) as outcome:
            assert "error" not in outcome, outcome
            assert outcome["result"].medfee_sumamt == D("150.00")
        # never an active line on a settled visit
        assert _status(factory, visit) == {"L1": "settled", "L2": "settled"}

    def test_a_resettlement_after_a_cancel_sees_the_reopened_lines(
        self, factory: Factory, engine: Engine
    ) -> None:
        visit = factory.visit(factory.person())
        factory.fees(visit, [("TST-DRUG-A", "1", "100.00")])
        first = factory.settle(visit, use_account=False)
        assert first.status_code == 200, first.text
        setl_id = first.json()["setl_id"]

        def cancel(s: WriteSession) -> None:
            settling.cancel_unit(s, HIS, setl_id, uuid.uuid4().hex)

        with settlement_blocked_behind(engine, cancel, _settle(engine, visit)) as outcome:
            assert "error" not in outcome, outcome
            assert outcome["result"].medfee_sumamt == D("100.00")
        assert _status(factory, visit) == {"L1": "settled"}
        assert sorted(
            factory.rows("SELECT setl_type, setl_status FROM settlement WHERE mdtrt_id=:m", m=visit)
        ) == [("normal", "cancelled"), ("normal", "settled"), ("reversal", "reversal")]


def test_a_retry_waiting_on_its_key_replays_the_settlement(
    factory: Factory, engine: Engine
) -> None:
    """At READ COMMITTED a FOR UPDATE of a missing key locks nothing, so the key is claimed
    by an INSERT: a retry of the same key waits on it, then replays the committed answer."""
    visit = factory.visit(factory.person())
    factory.fees(visit, [("TST-DRUG-A", "1", "100.00")])
    key = uuid.uuid4().hex
    first: dict[str, Any] = {}

    def settle_uncommitted(s: WriteSession) -> None:
        first["out"] = settling.settle_unit(s, HIS, visit, key, SettleIn(use_account=False))

    with settlement_blocked_behind(
        engine, settle_uncommitted, _settle(engine, visit, key), blocked_in=KEY_CLAIM
    ) as outcome:
        assert "error" not in outcome, outcome
        assert outcome["result"].replay is True
        assert outcome["result"].setl_id == first["out"].setl_id
    assert factory.scalar("SELECT COUNT(*) FROM settlement WHERE mdtrt_id=:m", m=visit) == 1
