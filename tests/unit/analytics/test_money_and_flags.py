"""Pure parts of the analytics: report ratios, group-by whitelist, chronic flags.

(The synthetic loader computes money with the settlement rules, tested with them.)"""

from __future__ import annotations

from decimal import Decimal

import pytest

from medhtap.analytics.profile import chronic_flags
from medhtap.analytics.reports import derive, parse_group_by
from medhtap.platform.errors import ValidationFailed


def test_report_ratios_come_from_sums_and_tolerate_empty_groups() -> None:
    row = {
        "medfee_sumamt": Decimal("200"),
        "hifp_pay": Decimal("150"),
        "fund_pay_sumamt": Decimal("160"),
        "visits": 3,
        "drug_amt": Decimal("50"),
        "material_amt": Decimal("0"),
        "fee_amt": Decimal("200"),
        "psn_part_amt": Decimal("50"),
        "inpatient_days": 0,
        "inpatient_visits": 0,
    }
    d = derive(row)
    assert d["fund_share"] == Decimal("0.7500") and d["avg_cost_per_visit"] == Decimal("66.67")
    assert d["drug_share"] == Decimal("0.2500") and d["avg_inpatient_los"] is None
    assert d["fund_pay_share"] == Decimal("0.8000")  # every fund, not only the basic one


def test_group_by_is_whitelisted() -> None:
    assert parse_group_by("institution, month,institution") == ["institution", "month"]
    assert parse_group_by(None) == ["institution"]
    with pytest.raises(ValidationFailed):
        parse_group_by("institution; DROP TABLE visit")


def test_chronic_flags_by_icd10_category_range() -> None:
    assert chronic_flags(["E11.9", "I10", "J06.9", "C50.9", "N18.3", "E10.1"]) == {
        "diabetes": ["E10.1", "E11.9"],
        "hypertension": ["I10"],
        "malignant_neoplasm": ["C50.9"],
        "chronic_kidney_disease": ["N18.3"],
    }
    assert chronic_flags(["J06.9", "K35.8"]) == {}
