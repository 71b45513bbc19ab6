"""The review rules as pure functions: each fires on a case built for it and stays silent on
its near miss; parameters come from the rule row (issue 14.3)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from typing import Any

from medhtap.services.review import rules as r
from medhtap.services.review.service import jr_id

DAY = dt.date(2026, 3, 10)


def rule(kind: str, sev: int = 2, **params: Any) -> r.RuleDef:
    return r.RuleDef(f"T-{kind}", kind, kind, sev, "1", params)


def item(code: str = "X1", **kw: Any) -> r.ItemFacts:
    return r.ItemFacts(code, code.lower(), **kw)


def line(
    sn: str, it: r.ItemFacts, cnt: str = "1", pric: str = "10.00", day: dt.date = DAY
) -> r.ReviewLine:
    return r.ReviewLine(sn, it, D(cnt), D(pric), day)


def case(
    *lines: r.ReviewLine,
    med_type: str = "11",
    gend: str = "1",
    brdy: dt.date = dt.date(1980, 1, 1),
    history: tuple[r.PastLine, ...] = (),
) -> r.Case:
    return r.Case("M1", med_type, DAY, gend, brdy, lines, history)


def past(code: str, days_before: int, cnt: str = "1", mdtrt_id: str = "M0") -> r.PastLine:
    return r.PastLine(mdtrt_id, "P1", code, D(cnt), DAY - dt.timedelta(days=days_before))


class TestQuantityPerDay:
    drug = item("D1", max_qty_per_day=D("3"))

    def test_given_four_units_on_one_day_with_a_limit_of_three_then_it_fires(self) -> None:
        hits = r.qty_per_day(
            rule("qty_per_day"), case(line("1", self.drug, "2"), line("2", self.drug, "2", "12.00"))
        )
        assert len(hits) == 1
        assert hits[0].line_ids == ("1", "2")
        assert hits[0].vola_amt == D("12.00")  # one unit above, at the day's highest price

    def test_given_exactly_the_limit_or_the_units_on_two_days_then_it_is_silent(self) -> None:
        other = DAY + dt.timedelta(days=1)
        assert r.qty_per_day(rule("qty_per_day"), case(line("1", self.drug, "3"))) == []
        assert (
            r.qty_per_day(
                rule("qty_per_day"),
                case(line("1", self.drug, "2"), line("2", self.drug, "2", day=other)),
            )
            == []
        )

    def test_the_tolerance_parameter_moves_the_limit(self) -> None:
        c = case(line("1", self.drug, "4"))
        assert r.qty_per_day(rule("qty_per_day", tolerance="1"), c) == []
        assert len(r.qty_per_day(rule("qty_per_day", tolerance="0.5"), c)) == 1


class TestGenderAge:
    female = item("F1", gend_lmt="2")
    child = item("C1", age_max=14)

    def test_given_a_female_only_item_for_a_man_then_it_fires(self) -> None:
        hits = r.gender_age(
            rule("gender_age"), case(line("1", self.female, "2", "15.00"), gend="1")
        )
        assert [h.line_ids for h in hits] == [("1",)]
        assert hits[0].vola_amt == D("30.00")

    def test_given_the_right_gender_then_it_is_silent(self) -> None:
        assert r.gender_age(rule("gender_age"), case(line("1", self.female), gend="2")) == []

    def test_given_a_child_item_for_a_fifteen_year_old_then_it_fires_and_at_fourteen_not(
        self,
    ) -> None:
        fifteen = dt.date(DAY.year - 15, DAY.month, DAY.day)
        just_fourteen = dt.date(DAY.year - 15, DAY.month, DAY.day + 1)
        assert len(r.gender_age(rule("gender_age"), case(line("1", self.child), brdy=fifteen))) == 1
        assert (
            r.gender_age(rule("gender_age"), case(line("1", self.child), brdy=just_fourteen)) == []
        )

    def test_check_gender_false_turns_the_gender_check_off(self) -> None:
        c = case(line("1", self.female), gend="1")
        assert r.gender_age(rule("gender_age", check_gender=False), c) == []


class TestSameDayRepeat:
    exam = item("S1", item_kind="service")

    def test_given_one_exam_on_two_lines_of_one_day_then_it_fires(self) -> None:
        hits = r.same_day_repeat(
            rule("same_day_repeat"), case(line("1", self.exam), line("2", self.exam, pric="20.00"))
        )
        assert [h.line_ids for h in hits] == [("1", "2")]
        assert hits[0].vola_amt == D("20.00")  # the line beyond the first

    def test_given_the_exam_on_two_days_or_a_drug_twice_then_it_is_silent(self) -> None:
        other = DAY + dt.timedelta(days=1)
        drug = item("D1", item_kind="drug")
        assert (
            r.same_day_repeat(
                rule("same_day_repeat"), case(line("1", self.exam), line("2", self.exam, day=other))
            )
            == []
        )
        assert (
            r.same_day_repeat(rule("same_day_repeat"), case(line("1", drug), line("2", drug))) == []
        )

    def test_max_per_day_parameter(self) -> None:
        c = case(line("1", self.exam), line("2", self.exam))
        assert r.same_day_repeat(rule("same_day_repeat", max_per_day=2), c) == []


class TestMedType:
    bed = item("B1", item_kind="service", med_type_lmt=r.med_types("21"))

    def test_given_a_ward_bed_on_an_outpatient_visit_then_it_fires(self) -> None:
        hits = r.med_type(
            rule("med_type", 1), case(line("1", self.bed, "1", "80.00"), med_type="11")
        )
        assert [h.line_ids for h in hits] == [("1",)] and hits[0].vola_amt == D("80.00")

    def test_given_the_bed_on_an_inpatient_stay_or_an_unrestricted_item_then_it_is_silent(
        self,
    ) -> None:
        assert r.med_type(rule("med_type", 1), case(line("1", self.bed), med_type="21")) == []
        assert r.med_type(rule("med_type", 1), case(line("1", item("X")), med_type="11")) == []

    def test_med_types_reads_the_catalog_column(self) -> None:
        assert r.med_types("11, 14") == frozenset({"11", "14"})
        assert r.med_types("") is None and r.med_types(None) is None


class TestExamFrequency:
    ct = item("CT", item_kind="service", exam_intv_days=7)

    def test_given_a_ct_six_days_after_another_visit_s_then_it_fires(self) -> None:
        hits = r.exam_frequency(
            rule("exam_frequency"), case(line("1", self.ct), history=(past("CT", 6),))
        )
        assert [h.line_ids for h in hits] == [("1",)]
        assert "M0/P1" in hits[0].vola_evid

    def test_given_another_visit_s_ct_the_same_day_then_it_fires(self) -> None:
        c = case(line("1", self.ct), history=(past("CT", 0),))
        assert len(r.exam_frequency(rule("exam_frequency"), c)) == 1

    def test_given_seven_days_between_them_then_it_is_silent(self) -> None:
        assert (
            r.exam_frequency(
                rule("exam_frequency"), case(line("1", self.ct), history=(past("CT", 7),))
            )
            == []
        )

    def test_given_an_earlier_day_of_the_same_stay_then_it_fires(self) -> None:
        before = DAY - dt.timedelta(days=2)
        hits = r.exam_frequency(
            rule("exam_frequency"),
            case(line("1", self.ct, day=before), line("2", self.ct), med_type="21"),
        )
        assert [h.line_ids for h in hits] == [("2",)]

    def test_default_days_applies_to_exams_without_a_catalog_interval(self) -> None:
        plain = item("EX", item_kind="service")
        c = case(line("1", plain), history=(past("EX", 20),))
        assert r.exam_frequency(rule("exam_frequency"), c) == []
        assert len(r.exam_frequency(rule("exam_frequency", default_days=30), c)) == 1


class TestSupplyOverlap:
    metformin = item("MET", item_kind="drug", supply_days=D("30"))

    def test_given_two_boxes_ten_days_ago_then_a_new_box_overlaps(self) -> None:
        hits = r.supply_overlap(
            rule("supply_overlap"),
            case(line("1", self.metformin, "1", "30.00"), history=(past("MET", 10, "2"),)),
        )
        assert len(hits) == 1
        assert hits[0].vola_amt == D("30.00")  # 50 days still supplied cover all 30 of the box

    def test_given_the_earlier_supply_ran_out_then_it_is_silent(self) -> None:
        c = case(line("1", self.metformin), history=(past("MET", 30, "1"),))
        assert r.supply_overlap(rule("supply_overlap"), c) == []

    def test_the_tolerance_and_the_share_at_stake(self) -> None:
        c = case(line("1", self.metformin, "1", "30.00"), history=(past("MET", 25, "1"),))
        (hit,) = r.supply_overlap(rule("supply_overlap"), c)
        assert hit.vola_amt == D("5.00")  # 5 of 30 days
        assert r.supply_overlap(rule("supply_overlap", tolerance_days=5), c) == []

    def test_an_inpatient_stay_is_not_judged(self) -> None:
        c = case(line("1", self.metformin), med_type="21", history=(past("MET", 10, "2"),))
        assert r.supply_overlap(rule("supply_overlap"), c) == []


class TestEvaluate:
    def test_unknown_kinds_are_skipped_and_rule_order_is_kept(self) -> None:
        bed = item("B1", med_type_lmt=r.med_types("21"))
        rules = [rule("nonsense"), rule("med_type", 1), rule("gender_age")]
        hits = r.evaluate(rules, case(line("1", bed)))
        assert [h.rule.kind for h in hits] == ["med_type"]

    def test_jr_id_is_stable_for_the_same_visit_rule_and_lines(self) -> None:
        assert jr_id("in", "M1", "R001", ["2", "1"]) == jr_id("in", "M1", "R001", ["1", "2"])
        assert jr_id("in", "M1", "R001", ["1"]) != jr_id("in", "M1", "R001", ["1", "2"])
        assert jr_id("in", "M1", "R001", ["1"]) != jr_id("pre", "M1", "R001", ["1"])
