"""Bulk-import checks without a database: the vectorised money checks agree with the
settlement rules row by row, the sums in rules.py hold for whatever settle() produces, and
the column docs are the generated ones."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from medhtap.services.ingest import checks, money
from medhtap.services.ingest.spec import TABLES, columns_markdown
from medhtap.services.settlement import funds, rules

DOCS = Path(__file__).resolve().parents[2] / "docs" / "ingest-columns.md"


def dec(lo: str, hi: str, places: int) -> st.SearchStrategy[D]:
    return st.decimals(
        min_value=D(lo), max_value=D(hi), places=places, allow_nan=False, allow_infinity=False
    )


def fee_table(rows: list[dict[str, str]]) -> pa.Table:
    cols = [c.name for c in TABLES["fee_detail"].columns]
    return pa.table({c: pa.array([r.get(c, "") for r in rows], pa.string()) for c in cols})


def fee_row(cnt: D, pric: D, amount: D, status: str = "active") -> dict[str, str]:
    zero = "0.00"
    split = dict.fromkeys(rules.LINE_SPLIT, zero)
    if status == "settled":
        split["inscp_scp_amt"] = str(amount)
    return (
        {"cnt": str(cnt), "pric": str(pric), "det_item_fee_sumamt": str(amount)}
        | {"fee_status": status}
        | split
    )


class TestLineAmountCheck:
    @settings(max_examples=200)
    @given(
        pairs=st.lists(
            st.tuples(dec("0.0001", "9999", 4), dec("0", "99999", 4), st.integers(-1, 1)),
            min_size=1,
            max_size=30,
        )
    )
    def test_flags_a_line_exactly_when_rules_line_amount_disagrees(
        self, pairs: list[tuple[D, D, int]]
    ) -> None:
        rows = [fee_row(c, p, rules.line_amount(c, p) + D("0.01") * off) for c, p, off in pairs]
        reasons = checks.new_reasons()
        money.check_fee_lines(fee_table(rows), pa.array([True] * len(rows)), reasons)
        flagged = {i for i, why in reasons.items() if any("line_amount" in w for w in why)}
        assert flagged == {i for i, (_, _, off) in enumerate(pairs) if off}


class TestSums:
    @settings(max_examples=200)
    @given(
        lines=st.lists(
            st.builds(
                rules.Line,
                feedetl_sn=st.uuids().map(str),
                item=st.builds(
                    rules.Item,
                    item_code=st.just("I1"),
                    chrgitm_lv=st.sampled_from(["A", "B", "C"]),
                    selfpay_prop=dec("0", "1", 2),
                    pric_uplmt_amt=st.none() | dec("0", "2000", 4),
                ),
                cnt=dec("0.0001", "1000", 4),
                pric=dec("0", "100000", 4),
            ),
            min_size=1,
            max_size=8,
        ),
        balance=dec("0", "10000", 2),
        pool=dec("0", "1", 4),
    )
    def test_settle_results_and_their_reversals_satisfy_the_stored_sums(
        self, lines: list[rules.Line], balance: D, pool: D
    ) -> None:
        person = rules.Person("310", "1", dt.date(1980, 1, 1), balance)
        benefit = rules.Benefit(D("100"), "year", pool, D("50000"))
        r = rules.settle(
            lines, person, dt.date(2026, 1, 1), benefit, rules.Used(), use_account=True
        )
        row = {k: getattr(r, k) for k in rules.AMOUNTS}
        row |= funds.fund_amounts(row)  # no fund split: the basic fund pays alone
        assert rules.sums_broken(row, rules.SETTLEMENT_SUMS) == []
        reversal = rules.reversal_amounts(SimpleNamespace(**row))
        assert rules.sums_broken(reversal, rules.SETTLEMENT_SUMS) == []
        for s in r.lines:
            line = {"det_item_fee_sumamt": s.amount} | {k: getattr(s, k) for k in rules.LINE_SPLIT}
            assert rules.sums_broken(line, rules.line_sums("settled")) == []

    def test_a_settlement_paid_by_several_funds_satisfies_the_stored_sums(self) -> None:
        """Issue 13's worked example 1 (resident, dibao): the secondary fund and assistance
        pay beside the basic fund, so medfee_sumamt != hifp_pay + psn_part_amt."""
        row = dict.fromkeys(rules.SETTLEMENT_AMOUNTS, D("0.00")) | {
            "medfee_sumamt": D("30000.00"),
            "inscp_scp_amt": D("30000.00"),
            "act_pay_dedc": D("500.00"),
            "hifp_pay": D("200.00"),
            "hifmi_pay": D("19860.00"),
            "maf_pay": D("6958.00"),
            "fund_pay_sumamt": D("27018.00"),
            "psn_part_amt": D("2982.00"),
            "psn_cash_pay": D("2982.00"),
        }
        assert rules.sums_broken(row, rules.SETTLEMENT_SUMS) == []
        assert rules.sums_broken(row | {"maf_pay": D("6958.01")}, rules.SETTLEMENT_SUMS) == [
            "fund_pay_sumamt = hifp_pay + hifob_pay + hifmi_pay + maf_pay"
        ]

    def test_a_cent_off_breaks_the_sum_it_belongs_to(self) -> None:
        row = dict.fromkeys(rules.SETTLEMENT_AMOUNTS, D("0.00")) | {"acct_pay": D("0.01")}
        assert rules.sums_broken(row, rules.SETTLEMENT_SUMS) == [
            "psn_part_amt = acct_pay + psn_cash_pay"
        ]

    def test_vectorised_split_check_follows_the_status(self) -> None:
        rows = [
            fee_row(D(1), D("2.50"), D("2.50"), "settled"),  # split = amount: good
            fee_row(D(1), D("2.50"), D("2.50"), "active"),  # no split: good
            fee_row(D(1), D("2.50"), D("2.50"), "settled") | {"inscp_scp_amt": "2.49"},
            fee_row(D(1), D("2.50"), D("2.50"), "active") | {"inscp_scp_amt": "0.01"},
        ]
        reasons = checks.new_reasons()
        money.check_fee_lines(fee_table(rows), pa.array([True] * 4), reasons)
        assert sorted(reasons) == [2, 3]


class TestSchemaChecks:
    def test_each_kind_of_bad_value_is_named(self) -> None:
        good = {"fee_ocur_time": "2024-03-01 10:00:00", "cnt": "2", "fee_status": "active"}
        rows = [
            good,
            good | {"fee_ocur_time": "2023-02-29 10:00:00"},  # no such day
            good | {"fee_ocur_time": "2024-03-01 10:00:00.5"},  # the column keeps seconds
            good | {"cnt": "1e3"},
            good | {"fee_status": "gone"},
            good | {"feedetl_sn": "x" * 31},
        ]
        reasons = checks.new_reasons()
        checks.check_schema(TABLES["fee_detail"], fee_table(rows), reasons)
        kinds = {
            i: {w.split(":")[0] for w in why if not w.startswith("required")}
            for i, why in reasons.items()
        }
        assert kinds[0] == set()
        assert kinds[1] == {"bad_datetime"} and kinds[2] == {"bad_datetime"}
        assert kinds[3] == {"bad_decimal"} and kinds[4] == {"not_allowed"}
        assert kinds[5] == {"too_long"}


def test_column_docs_are_the_generated_ones() -> None:
    assert DOCS.read_text() == columns_markdown() + "\n", (
        "run: medhtap ingest --columns > docs/ingest-columns.md"
    )
