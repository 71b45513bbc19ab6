"""GET /v1/reports/cost and `medhtap report cost` on seeded visits."""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from medhtap.analytics.reports import cost_report
from medhtap.platform.settings import Settings

ANALYST = {"X-API-Key": "dev-analyst-key"}
DRUG, SERVICE, MATERIAL = "XA10BAA003", "S110200001", "M270100001"


def seed_month(factory, window) -> dict[str, object]:
    """Two settled visits at one institution, one cancelled visit that must not count."""
    a, b = factory.person(), factory.person()
    v1 = factory.visit(a, begntime=window.at(3), lines=[(DRUG, 2, "40.00"), (SERVICE, 1, "30.00")])
    v2 = factory.visit(
        b,
        begntime=window.at(4),
        med_type="inpatient",
        endtime=window.at(9),
        lines=[(MATERIAL, 5, "20.00"), (DRUG, 1, "50.00")],
    )
    cancelled = factory.visit(a, begntime=window.at(5), lines=[(DRUG, 3, "1000.00")], cancel=True)
    return {"persons": (a, b), "visits": (v1, v2), "cancelled": cancelled}


class TestCostReport:
    def test_cancelled_settlements_and_reversals_are_excluded(
        self, read_engine: Engine, factory, window
    ) -> None:
        seed_month(factory, window)
        rep = cost_report(read_engine, window.date_from, window.date_to, ["institution"])
        assert len(rep.groups) == 1
        g = rep.groups[0]
        assert g["visits"] == 2 and g["persons"] == 2
        # 80 + 30 (outpatient) + 100 + 50 (inpatient); the cancelled 3000.00 is not there
        assert g["medfee_sumamt"] == Decimal("260.00")
        assert g["fee_amt"] == Decimal("260.00")
        assert g["drug_share"] == Decimal("0.5000")  # (80 + 50) / 260
        assert g["material_share"] == Decimal("0.3846")  # 100 / 260
        assert g["avg_cost_per_visit"] == Decimal("130.00")
        assert g["avg_inpatient_los"] == Decimal("5.00")
        assert g["fund_share"] == (g["hifp_pay"] / g["medfee_sumamt"]).quantize(Decimal("0.0001"))
        assert g["fund_pay_sumamt"] + g["psn_part_amt"] == g["medfee_sumamt"]
        assert (
            g["fund_pay_sumamt"] == g["hifp_pay"] + g["hifob_pay"] + g["hifmi_pay"] + g["maf_pay"]
        )
        assert [t["item_code"] for t in g["top_items"]] == [DRUG, MATERIAL, SERVICE]
        assert rep.meta["engine"] in ("tikv", "tiflash", "mpp")

    def test_group_by_several_dimensions_over_http(
        self, client: TestClient, factory, window
    ) -> None:
        seed_month(factory, window)
        r = client.get(
            f"/v1/reports/cost?{window.query()}&group_by=visit_kind,month,diagnosis_chapter",
            headers=ANALYST,
        )
        assert r.status_code == 200, r.text
        body = r.json()
        kinds = {
            (g["med_type"], g["month"], g["diag_chapter"]): g["visits"] for g in body["groups"]
        }
        month = window.date_from.strftime("%Y-%m")
        assert kinds == {("21", month, "IV"): 1, ("11", month, "IV"): 1}  # med_type codes
        assert body["totals"]["medfee_sumamt"] == "260.00"
        assert body["engine"] in ("tikv", "tiflash", "mpp")
        assert body["snapshot"]["tso"] and body["snapshot"]["newest_setl_time"]

    def test_top_items_can_be_left_out(self, client: TestClient, factory, window) -> None:
        """The line-level part is optional: dashboards that need the sums only skip it."""
        seed_month(factory, window)
        url = f"/v1/reports/cost?{window.query()}&group_by=institution"
        full = client.get(url, headers=ANALYST).json()
        sums = client.get(f"{url}&top_items=false", headers=ANALYST).json()
        assert [t["item_code"] for t in full["groups"][0]["top_items"]] == [DRUG, MATERIAL, SERVICE]
        assert "top_items" not in sums["groups"][0]
        assert sums["totals"] == full["totals"]

    def test_unknown_group_by_is_refused(self, client: TestClient, window) -> None:
        r = client.get(f"/v1/reports/cost?{window.query()}&group_by=colour", headers=ANALYST)
        assert r.status_code == 422
        assert "colour" in r.json()["error"]["message"]

    def test_csv(self, client: TestClient, factory, window) -> None:
        seed_month(factory, window)
        r = client.get(
            f"/v1/reports/cost?{window.query()}&group_by=institution_level&format=csv",
            headers=ANALYST,
        )
        assert r.status_code == 200
        rows = list(csv.DictReader(io.StringIO(r.text)))
        assert rows[0]["hosp_lv"] == "3" and rows[0]["visits"] == "2"
        assert "Metformin" in rows[0]["top_items"]


def _chromium() -> str | None:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing (CI must install it: apt-get install chromium)")
        pytest.skip("chromium not installed (apt-get install chromium)")
    return path


@pytest.mark.browser
def test_html_report_renders_in_headless_chromium(client: TestClient, factory, window) -> None:
    chromium = _chromium()
    seed_month(factory, window)
    r = client.get(
        f"/v1/reports/cost?{window.query()}&group_by=visit_kind&format=html", headers=ANALYST
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    # self-contained: no script, nothing fetched from elsewhere
    assert "<script" not in r.text
    assert re.search(r"""(src|href)=["']?(https?:)?//""", r.text) is None
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(r.text, encoding="utf-8")
        flags = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp}/profile",
        ]
        dom = subprocess.run(
            [chromium, *flags, "--dump-dom", page.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
        shot = Path(tmp) / "shot.png"
        subprocess.run(
            [chromium, *flags, f"--screenshot={shot}", "--window-size=1200,2000", page.as_uri()],
            capture_output=True,
            timeout=120,
            check=True,
        )
        assert shot.exists() and shot.stat().st_size > 10_000
    assert 'id="groups"' in dom and "<td>11</td>" in dom and "<td>21</td>" in dom
    assert dom.count("<svg") >= 2  # bar chart by group and the monthly trend line
    assert 'id="bar-chart"' in dom and 'id="trend-chart"' in dom


def test_cli_prints_the_report_and_writes_files(
    settings: Settings, factory, window, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from medhtap.services import cli as cli_mod
    from medhtap.services.analyst import cli as analyst_cli

    seed_month(factory, window)
    monkeypatch.setattr(analyst_cli, "get_settings", lambda: settings)
    out_csv, out_html = tmp_path / "r.csv", tmp_path / "r.html"
    res = CliRunner().invoke(
        cli_mod.app,
        [
            "report",
            "cost",
            "--from",
            str(window.date_from),
            "--to",
            str(window.date_to),
            "--group-by",
            "visit_kind",
            "--csv",
            str(out_csv),
            "--html",
            str(out_html),
        ],
        env={"COLUMNS": "250"},
    )
    assert res.exit_code == 0, res.output
    assert "med_type" in res.output and "engine" in res.output
    assert "Metformin" in res.output  # top items table
    assert out_csv.read_text().startswith("med_type,visits,persons")
    assert "<svg" in out_html.read_text()
