"""Batches load on two connections at once and commit in file order.

On 2 cores the server's LOAD DATA of one batch leaves CPU unused (about 1.4x the rows/s
with two connections, measured here); committing in order keeps the committed batches a
prefix of the file, so one offset still says where to resume. Each lane writes only its
own checkpoint row, so the two optimistic transactions never conflict on it."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from . import checkpoint, load, validate
from .rejects import RejectFile


class Aborted(Exception):
    """Another batch failed (or the run was interrupted): this one must not commit."""


class Turns:
    """Batch i commits only after batch i - 1 did."""

    def __init__(self) -> None:
        self.next = 0
        self.failed = False
        self.cond = threading.Condition()

    def wait(self, i: int) -> None:
        with self.cond:
            self.cond.wait_for(lambda: self.next == i or self.failed)
            if self.failed:
                raise Aborted

    def done(self, i: int) -> None:
        with self.cond:
            self.next = i + 1
            self.cond.notify_all()

    def fail(self) -> None:
        with self.cond:
            self.failed = True
            self.cond.notify_all()


class Lane:
    def __init__(
        self,
        conn: Any,
        loader: load.Loader,
        cp: checkpoint.Checkpoint,
        rejects: RejectFile,
        turns: Turns,
        after_load: Callable[[Any, validate.Checked], object] | None = None,
    ) -> None:
        self.conn, self.loader, self.cp = conn, loader, cp
        self.rejects, self.turns = rejects, turns
        self.after_load = after_load  # more writes of the batch, in its transaction

    def run(self, i: int, c: validate.Checked) -> int:
        """Load batch i, wait for its turn, write its rejects, commit it with this lane's
        checkpoint (re-run whole on a retryable error). Rows inserted."""
        try:
            return self._run(i, c)
        except BaseException:
            self.turns.fail()
            raise

    def _run(self, i: int, c: validate.Checked) -> int:
        reject_offset: int | None = None
        for attempt in load.retrying.copy():
            with attempt:
                try:
                    self.conn.begin()
                    inserted = self.loader.load(c.data) if c.good else 0
                    if self.after_load is not None and c.good:
                        self.after_load(self.loader.cur, c)
                    self.turns.wait(i)
                    if reject_offset is None:  # once, in file order, before the commit
                        reject_offset = self.rejects.write(c.rejects)
                    after = replace(
                        self.cp,
                        byte_offset=c.batch.end_offset,
                        line_no=c.batch.end_line,
                        rows_loaded=self.cp.rows_loaded + inserted,
                        rows_present=self.cp.rows_present + c.good - inserted,
                        rows_rejected=self.cp.rows_rejected + len(c.rejects),
                        reject_offset=reject_offset,
                    )
                    checkpoint.save(self.loader.cur, after)
                    self.conn.commit()
                except BaseException:
                    with contextlib.suppress(Exception):  # a broken connection rolls back
                        self.conn.rollback()
                    raise
        self.cp = after
        self.turns.done(i)
        return inserted
