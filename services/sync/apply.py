"""Apply source transactions to TiDB, with the source position, in ONE TiDB transaction.

Exactly once: the position moves in the same transaction as the rows it produced, and a
source transaction at or before the stored position is skipped, so a crash anywhere (sync,
HIS, TiDB) followed by a restart applies nothing twice and loses nothing. Several source
transactions may share one TiDB transaction (a batch, services/sync/batch.py): the position
then moves to the batch's last GTID together with all of their rows. Keys are derived from
the source's own ids, so re-applying a snapshot row is an upsert of the same row.

A source transaction too big for one TiDB transaction comes in pieces (`pieces`), each
applied with the position of its last change (`part_gtid`, `part_changes`, migration 0024):
a restart skips the changes already in, so a big transaction is still applied exactly once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Engine, select, text, update
from sqlalchemy.dialects.mysql import insert
from sqlalchemy.orm import Session

from medhtap.platform.tx import run_in_transaction
from medhtap.schema.base import table
from medhtap.schema.sync import SyncPosition, SyncSource
from medhtap.services.sync import mapping as m
from medhtap.services.sync.batch import DEAD, ITEMS, Applied, Batch, Change, Source

__all__ = ["Applied", "Change", "Source", "Txn", "apply", "apply_batch", "pieces", "position"]
POS = table(SyncPosition)


@dataclass(frozen=True)
class Txn:
    """One source transaction (gtid None: a snapshot chunk, which has no position)."""

    gtid: str | None
    commit_time: dt.datetime | None
    changes: Sequence[Change]
    offset: int = 0  # a piece of a big transaction: its first change's index in it
    last: bool = True  # ... and whether it holds the transaction's last change


def pieces(txns: Sequence[Txn], max_rows: int) -> Iterator[list[Txn]]:
    """The batches to apply, in order: runs of whole source transactions as they came, and
    each transaction of more than `max_rows` changes alone, in pieces of `max_rows`."""
    run: list[Txn] = []
    for t in txns:
        if len(t.changes) <= max_rows or t.gtid is None:
            run.append(t)
            continue
        if run:
            yield run
            run = []
        n = len(t.changes)
        for start in range(0, n, max_rows):
            end = min(start + max_rows, n)
            yield [replace(t, changes=t.changes[start:end], offset=start, last=end == n)]
    if run:
        yield run


def position(engine: Engine, source_id: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(POS).where(POS.c.source_id == source_id)).first()


def apply(
    engine: Engine,
    src: Source,
    changes: Sequence[Change],
    *,
    gtid: str | None,
    commit_time: dt.datetime | None,
    snapshot_done: bool = True,
) -> Applied:
    """Apply `changes` (one source transaction, or a snapshot chunk when gtid is None)."""
    return apply_batch(engine, src, [Txn(gtid, commit_time, changes)], snapshot_done=snapshot_done)


def apply_batch(
    engine: Engine, src: Source, txns: Sequence[Txn], *, snapshot_done: bool = True
) -> Applied:
    """Apply consecutive source transactions and their position in one TiDB transaction."""

    def unit(session: Session) -> Applied:
        # Optimistic: the FOR UPDATE rows and every written key are checked for conflicts at
        # COMMIT instead of being locked one round trip at a time; a settlement that touched
        # them in between fails the commit with a write conflict and the unit runs again.
        session.execute(text("BEGIN OPTIMISTIC"))
        pos = session.execute(
            select(POS).where(POS.c.source_id == src.source_id).with_for_update()
        ).first()
        # The running position also drops a transaction the reader delivered twice (the
        # binlog library re-reads from its start GTID when it reconnects on its own).
        running = pos.gtid if pos is not None else ""
        part_gtid = pos.part_gtid if pos is not None else None
        part_changes = pos.part_changes if pos is not None else 0
        todo: list[Txn] = []
        out = Applied()
        for t in txns:
            if t.gtid is not None and m.already_applied(running, t.gtid):
                out.skipped += 1
                continue
            if t.gtid is not None and t.gtid == part_gtid:  # partly applied: the rest
                done = part_changes - t.offset
                if done >= len(t.changes):
                    out.skipped += 1
                    continue
                t = replace(t, changes=t.changes[max(0, done) :], offset=t.offset + max(0, done))
            todo.append(t)
            if t.gtid is None:
                continue
            if t.last:
                running, part_gtid, part_changes = m.advance(running, t.gtid), None, 0
            else:
                part_gtid, part_changes = t.gtid, t.offset + len(t.changes)
        if not todo:
            return out
        batch = Batch.open(session, src, [c for t in todo for c in t.changes])
        for t in todo:
            for change in t.changes:
                batch.add(change, t.gtid or "snapshot", out)
        batch.flush()
        last = next((t for t in reversed(todo) if t.gtid is not None), None)
        if last is not None:
            values = {
                "gtid": running,
                "part_gtid": part_gtid,
                "part_changes": part_changes,
                "source_commit_time": last.commit_time,
                "snapshot_done": snapshot_done,
                "events": (pos.events if pos else 0) + sum(len(t.changes) for t in todo),
                "applied_at": dt.datetime.now(),
            }
            session.execute(
                insert(POS)
                .values(source_id=src.source_id, **values)
                .on_duplicate_key_update(values)
            )
        return out

    return run_in_transaction(engine, unit, name="sync_apply", idempotent=True)


def load_source(engine: Engine, source_id: str) -> Source:
    src = table(SyncSource)
    with engine.connect() as conn:
        row = conn.execute(select(src).where(src.c.source_id == source_id)).first()
    if row is None:
        raise LookupError(f"no sync source {source_id!r} (run: medhtap sync register)")
    return Source(row.source_id, row.fixmedins_code, m.Spec(row.mapping))


def register(
    engine: Engine,
    source_id: str,
    fixmedins_code: str,
    spec: dict[str, Any],
    item_map: Sequence[tuple[str, str]],
) -> None:
    """Add or update a source and its unified-coding rows (local code -> national code)."""

    def unit(session: Session) -> None:
        values = {"fixmedins_code": fixmedins_code, "mapping": spec}
        session.execute(
            insert(table(SyncSource))
            .values(source_id=source_id, **values)
            .on_duplicate_key_update(values)
        )
        for local, national in item_map:
            session.execute(
                insert(ITEMS)
                .values(source_id=source_id, local_item_code=local, item_code=national)
                .on_duplicate_key_update(item_code=national)
            )

    run_in_transaction(engine, unit, name="sync_register")


def replay_dead(engine: Engine, src: Source) -> tuple[int, int]:
    """Apply the source's open dead letters whose mapping now exists: (replayed, still dead)."""
    with engine.connect() as conn:
        ids = list(
            conn.execute(
                select(DEAD.c.id).where(
                    DEAD.c.source_id == src.source_id, DEAD.c.replayed_at.is_(None)
                )
            ).scalars()
        )
    replayed = 0
    for dead_id in ids:

        def unit(session: Session, dead_id: int = dead_id) -> bool:
            row = session.execute(
                select(DEAD)
                .where(DEAD.c.id == dead_id, DEAD.c.replayed_at.is_(None))
                .with_for_update()
            ).first()
            if row is None:
                return False
            change = Change(row.his_table, row.op, _revive(row.row_data))
            role = src.spec.role_of(change.table)
            try:
                if role is not None:
                    batch = Batch.open(session, src, [change])
                    batch.apply(role, change, Applied())
                    batch.flush()
            except m.Rejected as exc:
                session.execute(
                    update(DEAD).where(DEAD.c.id == dead_id).values(reason=str(exc)[:400])
                )
                return False
            session.execute(
                update(DEAD).where(DEAD.c.id == dead_id).values(replayed_at=dt.datetime.now())
            )
            return True

        replayed += run_in_transaction(engine, unit, name="sync_replay_dead")
    return replayed, len(ids) - replayed


def _revive(data: Mapping[str, Any]) -> dict[str, Any]:
    """Dead-letter rows are stored as JSON: give times back their type."""
    out: dict[str, Any] = {}
    for k, v in data.items():
        if isinstance(v, str) and len(v) >= 19 and v[4] == "-" and v[10] == "T":
            try:
                out[k] = dt.datetime.fromisoformat(v)
                continue
            except ValueError:
                pass
        out[k] = v
    return out
