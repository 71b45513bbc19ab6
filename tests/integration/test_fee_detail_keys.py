"""fee_detail after migration 0026 (no item_code index): every constraint and plan it had.

The index went because it slowed every load and no plan read it (bench/load_speed.py); what
the lines rely on stays: the global unique (mdtrt_id, feedetl_sn) across monthly partitions,
the primary key, LOAD DATA LOCAL skipping a line that is already there, and a visit's lines
read through the global unique index.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from medhtap.platform import bulk
from medhtap.platform.db import bulk_connection
from medhtap.platform.settings import Settings
from medhtap.schema.base import table
from medhtap.schema.visit import FeeDetail
from medhtap.services.settlement import statements

INSERT = text(
    "INSERT INTO fee_detail (mdtrt_id, feedetl_sn, item_code, cnt, pric, det_item_fee_sumamt, "
    "fee_ocur_time, fee_status, fulamt_ownpay_amt, overlmt_selfpay, preselfpay_amt, "
    "inscp_scp_amt) VALUES (:m, :sn, 'X01', 1, 10, 10.00, :t, 'active', 0, 0, 0, 0)"
)
JAN = dt.datetime(2026, 1, 15, 9, 0)
MAR = dt.datetime(2026, 3, 15, 9, 0)  # another monthly partition


@pytest.fixture
def visit_id(engine: Engine) -> Iterator[str]:
    m = f"KEYS{uuid.uuid4().hex[:20]}"
    yield m
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM fee_detail WHERE mdtrt_id = :m"), {"m": m})


def lines(engine: Engine, m: str) -> int:
    with engine.connect() as conn:
        n = conn.execute(text("SELECT COUNT(*) FROM fee_detail WHERE mdtrt_id = :m"), {"m": m})
        return int(n.scalar_one())


class TestGlobalUniqueStillRefusesADuplicate:
    def test_given_a_line_when_the_same_line_number_comes_in_another_month_then_refused(
        self, engine: Engine, visit_id: str
    ) -> None:
        with engine.begin() as conn:
            conn.execute(INSERT, {"m": visit_id, "sn": "1", "t": JAN})
        with pytest.raises(IntegrityError) as err, engine.begin() as conn:
            conn.execute(INSERT, {"m": visit_id, "sn": "1", "t": MAR})
        orig = err.value.orig
        assert orig is not None and orig.args[0] == 1062
        assert "uq_fee_detail_mdtrt_id_feedetl_sn" in str(orig)
        assert lines(engine, visit_id) == 1

    def test_given_a_line_when_load_data_brings_it_again_then_skipped_with_a_warning(
        self, engine: Engine, settings: Settings, visit_id: str
    ) -> None:
        with engine.begin() as conn:
            conn.execute(INSERT, {"m": visit_id, "sn": "1", "t": JAN})
        row = "\t".join([visit_id, "{sn}", "X01", "1", "10", "10.00", "{t}", "active"] + ["0"] * 4)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "lines.tsv"
            path.write_text(
                row.format(sn="1", t=f"{MAR:%Y-%m-%d %H:%M:%S}")
                + "\n"
                + row.format(sn="2", t=f"{MAR:%Y-%m-%d %H:%M:%S}")
                + "\n"
            )
            conn = bulk_connection(settings.url(), autocommit=True)
            try:
                cur = conn.cursor()
                inserted = cur.execute(
                    "LOAD DATA LOCAL INFILE %s INTO TABLE fee_detail "
                    "FIELDS TERMINATED BY '\\t' (mdtrt_id, feedetl_sn, item_code, cnt, pric, "
                    "det_item_fee_sumamt, fee_ocur_time, fee_status, fulamt_ownpay_amt, "
                    "overlmt_selfpay, preselfpay_amt, inscp_scp_amt)",
                    (str(path),),
                )
                cur.execute("SHOW WARNINGS")
                codes = [int(w[1]) for w in cur.fetchall()]
            finally:
                conn.close()
        # LOCAL means IGNORE in TiDB (parser.y): the duplicate line is skipped, not loaded
        assert inserted == 1 and codes == [1062]
        assert lines(engine, visit_id) == 2


class TestTheIndexesThatStay:
    def test_the_item_code_index_is_gone_and_the_keys_are_two_per_line(
        self, engine: Engine
    ) -> None:
        with engine.connect() as conn:
            names = {ix["name"] for ix in inspect(conn).get_indexes("fee_detail")}
        assert names == {"uq_fee_detail_mdtrt_id_feedetl_sn"}
        assert bulk.keys_per_row(table(FeeDetail)) == 2
        assert bulk.rows_per_txn(table(FeeDetail)) * 2 <= bulk.MAX_TXN_KEYS

    def test_a_visits_lines_are_still_read_through_the_global_unique_index(
        self, engine: Engine
    ) -> None:
        sql = statements.ACTIVE_LINES.sql.replace("%s", "'x'")
        with engine.connect() as conn:
            plan = "\n".join(
                str(r[0]) + " " + str(r[3]) for r in conn.execute(text("EXPLAIN " + sql))
            )
        assert "index:uq_fee_detail_mdtrt_id_feedetl_sn" in plan
