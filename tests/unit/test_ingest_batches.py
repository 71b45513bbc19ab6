"""Import batches stay under the keys one TiDB transaction may write (platform/bulk.py)."""

from __future__ import annotations

from pathlib import Path

from medhtap.platform import bulk
from medhtap.services.ingest import load
from medhtap.services.ingest.source import open_source
from medhtap.services.ingest.spec import TABLES


class TestBatchRows:
    def test_a_batch_of_fee_lines_writes_at_most_the_key_limit(self) -> None:
        # the record and the global unique key: 2 keys a line (migration 0026)
        spec = TABLES["fee_detail"]
        assert load.keys_per_row(spec) == 2
        assert load.rows_per_txn(spec) * 2 <= bulk.MAX_TXN_KEYS

    def test_a_settlement_counts_the_keys_of_its_facts(self) -> None:
        assert load.keys_per_row(TABLES["settlement"]) > bulk.keys_per_row(
            TABLES["settlement"].table
        )

    def test_csv_batches_are_cut_at_max_rows_and_cover_the_file(self, tmp_path: Path) -> None:
        # Given a CSV whose bytes would fit in one batch
        f = tmp_path / "fee_lines.csv"
        f.write_text("a,b\n" + "".join(f"{i},x\n" for i in range(25)))
        # When it is read with at most 7 rows a batch
        src = open_source(f, 1000, 1 << 20, max_rows=7)
        got = list(src.batches(0, 0))
        # Then the batches hold 7, 7, 7, 4 rows, in order, ending where the next starts
        assert [b.table.num_rows for b in got] == [7, 7, 7, 4]
        assert [b.end_line for b in got] == [8, 15, 22, 26]
        assert [r for b in got for r in b.table.column("a").to_pylist()] == [
            str(i) for i in range(25)
        ]
        assert got[-1].end_offset == f.stat().st_size
        # and a resume from a batch's end offset reads the rest
        rest = list(src.batches(got[1].end_offset, got[1].end_line))
        assert [b.table.num_rows for b in rest] == [7, 4]
