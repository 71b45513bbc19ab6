"""Analytic facts (setl_fact) of imported settlements, written in the batch's own
transaction, so reports and risk rules see imported history as they see what 2207 settled.

Each fact comes from `facts.settlement_fact`, the function 2207 uses, fed from what the
batch stored: the settlement row, its visit, its person, the diagnosis' ICD-10 place and
the visit's fee lines (so fee lines are imported before settlements, as `runner.plan`
orders them). A settled row gets its +1 fact; a cancelled one its +1 fact with `standing`
0 (`cancelled_fact`) and, once its reversal row is there too, in this batch or an earlier
one, the -1 fact (`reversal_fact`); which of the pair comes first does not matter. The
lines of a cancelled settlement went back to 'active' without setl_id (2208), so its fact
counts the visit's active lines that no settlement holds.

Each settlement also gets its item facts (`facts.item_facts`: one row per item code of
those same lines, summed; a cancel's negated by `reversal_items`), in the same transaction.

Facts are inserted with IGNORE: a settlement already there keeps the facts it has, and a
re-import of history loaded before facts were written adds the missing ones. recorded_at
is NOW(6), the time the facts reached the platform (analytics/rollup.py relies on it).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from medhtap.platform import bulk
from medhtap.schema.base import table
from medhtap.schema.facts import SettlementFact, SettlementItemFact
from medhtap.schema.settlement import Settlement
from medhtap.services.settlement import facts
from medhtap.services.settlement.rules import SETTLEMENT_AMOUNTS

log = logging.getLogger(__name__)

FACT_COLUMNS = tuple(table(SettlementFact).columns.keys())
ITEM_COLUMNS = tuple(table(SettlementItemFact).columns.keys())
SETTLEMENT_KEYS = bulk.keys_per_row(table(Settlement))
FACT_KEYS = bulk.keys_per_row(table(SettlementFact))
SETTLEMENT = (
    "setl_id",
    "setl_type",
    "setl_status",
    "orig_setl_id",
    "mdtrt_id",
    "psn_no",
    "setl_time",
    "fixmedins_code",
    "hosp_lv",
    "insutype",
    "med_type",
    *SETTLEMENT_AMOUNTS,
)
IN_CHUNK = 2_000  # values per IN list
INSERT_CHUNK = 2_000  # facts per INSERT statement
# a settlement row writes at most two facts (a cancelled one: its +1 and -1)
FACTS_PER_ROW = 2
# and item facts, one per item of its lines (a cancelled one twice): a batch of settlements
# is sized for this many items each (load.keys_per_row); more, and `record` refuses the
# batch rather than pass the transaction key limit (platform/bulk.py)
ITEMS_PER_ROW = 16


def _select(cur: Any, sql: str, values: Iterable[Any]) -> list[dict[str, Any]]:
    """Rows of `sql` (with one `{}` for an IN list) over `values`, as dicts."""
    vals = sorted(set(values))
    out: list[dict[str, Any]] = []
    for i in range(0, len(vals), IN_CHUNK):
        part = vals[i : i + IN_CHUNK]
        cur.execute(sql.format(", ".join(["%s"] * len(part))), part)
        names = [d[0] for d in cur.description]
        out += [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    return out


def _settlements(cur: Any, where: str, values: Iterable[Any]) -> list[dict[str, Any]]:
    cols = ", ".join(SETTLEMENT)
    return _select(cur, f"SELECT {cols} FROM settlement WHERE {where}", values)


def _pairs(
    cur: Any, batch: list[dict[str, Any]]
) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """(original, reversal) of every cancel that a row of the batch belongs to, by the
    original's setl_id, where both rows are stored."""
    by_id = {s["setl_id"]: s for s in batch}
    reversals = {s["orig_setl_id"]: s for s in batch if s["setl_type"] == "reversal"}
    missing = [o for o in reversals if o and o not in by_id]
    origs = {s["setl_id"]: s for s in _settlements(cur, "setl_id IN ({})", missing)}
    origs |= {k: v for k, v in by_id.items() if k in reversals}
    cancelled = {
        s["setl_id"]: s
        for s in batch
        if s["setl_status"] == "cancelled" and s["setl_id"] not in reversals
    }
    if cancelled:
        sql = "mdtrt_id IN ({}) AND setl_type = 'reversal'"
        for r in _settlements(cur, sql, (s["mdtrt_id"] for s in cancelled.values())):
            if r["orig_setl_id"] in cancelled:
                reversals[r["orig_setl_id"]] = r
                origs[r["orig_setl_id"]] = cancelled[r["orig_setl_id"]]
    return {o: (origs[o], r) for o, r in reversals.items() if o in origs}


Plus = tuple[dict[str, Any], list[dict[str, Any]]]  # a +1 fact and its +1 item facts


def _plus_facts(cur: Any, setls: Sequence[dict[str, Any]]) -> dict[str, Plus]:
    """The +1 fact and item facts of each settlement, as 2207 computes them."""
    if not setls:
        return {}
    visits = {
        v["mdtrt_id"]: v
        for v in _select(
            cur,
            "SELECT mdtrt_id, dept_name, begntime, endtime, main_diag_code FROM visit "
            "WHERE mdtrt_id IN ({})",
            (s["mdtrt_id"] for s in setls),
        )
    }
    persons = {
        p["psn_no"]: p
        for p in _select(
            cur,
            "SELECT psn_no, gend, brdy, admdvs FROM insured_person WHERE psn_no IN ({})",
            (s["psn_no"] for s in setls),
        )
    }
    places = {
        d["diag_code"]: facts.Diag(d["block"], d["chapter"])
        for d in _select(
            cur,
            "SELECT diag_code, block, chapter FROM diagnosis WHERE diag_code IN ({})",
            (v["main_diag_code"] for v in visits.values()),
        )
    }
    lines: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ln in _select(
        cur,
        "SELECT mdtrt_id, setl_id, fee_status, item_code, det_item_fee_sumamt, cnt FROM fee_detail "
        "WHERE mdtrt_id IN ({})",
        visits,
    ):
        lines[ln["mdtrt_id"]].append(ln)
    kinds = {
        k["item_code"]: k["item_kind"]
        for k in _select(
            cur,
            "SELECT item_code, item_kind FROM catalog_item WHERE item_code IN ({})",
            (ln["item_code"] for ls in lines.values() for ln in ls),
        )
    }
    out = {}
    for s in setls:
        visit = visits.get(s["mdtrt_id"])
        person = persons.get(s["psn_no"])
        if visit is None or person is None:
            log.warning("settlement %s: no stored visit or person, so no fact", s["setl_id"])
            continue
        if s["setl_status"] == "cancelled":
            held = [
                ln
                for ln in lines[s["mdtrt_id"]]
                if ln["setl_id"] is None and ln["fee_status"] == "active"
            ]
        else:
            held = [ln for ln in lines[s["mdtrt_id"]] if ln["setl_id"] == s["setl_id"]]
        fact = facts.settlement_fact(
            s,
            visit,
            person,
            places[visit["main_diag_code"]],
            ((kinds[ln["item_code"]], ln["det_item_fee_sumamt"]) for ln in held),
        )
        items = facts.item_facts(
            fact, ((ln["item_code"], ln["det_item_fee_sumamt"], ln["cnt"]) for ln in held)
        )
        out[s["setl_id"]] = (fact, items)
    return out


def build(cur: Any, setl_ids: Iterable[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The facts and the item facts of the stored settlements `setl_ids` (and of the
    cancels they belong to)."""
    batch = _settlements(cur, "setl_id IN ({})", setl_ids)
    pairs = _pairs(cur, batch)
    normal = [s for s in batch if s["setl_type"] != "reversal"]
    need = {s["setl_id"]: s for s in normal} | {o: p[0] for o, p in pairs.items()}
    plus = _plus_facts(cur, list(need.values()))
    rows, items = [], []
    for s in normal:
        if s["setl_id"] in plus:
            fact, its = plus[s["setl_id"]]
            rows.append(facts.cancelled_fact(fact) if s["setl_status"] == "cancelled" else fact)
            items += its
    for orig_id, (_, rev) in pairs.items():
        if orig_id in plus:
            when: dt.datetime = rev["setl_time"]
            fact, its = plus[orig_id]
            rows.append(facts.reversal_fact(fact, rev["setl_id"], when))
            items += facts.reversal_items(its)
    return rows, items


def _insert(cur: Any, name: str, cols: Sequence[str], tail: str, rows: Sequence[Any]) -> int:
    head = f"INSERT IGNORE INTO {name} ({', '.join(cols)}{tail and ', recorded_at'}) VALUES "
    one = "(" + ", ".join(["%s"] * len(cols)) + (", NOW(6))" if tail else ")")
    done = 0
    for i in range(0, len(rows), INSERT_CHUNK):
        part = rows[i : i + INSERT_CHUNK]
        values = ", ".join(cur.mogrify(one, [r[c] for c in cols]) for r in part)
        done += int(cur.execute(head + values))
    return done


def insert(cur: Any, rows: Sequence[dict[str, Any]]) -> int:
    """INSERT IGNORE the facts, recorded now; facts inserted."""
    cols = [c for c in FACT_COLUMNS if c != "recorded_at"]
    return _insert(cur, "setl_fact", cols, "NOW(6)", rows)


def insert_items(cur: Any, rows: Sequence[dict[str, Any]]) -> int:
    """INSERT IGNORE the item facts; item facts inserted."""
    return _insert(cur, "setl_item_fact", ITEM_COLUMNS, "", rows)


class TooManyItems(ValueError):
    """A batch's settlements have more item facts than its transaction was sized for."""


def record(cur: Any, setl_ids: Iterable[str]) -> int:
    """Build and insert the facts and item facts of a batch of stored settlements; facts
    inserted (item facts not counted)."""
    ids = list(setl_ids)
    rows, items = build(cur, ids)
    # the transaction's keys: the settlement rows, their facts, their item facts, and
    # room for the checkpoint (load.rows_per_txn)
    budget = bulk.MAX_TXN_KEYS - 100 - len(ids) * SETTLEMENT_KEYS - len(rows) * FACT_KEYS
    if len(items) > budget:
        raise TooManyItems(
            f"{len(ids)} settlements have {len(items)} item facts, more than the {budget} "
            "keys left in their transaction: import settlements in smaller batches"
        )
    done = insert(cur, rows)
    insert_items(cur, items)
    return done
