"""`medhtap demo`: the whole story on one machine, in the order a new user reads it.

Start (or find) TiDB, migrate, seed reference data, load a small synthetic city, serve the
API, settle one visit over HTTP exactly as an HIS would, and print a T+0 cost report that
already includes that settlement.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import text

from medhtap.platform import localdb, migrate
from medhtap.platform.db import make_engine, write_engine
from medhtap.platform.settings import Settings
from medhtap.schema.seed import seed_reference
from medhtap.services.settlement.identity import next_certno
from medhtap.services.settlement.rules import AMOUNTS

console = Console()
HIS = {"X-API-Key": "dev-his-key"}


def step(msg: str) -> None:
    console.rule(f"[bold cyan]{msg}")


def _wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the API process exited; see the log above")
        try:
            r = httpx.get(f"{base}/readyz", timeout=2)
            if r.status_code == 200:
                body: dict[str, Any] = r.json()
                return body
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError("the API did not become ready")


def _check(r: httpx.Response) -> dict[str, Any]:
    if r.status_code >= 400:
        raise RuntimeError(f"{r.request.method} {r.request.url.path} -> {r.status_code}: {r.text}")
    body: dict[str, Any] = r.json()
    return body


def settle_one_visit(base: str) -> dict[str, Any]:
    """One outpatient visit of an employee at a tertiary hospital, the HIS's call sequence."""
    suffix = uuid.uuid4().hex[:10].upper()
    psn_no = f"DEMO{suffix}"
    # A birth date of its own per run, so runs on one database (almost) never share a number.
    brdy = dt.date(1950, 1, 1) + dt.timedelta(days=uuid.uuid4().int % 18_000)
    certno = next_certno(brdy, "1")  # valid for this birth date and gender
    with httpx.Client(base_url=base, headers=HIS, timeout=30) as http:
        _check(
            http.post(
                "/v1/persons",
                headers={"X-API-Key": "dev-admin-key"},
                json={
                    "psn_no": psn_no,
                    "certno": certno,
                    "psn_name": "Demo Patient",
                    "gend": "1",
                    "brdy": brdy.isoformat(),
                    "insutype": "310",
                    "admdvs": "110100",
                    "acct_balc": "500.00",
                },
            )
        )
        now = dt.datetime.now().replace(microsecond=0)
        visit = _check(
            http.post(
                "/v1/visits",
                json={
                    "psn_no": psn_no,
                    "fixmedins_code": "H11010000001",
                    "med_type": "11",  # general outpatient (national code)
                    "dept_name": "Endocrinology",
                    "begntime": now.isoformat(),
                    "main_diag_code": "E11.9",
                },
            )
        )
        mdtrt_id = visit["mdtrt_id"]
        lines = [
            ("1", "XA10BAA003", "2", "35.50"),  # metformin, class A
            ("2", "XC10AAA005", "1", "120.00"),  # atorvastatin, class B, cap 100.00
            ("3", "S250300001", "1", "200.00"),  # HbA1c test, class A
            ("4", "M270400001", "1", "50.00"),  # cotton swabs, class C
        ]
        _check(
            http.post(
                f"/v1/visits/{mdtrt_id}/fees",
                json={
                    "lines": [
                        {
                            "feedetl_sn": sn,
                            "item_code": code,
                            "cnt": cnt,
                            "pric": pric,
                            "fee_ocur_time": now.isoformat(),
                        }
                        for sn, code, cnt, pric in lines
                    ]
                },
            )
        )
        setl = _check(
            http.post(
                f"/v1/visits/{mdtrt_id}/settlement",
                json={"use_account": True},
                headers={**HIS, "Idempotency-Key": f"demo-{suffix}"},
            )
        )
    return setl


REPORT_COLUMNS = (
    "visits",
    "persons",
    "medfee_sumamt",
    "hifp_pay",
    "acct_pay",
    "psn_cash_pay",
    "fund_share",
    "drug_share",
    "material_share",
    "avg_inpatient_los",
)


DEMO_INSTITUTION = "H11010000001"


def _visits_at(report: dict[str, Any], code: str) -> int:
    return sum(int(g["visits"]) for g in report["groups"] if g.get("fixmedins_code") == code)


def print_report(report: dict[str, Any]) -> None:
    """The JSON the API returned, as a terminal table (`medhtap report cost` shows all columns)."""
    keys = [c for c in report["columns"] if c not in report["totals"]]  # the group's labels
    keys = [c for c in keys if c.endswith("_name")] or keys  # names read better than codes
    table = Table(title=f"Cost by institution {report['from']} .. {report['to']}")
    for c in (*keys, *REPORT_COLUMNS):
        table.add_column(c, justify="left" if c in keys else "right")
    for g in report["groups"]:
        table.add_row(*("" if g.get(c) is None else str(g[c]) for c in (*keys, *REPORT_COLUMNS)))
    console.print(table)
    console.print(
        f"  served by [bold]{report.get('engine')}[/] in {report.get('elapsed_ms')} ms; "
        f"snapshot {report.get('snapshot', {}).get('snapshot_time')} UTC"
    )


def run_demo(settings: Settings, *, port: int, exit_after: bool, visits: int) -> None:
    step("1. database")
    localdb.up(settings, say=lambda m: console.print(f"  {m}"))
    step("2. migrations and reference data (ICD-10, catalog, institutions, policy)")
    migrate.upgrade(settings)
    engine = write_engine(settings)
    with engine.begin() as conn:
        counts = seed_reference(conn)
    console.print("  " + ", ".join(f"{k}: {v}" for k, v in counts.items()))

    step(f"3. synthetic city: {visits} settled visits (LOAD DATA, seeded, idempotent)")
    from medhtap.analytics.synthetic import load_synthetic

    with engine.connect() as conn:
        have = conn.execute(text("SELECT COUNT(*) FROM settlement")).scalar_one()
    if have >= visits:
        console.print(f"  already loaded: {have} settlements")
    else:
        bulk = make_engine(settings.url(), settings=settings, local_infile=True, pool_size=2)
        summary = load_synthetic(bulk, visits=visits, seed=1)
        bulk.dispose()
        console.print(f"  {summary}")
    engine.dispose()

    step(f"4. API on http://127.0.0.1:{port}")
    env = {**os.environ, "MEDHTAP_DATABASE": settings.database}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "medhtap.services.api:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        ready = _wait_ready(base, proc)
        db = ready["database"]
        console.print(
            f"  {db['version']}  store={db['store']}  tiflash={db['tiflash_stores']}"
            f"  analytics on: [bold]{db['analytic_engine']}[/]"
        )

        today = dt.date.today()
        params = {"from": f"{today.year}-01-01", "to": today.isoformat(), "group_by": "institution"}
        manager = {"X-API-Key": "dev-manager-key"}

        def cost_report() -> dict[str, Any]:
            r = httpx.get(f"{base}/v1/reports/cost", headers=manager, params=params, timeout=300)
            return _check(r)

        before = _visits_at(cost_report(), DEMO_INSTITUTION)

        step("5. one settlement over HTTP, as a hospital HIS sends it")
        setl = settle_one_visit(base)
        table = Table(title=f"settlement {setl['setl_id']}", show_header=False)
        for key in AMOUNTS:
            table.add_row(key, str(Decimal(str(setl[key]))))
        console.print(table)

        step("6. T+0 cost report, read right after that commit returned")
        report = cost_report()
        print_report(report)
        after = _visits_at(report, DEMO_INSTITUTION)
        console.print(
            f"  {DEMO_INSTITUTION} visits: {before} before the settlement, {after} "
            "after it: no copy job between the transaction and the report"
        )

        step("7. live from a hospital's own database (HIS, MariaDB binlog) to the report")
        from medhtap.services.demo_his import live_his_step

        his_engine = write_engine(settings)
        try:
            live_his_step(
                base,
                his_engine,
                DEMO_INSTITUTION,
                lambda: _visits_at(cost_report(), DEMO_INSTITUTION),
            )
        finally:
            his_engine.dispose()

        step("done")
        console.print(f"  API docs:   {base}/docs     metrics: {base}/metrics")
        console.print(
            "  API keys:   dev-his-key (HIS), dev-manager-key, dev-analyst-key, "
            "dev-admin-key (development only)"
        )
        console.print(
            f"  analyst SQL: mariadb -h 127.0.0.1 -P {settings.port} "
            f"-u {settings.analyst_user} -p {settings.database}"
        )
        if exit_after:
            return
        console.print("  serving; Ctrl-C to stop")
        proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(10)
