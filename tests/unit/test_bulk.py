"""Bulk writes stay under the keys at which TiDB pre-splits a region (platform/bulk.py)."""

from __future__ import annotations

from medhtap.platform import bulk
from medhtap.schema.base import table
from medhtap.schema.facts import SettlementFact
from medhtap.schema.person import InsuredPerson
from medhtap.schema.settlement import Settlement
from medhtap.schema.visit import FeeDetail


class TestKeysPerRow:
    def test_a_unique_column_writes_an_index_entry_too(self) -> None:
        # insured_person: the record, ix_insured_person_admdvs and the unique certno
        assert bulk.keys_per_row(table(InsuredPerson)) == 3

    def test_indexes_and_unique_indexes_count_once_each(self) -> None:
        # the record and the global unique key (no item_code index since migration 0026)
        assert bulk.keys_per_row(table(FeeDetail)) == 2
        assert bulk.keys_per_row(table(Settlement)) == 5
        # the record, recorded_at and (psn_no, setl_time) (migration 0027)
        assert bulk.keys_per_row(table(SettlementFact)) == 3

    def test_rows_per_txn_keeps_every_table_under_the_limit(self) -> None:
        for model in (InsuredPerson, FeeDetail, Settlement, SettlementFact):
            t = table(model)
            assert bulk.rows_per_txn(t) * bulk.keys_per_row(t) <= bulk.MAX_TXN_KEYS
