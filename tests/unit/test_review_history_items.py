"""Which earlier lines the review needs (rules.history_items, issue 12.4): the gate reads a
person's history only for the items an enabled rule reads it for, and the rules give the
same hits with only that history as with all of it."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from medhtap.services.review import rules as r

from .test_review_rules import DAY, case, item, line, past, rule

CT = item("CT", item_kind="service", exam_intv_days=7)
LAB = item("LAB", item_kind="service")  # no interval of its own
STATIN = item("ST", item_kind="drug", supply_days=D("7"))
PLAIN = item("PL", item_kind="drug")
EXAM, SUPPLY = rule("exam_frequency"), rule("supply_overlap")
OTHERS = [rule("qty_per_day"), rule("gender_age"), rule("same_day_repeat"), rule("med_type")]


class TestHistoryItems:
    def test_given_no_rule_that_reads_history_then_none_is_needed(self) -> None:
        lines = [line("1", CT), line("2", STATIN)]
        assert r.history_items(OTHERS, "11", lines) == set()

    def test_given_the_exam_rule_then_only_exams_with_an_interval(self) -> None:
        lines = [line("1", CT), line("2", LAB), line("3", STATIN)]
        assert r.history_items([EXAM], "11", lines) == {"CT"}
        with_default = rule("exam_frequency", default_days=30)
        assert r.history_items([with_default], "11", lines) == {"CT", "LAB"}

    def test_given_the_supply_rule_then_drugs_with_a_supply_on_the_kinds_it_checks(
        self,
    ) -> None:
        lines = [line("1", CT), line("2", STATIN), line("3", PLAIN)]
        assert r.history_items([SUPPLY], "11", lines) == {"ST"}
        assert r.history_items([SUPPLY], "21", lines) == set()  # a stay: not checked

    def test_given_lines_without_such_items_then_none_is_needed(self) -> None:
        assert r.history_items([EXAM, SUPPLY], "11", [line("1", PLAIN), line("2", LAB)]) == set()


ITEMS = [CT, LAB, STATIN, PLAIN]
RULES = [EXAM, SUPPLY, rule("exam_frequency", default_days=30), *OTHERS]


@st.composite
def cases(draw: st.DrawFn) -> tuple[list[r.RuleDef], r.Case]:
    rules = draw(st.lists(st.sampled_from(RULES), max_size=4, unique_by=lambda x: id(x)))
    lines = [
        line(str(i), draw(st.sampled_from(ITEMS)), str(draw(st.integers(1, 3))), day=DAY)
        for i in range(draw(st.integers(1, 4)))
    ]
    history = tuple(
        past(draw(st.sampled_from(ITEMS)).item_code, draw(st.integers(0, 60)), mdtrt_id=f"M{j}")
        for j in range(draw(st.integers(0, 6)))
    )
    med_type = draw(st.sampled_from(["11", "14", "21", "41"]))
    return rules, case(*lines, med_type=med_type, history=history)


class TestOnlyThatHistoryMatters:
    @settings(max_examples=300, deadline=None)
    @given(cases())
    def test_the_hits_with_only_the_needed_history_are_the_hits_with_all(
        self, drawn: tuple[list[r.RuleDef], r.Case]
    ) -> None:
        rules, full = drawn
        needed = r.history_items(rules, full.med_type, full.lines)
        kept = tuple(p for p in full.history if p.item_code in needed)
        trimmed = r.Case(
            full.mdtrt_id, full.med_type, full.visit_day, full.gend, full.brdy, full.lines, kept
        )
        assert r.evaluate(rules, trimmed) == r.evaluate(rules, full)
