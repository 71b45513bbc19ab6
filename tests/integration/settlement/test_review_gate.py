"""The review gate on the settlement hot path (issue 12.4): a reviewed 2207 reads the rules
from the reference cache, the visit's lines once (the settlement's own read), and the
person's earlier lines only when an enabled rule reads them for an item of the visit. The
statements of one reviewed settlement are pinned, so the gate cannot silently regrow."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from medhtap.platform.settings import Settings
from medhtap.services.settlement import reference

from .conftest import Factory
from .test_hot_path import one_connection_engine, sent_by, settle

PLAIN = [("XA01BAA001", "2", "35.50"), ("XR06AEA012", "1", "50.00")]  # no interval, no supply
CT = [("S210300001", "1", "200.00")]  # an exam with an interval of 7 days (R005)
# One 2207 of two lines, account used, no review hit: SET TRANSACTION, the key's INSERT,
# visit, person, lines, accumulators, settlement, lines' UPDATE, accumulator, fund detail,
# balance, ledger, visit status, fact, item facts, audit, the key's UPDATE, COMMIT.
SETTLEMENT = 18


@pytest.fixture
def warm(settings: Settings, factory: Factory) -> Iterator[Engine]:
    """A one-connection engine that settled once (connection, reference cache warm)."""
    e = one_connection_engine(settings, 3600.0)
    reference.clear()
    settle(e, visit_of(factory, factory.person(balance="500.00"), PLAIN))
    yield e
    e.dispose()


@pytest.fixture
def history_rules_off(engine: Engine) -> Iterator[None]:
    """R005 (exam frequency) and R006 (supply overlap) disabled, the cache told so (ask
    for it before `warm`, whose cache the clearing would empty)."""
    with engine.begin() as conn:
        conn.execute(text("UPDATE review_rule SET enabled = 0 WHERE rule_id IN ('R005', 'R006')"))
    reference.clear()
    yield
    with engine.begin() as conn:
        conn.execute(text("UPDATE review_rule SET enabled = 1 WHERE rule_id IN ('R005', 'R006')"))
    reference.clear()


def visit_of(factory: Factory, psn_no: str, lines: list[tuple[str, str, str]]) -> str:
    mdtrt_id = factory.visit(psn_no)
    factory.fees(mdtrt_id, lines)
    return mdtrt_id


def queries(engine: Engine, mdtrt_id: str) -> list[str]:
    """The SQL text of every query one settlement of the visit sends."""
    return [q for c, q in sent_by(lambda: settle(engine, mdtrt_id)) if c == 3]


def fee_reads(sent: list[str]) -> list[str]:
    return [q for q in sent if q.lstrip().upper().startswith("SELECT") and "fee_detail" in q]


def history_reads(sent: list[str]) -> list[str]:
    return [q for q in fee_reads(sent) if "psn_no" in q]


class TestAReviewedSettlement:
    def test_reads_the_lines_once_and_the_rules_from_the_cache(
        self, factory: Factory, warm: Engine
    ) -> None:
        sent = queries(warm, visit_of(factory, factory.person(balance="500.00"), PLAIN))
        assert len(fee_reads(sent)) == 1, sent
        assert not [q for q in sent if "review_rule" in q], sent
        assert len(sent) == SETTLEMENT, sent

    def test_reads_the_history_for_an_exam_with_an_interval(
        self, factory: Factory, warm: Engine
    ) -> None:
        sent = queries(warm, visit_of(factory, factory.person(balance="500.00"), PLAIN + CT))
        assert len(history_reads(sent)) == 1, sent
        assert len(sent) == SETTLEMENT + 1, sent

    def test_reads_no_history_when_no_enabled_rule_reads_it(
        self, factory: Factory, history_rules_off: None, warm: Engine
    ) -> None:
        sent = queries(warm, visit_of(factory, factory.person(balance="500.00"), PLAIN + CT))
        assert history_reads(sent) == [], sent
        assert len(sent) == SETTLEMENT, sent

    def test_a_warning_adds_only_its_upsert(self, factory: Factory, warm: Engine) -> None:
        """A warning never blocks: its handling so far is not read (a forbidden hit's is,
        tests/integration/national/test_review.py TestSettlementGate)."""
        psn_no = factory.person(balance="500.00")
        settle(warm, visit_of(factory, psn_no, CT))
        again = visit_of(factory, psn_no, PLAIN + CT)  # the same CT the same day: R005 warns
        sent = queries(warm, again)
        assert [q.split()[0] for q in sent if "review_result" in q] == ["INSERT"], sent
        assert len(sent) == SETTLEMENT + 2, sent
        assert (
            factory.scalar("SELECT rule_id FROM review_result WHERE mdtrt_id = :m", m=again)
            == "R005"
        )
