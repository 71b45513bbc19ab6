"""`medhtap` command line: the database lifecycle, the API server and the demo."""

from __future__ import annotations

import json
import logging
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import DBAPIError

from medhtap.platform import localdb, migrate
from medhtap.platform.capabilities import probe
from medhtap.platform.db import make_engine, write_engine
from medhtap.platform.settings import get_settings
from medhtap.services.analyst.cli import report_app, risk_app
from medhtap.services.his.cli import his_app
from medhtap.services.ingest.cli import ingest
from medhtap.services.sync.cli import sync_app

app = typer.Typer(
    help="MedHTAP: medical-insurance settlement and T+0 analytics on TiDB.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold passwords and personal data
)
db = typer.Typer(help="The database: start, stop, inspect, migrate, seed.", no_args_is_help=True)
app.add_typer(db, name="db")
app.add_typer(report_app, name="report")
app.add_typer(risk_app, name="risk")
app.add_typer(his_app, name="his")
app.add_typer(sync_app, name="sync")
app.command("ingest")(ingest)
console = Console()


def say(msg: str) -> None:
    console.print(f"[bold cyan]db[/] {msg}")


@db.command("up")
def db_up() -> None:
    """Start (or find) the database: MEDHTAP_DSN, tiup playground, or a local tidb-server."""
    running = localdb.up(get_settings(), say)
    say(f"source: {running.source}")


@db.command("down")
def db_down() -> None:
    """Stop the server `medhtap db up` started."""
    localdb.down(get_settings(), say)


@db.command("status")
def db_status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """What is running and what it can do (TiDB version, store, TiFlash, resource control,
    crash safety: whether a kill -9 of the database keeps every acknowledged transaction)."""
    s = get_settings()
    running = localdb.status(s)
    if running is None:
        console.print(f"[red]no database answers on {s.host}:{s.port}[/] (run: medhtap db up)")
        raise typer.Exit(1)
    engine = make_engine(s.server_url(), settings=s, pool_size=1)  # the database may not exist yet
    try:
        caps = probe(engine, s.database)
        try:
            revision = migrate.current(s)
        except DBAPIError:
            revision = "not migrated (run: medhtap db migrate)"
    finally:
        engine.dispose()
    info = {
        "source": running.source,
        "pid": running.pid,
        "database": s.database,
        "migration": revision,
        **caps.as_dict(),
    }
    if as_json:
        console.print_json(json.dumps(info, default=str))
        return
    table = Table(title="MedHTAP database", show_header=False)
    for k, v in info.items():
        if k == "tidb_version":
            continue
        table.add_row(k, str(v))
    console.print(table)


@db.command("migrate")
def db_migrate(revision: str = "head") -> None:
    """Apply migrations up to REVISION (default head)."""
    s = get_settings()
    migrate.upgrade(s, revision)
    say(f"database {s.database} at revision {migrate.current(s)}")


@db.command("downgrade")
def db_downgrade(revision: str) -> None:
    """Roll migrations back to REVISION ('base' for an empty database)."""
    s = get_settings()
    migrate.downgrade(s, revision)
    say(f"database {s.database} at revision {migrate.current(s)}")


@db.command("purge-idempotency")
def db_purge_idempotency(
    days: Annotated[int | None, typer.Option(help="default MEDHTAP_IDEMPOTENCY_TTL_DAYS")] = None,
    batch: int = 1000,
    max_batches: int = 100,
) -> None:
    """Delete idempotency records older than the TTL, in bounded batches (for stores
    without TiDB's TTL job; harmless beside it)."""
    from medhtap.services.settlement import expiry

    s = get_settings()
    engine = write_engine(s)
    try:
        with engine.connect() as conn:
            mode = expiry.mode(conn)
        n = expiry.purge_expired(
            engine, days or s.idempotency_ttl_days, batch=batch, max_batches=max_batches
        )
    finally:
        engine.dispose()
    say(f"purged {n} idempotency records (expiry on this store: {mode})")


@db.command("seed")
def db_seed() -> None:
    """Load reference data: ICD-10, the catalog, institutions (idempotent)."""
    from medhtap.schema.seed import seed_reference

    engine = write_engine()
    try:
        with engine.begin() as conn:
            counts = seed_reference(conn)
    finally:
        engine.dispose()
    say(", ".join(f"{k}: {v}" for k, v in counts.items()))


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the API (OpenAPI docs at /docs)."""
    import uvicorn

    logging.basicConfig(level=logging.INFO)
    uvicorn.run("medhtap.services.api:create_app", factory=True, host=host, port=port)


@app.command()
def demo(
    port: int = 8000,
    visits: Annotated[int, typer.Option(help="synthetic settled visits to load")] = 3000,
    exit_after: Annotated[bool, typer.Option("--exit", help="stop after the report")] = False,
) -> None:
    """The whole story: TiDB, migrations, data, API, one settlement, a T+0 cost report."""
    from medhtap.services.demo import run_demo

    run_demo(get_settings(), port=port, exit_after=exit_after, visits=visits)


if __name__ == "__main__":
    app()
