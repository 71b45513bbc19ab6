"""The synthetic loader keeps the money invariants and is idempotent per seed."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Engine, text

from medhtap.analytics.synthetic import load_synthetic
from medhtap.platform.capabilities import table_regions


def test_loads_consistent_rows_once_per_seed(engine: Engine) -> None:
    # 2020: before every test window, so no other test sees these rows
    with engine.connect() as conn:
        started = conn.execute(text("SELECT NOW(6)")).scalar_one()
    stats = load_synthetic(engine, visits=400, seed=907, start=dt.date(2020, 1, 2), days=200)
    assert not stats.skipped and stats.rows["visit"] == 400
    assert stats.rows["fee_detail"] >= 400 * 2 and stats.rows["insured_person"] == 80
    checks = {
        "line split != amount": "SELECT COUNT(*) FROM fee_detail WHERE mdtrt_id LIKE '%S907V%' "
        "AND fee_status = 'settled' AND fulamt_ownpay_amt + overlmt_selfpay "
        "+ preselfpay_amt + inscp_scp_amt <> det_item_fee_sumamt",
        "settlement != its lines": "SELECT COUNT(*) FROM settlement s JOIN (SELECT setl_id, "
        "SUM(det_item_fee_sumamt) a, SUM(inscp_scp_amt) i, SUM(fulamt_ownpay_amt) f "
        "FROM fee_detail WHERE fee_status = 'settled' AND mdtrt_id LIKE '%S907V%' "
        "GROUP BY setl_id) l ON l.setl_id = s.setl_id WHERE s.medfee_sumamt <> l.a "
        "OR s.inscp_scp_amt <> l.i OR s.fulamt_ownpay_amt <> l.f",
        "person share": "SELECT COUNT(*) FROM settlement WHERE psn_no LIKE 'SY907%' AND ("
        "psn_part_amt <> acct_pay + psn_cash_pay OR medfee_sumamt - hifp_pay <> psn_part_amt)",
        "reversal != -original": "SELECT COUNT(*) FROM settlement r JOIN settlement o "
        "ON o.setl_id = r.orig_setl_id WHERE r.psn_no LIKE 'SY907%' "
        "AND (r.medfee_sumamt <> -o.medfee_sumamt OR o.setl_status <> 'cancelled')",
        # facts: +1 per settlement with its money, -1 per cancel; the kinds sum to the total
        "fact != settlement": "SELECT COUNT(*) FROM settlement s LEFT JOIN setl_fact f "
        "ON f.setl_id = s.setl_id AND f.sign = 1 WHERE s.psn_no LIKE 'SY907%' "
        "AND s.setl_type = 'normal' AND (f.setl_id IS NULL OR f.medfee_sumamt <> s.medfee_sumamt "
        "OR f.hifp_pay <> s.hifp_pay OR f.acct_pay <> s.acct_pay "
        "OR f.drug_amt + f.material_amt + f.service_amt <> s.medfee_sumamt)",
        "net facts != standing": "SELECT COUNT(*) FROM (SELECT f.setl_id, SUM(f.sign) n, "
        "MAX(s.setl_status) st FROM setl_fact f JOIN settlement s ON s.setl_id = f.setl_id "
        "WHERE f.psn_no LIKE 'SY907%' GROUP BY f.setl_id) x "
        "WHERE x.n <> IF(x.st = 'settled', 1, 0)",
        # standing: 1 exactly on the +1 fact of a settlement that stands
        "standing": "SELECT COUNT(*) FROM setl_fact f JOIN settlement s "
        "ON s.setl_id = f.setl_id WHERE f.psn_no LIKE 'SY907%' "
        "AND f.standing <> IF(f.sign = 1 AND s.setl_status = 'settled', 1, 0)",
        # item facts: the settled lines of each standing settlement summed per item, both
        # ways; with the -1 rows, a settlement's item facts sum to its net fact
        "item fact != its lines": "SELECT COUNT(*) FROM setl_item_fact i JOIN settlement s "
        "ON s.setl_id = i.setl_id AND s.setl_status = 'settled' LEFT JOIN (SELECT setl_id, "
        "item_code, SUM(det_item_fee_sumamt) a, SUM(cnt) q FROM fee_detail WHERE "
        "fee_status = 'settled' AND mdtrt_id LIKE '%S907V%' GROUP BY setl_id, item_code) l "
        "ON l.setl_id = i.setl_id AND l.item_code = i.item_code WHERE i.setl_id LIKE '%S907V%' "
        "AND (i.sign <> 1 OR l.setl_id IS NULL OR l.a <> i.det_item_fee_sumamt OR l.q <> i.cnt)",
        "lines without an item fact": "SELECT COUNT(*) FROM fee_detail l LEFT JOIN "
        "setl_item_fact i ON i.setl_id = l.setl_id AND i.item_code = l.item_code AND i.sign = 1 "
        "WHERE l.mdtrt_id LIKE '%S907V%' AND l.fee_status = 'settled' AND i.setl_id IS NULL",
        "item facts != net fact": "SELECT COUNT(*) FROM (SELECT setl_id, SUM(medfee_sumamt) m "
        "FROM setl_fact WHERE psn_no LIKE 'SY907%' GROUP BY setl_id) f LEFT JOIN (SELECT "
        "setl_id, SUM(det_item_fee_sumamt) a, SUM(sign) n FROM setl_item_fact WHERE setl_id "
        "LIKE '%S907V%' GROUP BY setl_id) i ON i.setl_id = f.setl_id "
        "WHERE COALESCE(i.a, 0) <> f.m",
        # recorded when loaded, not at the (historical) settlement time: the rollups'
        # watermark relies on it
        "recorded before the load": "SELECT COUNT(*) FROM setl_fact WHERE psn_no LIKE 'SY907%' "
        f"AND recorded_at < '{started}'",
    }
    with engine.connect() as conn:
        for name, sql in checks.items():
            assert conn.execute(text(sql)).scalar() == 0, name
        kinds = dict(
            conn.execute(
                text(
                    "SELECT setl_type, COUNT(*) FROM settlement WHERE psn_no LIKE 'SY907%' "
                    "GROUP BY setl_type"
                )
            ).all()
        )
    assert kinds["normal"] == 400 and 0 < kinds.get("reversal", 0) < 40
    again = load_synthetic(engine, visits=400, seed=907, start=dt.date(2020, 1, 2), days=200)
    assert again.skipped


def test_a_large_load_leaves_every_table_in_one_region(engine: Engine, settings) -> None:
    """TiDB splits a region under a transaction of 100,000 keys and 32 MiB: 20,000 visits'
    fee lines in one LOAD DATA were enough, and a second region ends the local store's
    crash-safe layout (platform/bulk.py). The loader keeps each LOAD DATA below that."""
    stats = load_synthetic(
        engine, visits=20_000, seed=908, start=dt.date(2020, 9, 1), days=90, chunk_visits=20_000
    )
    assert stats.rows["fee_detail"] > 80_000
    with engine.connect() as conn:
        split = {
            table: len(ids)
            for table, ids in table_regions(conn, settings.database).items()
            if len(ids) > 1
        }
    assert split == {}


def test_a_facts_only_load_writes_the_facts_a_full_load_would(engine: Engine) -> None:
    """The 5M-visit report benchmark loads persons and facts only (the report reads
    nothing else); the rows are still made with the money rules, so the facts equal a full
    load's: seed 909 loaded facts-only, then removed and loaded in full, gives the same."""
    span: dict[str, Any] = {"visits": 300, "start": dt.date(2020, 6, 1), "days": 60}
    facts = (
        "SELECT COUNT(*), SUM(sign), SUM(standing), SUM(medfee_sumamt), SUM(hifp_pay), "
        "SUM(acct_pay), SUM(drug_amt), SUM(material_amt), COUNT(DISTINCT psn_no), "
        "COUNT(DISTINCT setl_id) FROM setl_fact WHERE psn_no LIKE 'SY909%'"
    )
    only = load_synthetic(engine, seed=909, tables=("insured_person", "setl_fact"), **span)
    assert only.rows["visit"] == only.rows["fee_detail"] == only.rows["settlement"] == 0
    with engine.begin() as conn:
        assert (
            conn.execute(text("SELECT COUNT(*) FROM visit WHERE psn_no LIKE 'SY909%'")).scalar()
            == 0
        )
        first = conn.execute(text(facts)).one()
        conn.execute(text("DELETE FROM setl_fact WHERE psn_no LIKE 'SY909%'"))
        conn.execute(text("DELETE FROM insured_person WHERE psn_no LIKE 'SY909%'"))
    full = load_synthetic(engine, seed=909, **span)
    assert full.rows["visit"] == 300 and full.rows["setl_fact"] == only.rows["setl_fact"]
    with engine.connect() as conn:
        assert conn.execute(text(facts)).one() == first
    assert first[0] > 300 and first[3] > 0
    with pytest.raises(ValueError, match="not a generated table"):
        load_synthetic(engine, seed=911, tables=("audit_log",), **span)
