"""Imported settlements get the analytic facts (setl_fact) that 2207/2208 would have written
for them: reports and risk rules read facts only, so history without them is invisible."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from medhtap.analytics import synthetic
from medhtap.platform.settings import Settings
from medhtap.services.ingest import samples

from .test_ingest import read_rows, run_ingest, write_rows

SEED = 733
VISITS = 400
COLUMNS = synthetic.COLUMN_LISTS["setl_fact"]
COMPARED = [c for c in COLUMNS if c != "recorded_at"]
ITEM_COLUMNS = synthetic.COLUMN_LISTS["setl_item_fact"]


def generated_facts(engine: Engine, table: str = "setl_fact") -> dict[tuple[Any, ...], Any]:
    """The facts (or item facts) the synthetic city computed (facts.settlement_fact and
    facts.item_facts, as 2207 does) for the exports that samples.write_exports makes of the
    same seed."""
    ref = synthetic.read_reference(engine)
    out: dict[tuple[Any, ...], Any] = {}
    columns = synthetic.COLUMN_LISTS[table]
    for chunk in synthetic.generate(
        ref,
        visits=VISITS,
        seed=SEED,
        start=dt.date(2024, 1, 1),
        days=365,
        persons=max(10, VISITS // 5),
        chunk_visits=2_000,
    ):
        for line in chunk.rows[table]:
            row = dict(zip(columns, line.split("\t"), strict=True))
            key = (row["setl_id"], int(row["sign"]), row.get("item_code"))
            out[key[: 3 if table == "setl_item_fact" else 2]] = row
    return out


def stored_items(engine: Engine) -> dict[tuple[Any, ...], dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(f"SELECT {', '.join(ITEM_COLUMNS)} FROM setl_item_fact WHERE setl_id LIKE :p"),
            {"p": f"%S{SEED:03d}V%"},
        ).all()
    return {(r.setl_id, int(r.sign), r.item_code): dict(r._mapping) for r in rows}


def same(stored: Any, generated: str) -> bool:
    if generated == synthetic.NULL:
        return stored is None
    if isinstance(stored, Decimal):
        return stored == Decimal(generated)
    if isinstance(stored, dt.datetime):
        return stored == dt.datetime.fromisoformat(generated)
    return str(stored) == generated


def stored_facts(engine: Engine) -> dict[tuple[str, int], dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(f"SELECT {', '.join(COLUMNS)} FROM setl_fact WHERE mdtrt_id LIKE :p"),
            {"p": f"%S{SEED:03d}V%"},
        ).all()
    return {(r.setl_id, int(r.sign)): dict(r._mapping) for r in rows}


class TestImportedSettlementsGetFacts:
    def test_every_imported_settlement_has_the_fact_2207_computes(
        self, settings: Settings, engine: Engine, tmp_path: Path
    ) -> None:
        # Given exports of synthetic visits, with cancels (a cancelled settlement and its
        # reversal row); in the second half each reversal comes before its original
        paths = samples.write_exports(engine, tmp_path, visits=VISITS, seed=SEED)
        header, rows = read_rows(paths["settlement"])
        half = len(rows) // 2
        write_rows(paths["settlement"], header, rows[:half] + rows[half:][::-1])
        assert sum(r[header.index("setl_type")] == "reversal" for r in rows) >= 3
        with engine.connect() as conn:
            before = conn.execute(text("SELECT NOW(6)")).scalar_one()

        # When they are imported in small batches (pairs fall in one batch or two)
        run_ingest(settings, list(paths.values()), "--batch-mb", "0.002")

        # Then each settlement has its facts, equal to what the settlement service computes
        want = generated_facts(engine)
        got = stored_facts(engine)
        assert set(got) == set(want)
        for key, fact in want.items():
            diff = [c for c in COMPARED if not same(got[key][c], fact[c])]
            assert not diff, (key, {c: (got[key][c], fact[c]) for c in diff})
            assert got[key]["recorded_at"] >= before  # recorded when imported
        # and its item facts, as 2207 and 2208 write them
        want_items, got_items = generated_facts(engine, "setl_item_fact"), stored_items(engine)
        assert set(got_items) == set(want_items) and want_items
        for key, item in want_items.items():
            diff = [c for c in ITEM_COLUMNS if not same(got_items[key][c], item[c])]
            assert not diff, (key, {c: (got_items[key][c], item[c]) for c in diff})

        # And a re-import of history that lost its facts (imported before facts existed)
        # adds the missing ones, and nothing twice
        lost = sorted(want)[:5]
        with engine.begin() as conn:
            for setl_id, sign in lost:
                conn.execute(
                    text("DELETE FROM setl_fact WHERE setl_id = :s AND sign = :g"),
                    {"s": setl_id, "g": sign},
                )
        copy = tmp_path / "settlements_again.csv"
        copy.write_bytes(paths["settlement"].read_bytes() + b"\n")
        run_ingest(settings, [copy])
        assert set(stored_facts(engine)) == set(want)
