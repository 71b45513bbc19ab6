"""The cost report as one self-contained HTML page: inline CSS and SVG charts, no scripts,
no external URL, so a manager can open the file anywhere (mail, offline, an intranet)."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pygal
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from medhtap.analytics.formats import jsonable
from medhtap.analytics.reports import MEASURES, CostReport

TEMPLATES = Path(__file__).resolve().parent / "templates"
_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))

LABELS = {
    "visits": "Visits",
    "persons": "Persons",
    "medfee_sumamt": "Total fees (medfee_sumamt)",
    "hifp_pay": "Basic fund paid (hifp_pay)",
    "hifob_pay": "Large-amount subsidy (hifob_pay)",
    "hifmi_pay": "Critical-illness insurance (hifmi_pay)",
    "maf_pay": "Medical assistance (maf_pay)",
    "fund_pay_sumamt": "All funds paid (fund_pay_sumamt)",
    "acct_pay": "Account paid (acct_pay)",
    "psn_cash_pay": "Cash paid (psn_cash_pay)",
    "fund_share": "Basic fund share",
    "fund_pay_share": "All funds' share",
    "avg_cost_per_visit": "Avg cost / visit",
    "drug_share": "Drug share 药占比",
    "material_share": "Material share 耗占比",
    "oop_ratio": "Out-of-pocket ratio",
    "avg_inpatient_los": "Avg inpatient LOS (days)",
}


def _f(v: Any) -> float:
    return float(v) if isinstance(v, Decimal | int | float) else 0.0


_SCRIPT = re.compile(r"<script\b.*?</script>", re.DOTALL)


def _svg(chart: Any) -> Markup:
    # pygal inlines a config <script> for its tooltip JS even with js=[]; without that JS it
    # does nothing, and a page without scripts opens anywhere (mail clients, strict CSP).
    # The SVG is generated markup, labels escaped by pygal: safe to embed as is.
    return Markup(_SCRIPT.sub("", chart.render(is_unicode=True)))  # noqa: S704


def bar_chart(report: CostReport) -> Markup:
    chart = pygal.HorizontalBar(
        js=[],
        disable_xml_declaration=True,
        width=900,
        height=max(300, 40 * len(report.groups)),
        title="Total fees and fund paid by group",
        legend_at_bottom=True,
        truncate_label=60,
    )
    chart.x_labels = [report.label(g) for g in report.groups]
    chart.add("medfee_sumamt", [_f(g["medfee_sumamt"]) for g in report.groups])
    chart.add("hifp_pay", [_f(g["hifp_pay"]) for g in report.groups])
    return _svg(chart)


def trend_chart(report: CostReport) -> Markup:
    months = report.trend or []
    chart = pygal.Line(
        js=[],
        disable_xml_declaration=True,
        width=900,
        height=360,
        title="Monthly trend",
        legend_at_bottom=True,
        secondary_range=None,
    )
    chart.x_labels = [str(m["month"]) for m in months]
    chart.add("medfee_sumamt", [_f(m["medfee_sumamt"]) for m in months])
    chart.add("hifp_pay", [_f(m["hifp_pay"]) for m in months])
    chart.add("visits", [_f(m["visits"]) for m in months], secondary=True)
    return _svg(chart)


def to_html(report: CostReport) -> str:
    def cell(v: Any) -> str:
        v = jsonable(v)
        return "" if v is None else str(v)

    return _env.get_template("cost_report.html.j2").render(
        report=report,
        measures=MEASURES,
        labels=LABELS,
        cell=cell,
        bar_svg=bar_chart(report) if report.groups else None,
        trend_svg=trend_chart(report) if report.trend else None,
    )
