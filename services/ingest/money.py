"""Money invariants of imported rows, by the settlement rules themselves (`rules.py`):
a line's amount is `rules.line_amount(cnt, pric)`; lines and settlements satisfy the sums
`rules.line_sums` and `rules.SETTLEMENT_SUMS` exactly. Decimal throughout: pyarrow's
decimal128 adds exactly, and the rounding rule runs once per distinct (cnt, pric) pair."""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

from medhtap.services.settlement import rules

from .checks import Reasons, add

DEC = pa.decimal128(20, 4)  # wide enough for DECIMAL(16,4) and sums of DECIMAL(16,2)


def _dec(batch: pa.Table, name: str, ok: pa.Array) -> pa.Array:
    """The column as exact decimals; rows that failed the format checks read as 0."""
    v = pc.if_else(ok, batch.column(name).combine_chunks(), "0")
    return pc.cast(pc.if_else(pc.equal(v, ""), "0", v), DEC)


def _sums(
    batch: pa.Table, ok: pa.Array, sums: rules.Sums, where: pa.Array, reasons: Reasons
) -> None:
    for total, parts in sums:
        got = _dec(batch, parts[0], ok)
        for p in parts[1:]:
            got = pc.add(got, _dec(batch, p, ok))
        want = _dec(batch, total, ok) if total else pa.scalar(Decimal(0), DEC)
        broken = pc.and_(pc.and_(ok, where), pc.not_equal(got, want))
        add(reasons, broken, "money: breaks " + rules.sum_label(total, parts))


def check_fee_lines(batch: pa.Table, ok: pa.Array, reasons: Reasons) -> None:
    cnt = pc.if_else(ok, batch.column("cnt").combine_chunks(), "0")
    pric = pc.if_else(ok, batch.column("pric").combine_chunks(), "0")
    pair = pc.binary_join_element_wise(cnt, pric, "|")
    distinct = pc.unique(pair)
    amounts = []
    for key in distinct.to_pylist():
        c, p = key.split("|")
        amounts.append(str(rules.line_amount(Decimal(c), Decimal(p))))
    want = pc.cast(pc.take(pa.array(amounts, pa.string()), pc.index_in(pair, distinct)), DEC)
    got = _dec(batch, "det_item_fee_sumamt", ok)
    add(
        reasons,
        pc.and_(ok, pc.not_equal(got, want)),
        "money: breaks det_item_fee_sumamt = line_amount(cnt, pric)",
    )
    status = batch.column("fee_status").combine_chunks()
    for s in pc.unique(pc.if_else(ok, status, "")).to_pylist():
        if s:
            _sums(batch, ok, rules.line_sums(s), pc.equal(status, s), reasons)


def check_settlements(batch: pa.Table, ok: pa.Array, reasons: Reasons) -> None:
    _sums(batch, ok, rules.SETTLEMENT_SUMS, ok, reasons)


CHECKS = {"fee_detail": check_fee_lines, "settlement": check_settlements}
