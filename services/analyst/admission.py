"""Admission control for analytic routes: bounded concurrency and a bounded wait queue.

FastAPI runs every sync route in one thread pool (40 threads). Without a bound, 45 slow
analyst queries hold every thread and a settlement waits behind them. Analytic routes take
a slot here first, in the event loop (a waiting request holds no thread): at most
`analyst_max_concurrent` run at once, at most `analyst_queue_max` wait, each for at most
`analyst_queue_wait_s`; everything else gets 429 with Retry-After at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from prometheus_client import Gauge

from medhtap.analytics.errors import AnalyticsBusy
from medhtap.platform.settings import Settings

ANALYTIC_RUNNING = Gauge("medhtap_analytic_running", "analytic requests running")
ANALYTIC_WAITING = Gauge("medhtap_analytic_waiting", "analytic requests waiting for a slot")


class Admission:
    def __init__(self, settings: Settings) -> None:
        self.concurrent = settings.analyst_max_concurrent
        self.queue_max = settings.analyst_queue_max
        self.wait_s = settings.analyst_queue_wait_s
        self.retry_after_s = settings.retry_after_s
        self._slots: anyio.Semaphore | None = None  # created inside the event loop
        self.waiting = 0

    def _busy(self, why: str) -> AnalyticsBusy:
        return AnalyticsBusy(
            f"analytics are busy ({why}): retry after {self.retry_after_s} s",
            retry_after_s=self.retry_after_s,
            running=self.concurrent,
            waiting=self.waiting,
        )

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one slot for the whole request (see services.deps.analytic_slot)."""
        if self._slots is None:
            self._slots = anyio.Semaphore(self.concurrent)
        slots = self._slots
        if slots.value == 0 and self.waiting >= self.queue_max:
            raise self._busy(f"{self.waiting} requests already waiting")
        self.waiting += 1
        ANALYTIC_WAITING.inc()
        try:
            with anyio.fail_after(self.wait_s):
                await slots.acquire()
        except TimeoutError:
            raise self._busy(f"no slot within {self.wait_s:g} s") from None
        finally:
            self.waiting -= 1
            ANALYTIC_WAITING.dec()
        ANALYTIC_RUNNING.inc()
        try:
            yield
        finally:
            ANALYTIC_RUNNING.dec()
            slots.release()
