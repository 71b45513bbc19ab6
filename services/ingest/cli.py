"""`medhtap ingest FILE...`: bulk import of history from CSV and Parquet exports."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from medhtap.platform.settings import get_settings

from . import runner
from .errors import IngestError
from .load import write_path
from .spec import columns_markdown

console = Console(stderr=True)


def _progress_bar() -> tuple[Progress, runner.Progress]:
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rows]:>11,} rows {task.fields[rate]:>8,.0f}/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )
    tasks: dict[str, tuple[TaskID, float]] = {}

    def update(file: str, done: int, total: int, rows: int) -> None:
        if file not in tasks:
            task = bar.add_task(Path(file).name, total=total, rows=0, rate=0.0)
            tasks[file] = (task, time.monotonic())
        task, start = tasks[file]
        rate = rows / max(time.monotonic() - start, 1e-6)
        bar.update(task, completed=done, rows=rows, rate=rate)

    return bar, update


def ingest(
    files: Annotated[list[Path] | None, typer.Argument(help="CSV or Parquet exports")] = None,
    table: Annotated[
        str | None, typer.Option(help="target table (default: from each file's name)")
    ] = None,
    rejects_dir: Annotated[
        Path | None, typer.Option(help="where FILE.rejects.jsonl go (default: beside FILE)")
    ] = None,
    batch_rows: Annotated[int, typer.Option(help="Parquet rows per transaction")] = 50_000,
    batch_mb: Annotated[float, typer.Option(help="CSV megabytes per transaction")] = 8.0,
    lanes: Annotated[int, typer.Option(help="connections loading at once")] = 2,
    pause: Annotated[
        float, typer.Option(help="seconds to wait between batches (leave a busy cluster room)")
    ] = 0.0,
    show_columns: Annotated[
        bool, typer.Option("--columns", help="print the input columns (Markdown) and stop")
    ] = False,
) -> None:
    """Check every row (schema, catalogs, money) and load the good ones; bad rows go to
    FILE.rejects.jsonl with file, line and reason. Re-running loads nothing twice; after
    Ctrl-C or kill -9 the same command continues where it stopped."""
    if show_columns:
        sys.stdout.write(columns_markdown() + "\n")
        return
    if not files:
        console.print("ingest: name at least one file (or --columns)")
        raise typer.Exit(2)
    s = get_settings()
    opts = runner.Options(rejects_dir, table, batch_rows, int(batch_mb * (1 << 20)), pause, lanes)
    try:
        runner.plan(files, table)  # a file of no known table fails before anything loads
        console.print(
            f"[bold cyan]ingest[/] write path: {write_path(s, opts.lanes)}", soft_wrap=True
        )
        bar, update = _progress_bar()
        with bar:
            stats = runner.run(s, files, opts, update)
    except IngestError as e:
        console.print(f"[red]ingest: {e.code}[/] {e.message}")
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        console.print("[yellow]ingest interrupted[/]: run the same command to continue")
        raise typer.Exit(130) from None
    out = Table(title="ingest")
    for col in ("table", "loaded", "already there", "rejected", "seconds", "rows/s"):
        out.add_column(col, justify="left" if col == "table" else "right")
    for name, st in stats.tables.items():
        out.add_row(
            name,
            f"{st.loaded:,}",
            f"{st.present:,}",
            f"{st.rejected:,}",
            f"{st.seconds:.1f}",
            f"{st.rows_per_s:,.0f}"
            + (f" ({st.skipped_files} file(s) done before)" if st.skipped_files else ""),
        )
    Console().print(out)
    for p in stats.rejects:
        if p.exists() and p.stat().st_size:
            console.print(f"rejects: {p}")
