"""`medhtap report ...` and `medhtap risk ...`: the analytics from a terminal.

They connect like the API does: reads as the SELECT-only analyst account (with the same
session limits and TiFlash preference), alert writes with the application account.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from medhtap.platform.errors import MedHTAPError
from medhtap.platform.settings import get_settings
from medhtap.services.deps import Runtime

report_app = typer.Typer(help="Cost-analysis reports.", no_args_is_help=True)
risk_app = typer.Typer(help="Fund risk-control rules and alerts.", no_args_is_help=True)
console = Console()


@contextmanager
def _runtime() -> Iterator[Runtime]:
    from medhtap.services.api import build_runtime

    runtime = build_runtime(get_settings())
    try:
        yield runtime
    except MedHTAPError as exc:
        console.print(f"[red]{exc.code}[/]: {exc.message}")
        raise typer.Exit(2) from exc
    finally:
        runtime.write_engine.dispose()
        runtime.read_engine.dispose()


def _meta_line(meta: dict[str, object]) -> str:
    snap = meta.get("snapshot") or {}
    assert isinstance(snap, dict)
    return (
        f"engine [bold]{meta.get('engine')}[/], {meta.get('elapsed_ms')} ms, "
        f"snapshot TSO {snap.get('tso')} at {snap.get('snapshot_time')} UTC"
    )


@report_app.command("cost")
def report_cost(
    date_from: Annotated[dt.datetime, typer.Option("--from", formats=["%Y-%m-%d"])],
    date_to: Annotated[dt.datetime, typer.Option("--to", formats=["%Y-%m-%d"])],
    group_by: Annotated[str, typer.Option(help="comma separated dimensions")] = "institution",
    csv: Annotated[Path | None, typer.Option(help="also write CSV here")] = None,
    html: Annotated[Path | None, typer.Option(help="also write the HTML page here")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead")] = False,
    top: Annotated[int, typer.Option(help="top items to print per group")] = 3,
) -> None:
    """Cost analysis by group (same numbers as GET /v1/reports/cost)."""
    from medhtap.analytics import reports
    from medhtap.analytics.html import to_html

    with _runtime() as runtime:
        dims = reports.parse_group_by(group_by)
        report = reports.cost_report(
            runtime.read_engine, date_from.date(), date_to.date(), dims, trend=html is not None
        )
    if csv:
        csv.write_text(reports.to_csv(report), encoding="utf-8")
    if html:
        html.write_text(to_html(report), encoding="utf-8")
    if as_json:
        console.print_json(json.dumps(report.as_json()))
        return
    table = Table(title=f"Cost analysis {report.date_from} .. {report.date_to}")
    for c in report.columns:
        table.add_column(c, justify="left" if c in report.key_columns else "right")
    cell = reports.jsonable
    for g in report.groups:
        table.add_row(*("" if g.get(c) is None else str(cell(g.get(c))) for c in report.columns))
    table.add_row(
        *(
            ["[bold]total[/]"]
            + [""] * (len(report.key_columns) - 1)
            + [
                "" if report.totals.get(c) is None else str(cell(report.totals[c]))
                for c in reports.MEASURES
            ]
        )
    )
    console.print(table)
    if top:
        items = Table(title=f"Top {top} items by amount per group")
        for c in ("group", "#", "item", "kind", "amount"):
            items.add_column(c)
        for g in report.groups:
            for n, t in enumerate(g.get("top_items", [])[:top], 1):
                items.add_row(
                    report.label(g) if n == 1 else "",
                    str(n),
                    t["item_name"],
                    t["item_kind"],
                    str(t["amount"]),
                )
        console.print(items)
    console.print(_meta_line(report.meta))
    for path in (csv, html):
        if path:
            console.print(f"wrote {path}")


@report_app.command("fold")
def report_fold(
    rebuild: Annotated[
        bool, typer.Option(help="forget every rollup first and build them from the facts")
    ] = False,
) -> None:
    """Fold the facts recorded since the last pass into the cost rollups now (the API's
    worker does it every few seconds)."""
    import time

    from medhtap.analytics import rollup

    with _runtime() as runtime:
        if rebuild:
            rollup.rebuild(runtime.write_engine)
        started = time.perf_counter()
        folds = rollup.fold_once(runtime.write_engine, get_settings().analyst_user)
    for f in folds:
        console.print(f"rollup {f.dims or '(days)'}: {f.facts} facts, folded to {f.folded_to}")
    console.print(f"{len(folds)} rollups folded in {time.perf_counter() - started:.1f} s")


@report_app.command("backfill-items")
def report_backfill_items(
    batch: Annotated[int, typer.Option(help="settlements per transaction")] = 2_000,
) -> None:
    """Give the standing settlements written before item facts existed (migration 0025)
    their item facts, so the cost report's top items cover them."""
    from medhtap.analytics import item_backfill

    with _runtime() as runtime:
        done = item_backfill.backfill(runtime.write_engine, batch)
    console.print(
        f"{done.settlements} settlements, {done.items} item facts, {done.batches} batches"
    )


@risk_app.command("run")
def risk_run(
    date_from: Annotated[dt.datetime | None, typer.Option("--from", formats=["%Y-%m-%d"])] = None,
    date_to: Annotated[dt.datetime | None, typer.Option("--to", formats=["%Y-%m-%d"])] = None,
    rule: Annotated[list[str] | None, typer.Option(help="rule code; repeat; default all")] = None,
) -> None:
    """Run the risk rules now (same as POST /v1/risk/run) and store their alerts."""
    from medhtap.analytics import risk

    with _runtime() as runtime:
        start, end = risk.default_window(
            date_from.date() if date_from else None, date_to.date() if date_to else None
        )
        outcome = risk.run_rules(runtime.read_engine, runtime.write_engine, start, end, rule)
    table = Table(title=f"Risk rules {start} .. {end} (run {outcome.run_id[:8]})")
    for c in ("rule", "findings", "new alerts", "engine", "ms"):
        table.add_column(c, justify="left" if c in ("rule", "engine") else "right")
    for r in outcome.rules:
        table.add_row(r.code, str(r.findings), str(r.new), r.engine, f"{r.elapsed_ms:.0f}")
    console.print(table)
    console.print(_meta_line(outcome.meta))


@risk_app.command("alerts")
def risk_alerts(
    rule: Annotated[str | None, typer.Option()] = None,
    status: Annotated[str, typer.Option()] = "open",
    limit: Annotated[int, typer.Option()] = 50,
) -> None:
    """List stored alerts (same as GET /v1/risk/alerts)."""
    from medhtap.analytics import risk

    with _runtime() as runtime:
        answer = risk.list_alerts(runtime.read_engine, rule=rule, status=status, limit=limit)
    table = Table(title=f"{answer['count']} {status} alerts")
    for c in ("detected_at", "rule_code", "psn_no", "fixmedins_code", "score", "summary"):
        table.add_column(c)
    for a in answer["alerts"]:
        table.add_row(
            *(
                str(a.get(c) or "")
                for c in (
                    "detected_at",
                    "rule_code",
                    "psn_no",
                    "fixmedins_code",
                    "score",
                    "summary",
                )
            )
        )
    console.print(table)


@risk_app.command("watch")
def risk_watch(
    seconds: Annotated[
        float | None, typer.Option(help="stop after this many seconds; default: until Ctrl-C")
    ] = None,
    interval: Annotated[float | None, typer.Option(help="seconds between passes")] = None,
) -> None:
    """Risk control as it happens: the API's risk watcher, in the foreground."""
    import threading

    from medhtap.analytics.watch import RiskWatcher

    with _runtime() as runtime:
        every = interval if interval is not None else get_settings().risk_watch_s
        if every <= 0:
            every = 2.0  # the setting's 0 means "off in the API", not "spin"
        watcher = RiskWatcher(
            runtime.read_engine, runtime.write_engine, every, reader=get_settings().analyst_user
        ).start()
        console.print(f"risk watcher: a pass every {every} s; Ctrl-C stops")
        try:
            threading.Event().wait(seconds)
        except KeyboardInterrupt:
            pass
        finally:
            watcher.stop()
    console.print("risk watcher stopped")
