"""`medhtap sync ...`: follow hospital databases (HIS) into the platform, exactly once."""

from __future__ import annotations

import datetime as dt
import logging
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from medhtap.platform.db import write_engine
from medhtap.platform.hisdb import HisSettings
from medhtap.platform.settings import get_settings
from medhtap.services.his.simulate import local_items
from medhtap.services.sync import apply, stream
from medhtap.services.sync.mapping import default_mapping
from medhtap.services.sync.status import status_rows

sync_app = typer.Typer(help="Live sync from hospital databases (HIS, MySQL/MariaDB binlog).")
console = Console()


@sync_app.command("register")
def sync_register(
    institution: Annotated[str, typer.Option(help="fixmedins_code of the hospital")],
    dev_item_map: Annotated[
        bool, typer.Option(help="unified coding of the development HIS's local items")
    ] = True,
) -> None:
    """Register the HIS named by MEDHTAP_HIS_NAME with its mapping and item codes."""
    h = HisSettings()
    items = [(local, national) for local, national, _, _ in local_items(h.name) if national]
    engine = write_engine(get_settings())
    apply.register(engine, h.name, institution, default_mapping(), items if dev_item_map else [])
    console.print(f"source {h.name} -> {institution}: {len(items)} item codes mapped")


@sync_app.command("run")
def sync_run(
    seconds: Annotated[float, typer.Option(help="stop after this long (0: until Ctrl-C)")] = 0,
    trace: Annotated[
        Path | None,
        typer.Option(help="append '<gtid> <unix time>' per applied source transaction (bench)"),
    ] = None,
) -> None:
    """Snapshot (first time), then follow the binlog; the position is stored with the rows."""
    # the snapshot's path and counts, reconnects and retries go to stderr
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    h = HisSettings()
    engine = write_engine(get_settings())
    src = apply.load_source(engine, h.name)
    deadline = time.monotonic() + seconds if seconds else None
    stopping = False

    def _stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    console.print(f"sync {h.name}: following {h.host}:{h.port}/{h.database}")
    out = trace.open("a", buffering=1) if trace else None

    def _trace(txns: Sequence[apply.Txn]) -> None:
        if out is not None:
            now = time.time()
            out.write("".join(f"{t.gtid} {now:.6f}\n" for t in txns if t.gtid))

    try:
        stream.run(
            h,
            engine,
            src,
            stop=lambda: stopping or (deadline is not None and time.monotonic() > deadline),
            on_apply=_trace if out else None,
        )
    finally:
        if out is not None:
            out.close()


@sync_app.command("status")
def sync_status() -> None:
    """Per source: position, lag behind the source's commit time, dead letters, quality events."""
    rows = status_rows(write_engine(get_settings()))
    t = Table("source", "institution", "gtid", "snapshot", "last applied", "lag s", "dead", "dq")
    for r in rows:
        applied = r["applied_at"].isoformat(sep=" ", timespec="seconds") if r["applied_at"] else "-"
        lag = f"{r['lag_s']:.1f}" if r["lag_s"] is not None else "-"
        t.add_row(
            r["source_id"],
            r["fixmedins_code"],
            r["gtid"] or "-",
            "done" if r["snapshot_done"] else "pending",
            applied,
            lag,
            str(r["dead_letters"]),
            str(r["quality_events"]),
        )
    console.print(t)
    console.print(f"as of {dt.datetime.now():%Y-%m-%d %H:%M:%S}")


@sync_app.command("replay-dead")
def sync_replay_dead() -> None:
    """Apply dead-lettered rows whose mapping has been added since."""
    h = HisSettings()
    engine = write_engine(get_settings())
    done, left = apply.replay_dead(engine, apply.load_source(engine, h.name))
    console.print(f"replayed {done}, still dead {left}")
