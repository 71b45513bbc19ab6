"""`medhtap his ...`: a hospital's own database (MariaDB) for development, tests and demos."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from medhtap.platform import hisdb
from medhtap.platform.db import write_engine
from medhtap.platform.settings import get_settings
from medhtap.services.his.simulate import MAX_SECONDS, simulate

his_app = typer.Typer(help="A hospital's own database (HIS, MariaDB): start, stop, simulate.")
console = Console()


def say(msg: str) -> None:
    console.print(f"[bold magenta]his[/] {msg}")


@his_app.command("up")
def his_up() -> None:
    """Start (or find) the HIS MariaDB: own data dir and port, row binlog, GTIDs, repl account."""
    hisdb.up(hisdb.HisSettings(), say)


@his_app.command("down")
def his_down() -> None:
    """Stop the HIS MariaDB `medhtap his up` started."""
    hisdb.down(hisdb.HisSettings(), say)


def insured_psn_nos(limit: int) -> list[str]:
    """Insured persons of the platform, so simulated patients carry real insurance numbers."""
    engine = write_engine(get_settings())
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT psn_no FROM insured_person WHERE psn_status = 'active' LIMIT :n"),
                {"n": limit},
            )
            return [str(r[0]) for r in rows]
    except DBAPIError:
        return []
    finally:
        engine.dispose()


@his_app.command("simulate")
def his_simulate(
    rate: Annotated[float, typer.Option(min=1, max=20_000, help="rows per second")] = 100,
    seconds: Annotated[float, typer.Option(min=1, max=MAX_SECONDS)] = 30,
    persons: Annotated[int, typer.Option(help="insured persons to draw patients from")] = 500,
) -> None:
    """Write live hospital activity (patients, visits, charges, corrections) for a bounded time."""
    h = hisdb.HisSettings()
    psn_nos = insured_psn_nos(persons)
    if not psn_nos:
        say("no insured persons found in the platform: patients will be uninsured")
    with Progress(console=console) as progress:
        task = progress.add_task(f"HIS {h.name} rows", total=int(rate * seconds))
        out = simulate(
            h,
            rate=rate,
            seconds=seconds,
            psn_nos=psn_nos,
            on_tick=lambda rows: progress.update(task, completed=rows),
        )
    say(f"{out.rows} rows in {out.seconds:.1f} s ({out.rows / out.seconds:.0f}/s): {out.actions}")
