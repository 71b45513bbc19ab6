"""Idempotency records expire (issue 13.3): kept `MEDHTAP_IDEMPOTENCY_TTL_DAYS` days.

Within that time a repeated Idempotency-Key replays the stored answer, as always. Once the
record is gone, the same key is a new request: a 2207 for a visit still settled answers
409 ALREADY_SETTLED, a 2208 of a cancelled settlement 409 ALREADY_CANCELLED, and a visit
reopened since (its settlement cancelled) is settled anew.

Who deletes, decided at run time (`mode`):
- "ttl": TiDB's TTL table option (`TTL = created_at + INTERVAL n DAY`). The server's TTL job
  deletes expired rows in the background, every `TTL_JOB_INTERVAL` (1 h here), so a record
  lives n days plus at most about that interval. Checked on the local unistore server at
  the pinned commit: the job runs there too (`mysql.tidb_ttl_job_history`).
- "purge": any other server, or TiDB with `tidb_ttl_job_enable` off. `purge_expired` deletes
  in bounded batches (`DELETE ... LIMIT`), from `medhtap db purge-idempotency` and from the
  API process every `PURGE_EVERY_S` (`Purger`).
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Literal

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)

TABLE = "idempotency_record"
JOB_INTERVAL = "1h"
PURGE_EVERY_S = 3600.0
Mode = Literal["ttl", "purge"]
# As SHOW CREATE TABLE prints the option: /*T![ttl] TTL=`created_at` + INTERVAL 30 DAY */
_TTL_DAYS = re.compile(r"TTL=`created_at` \+ INTERVAL (\d+) DAY")


def mode_for(version: str, ttl_job_enable: str | None) -> Mode:
    """TTL needs TiDB (the option exists since 6.5) with its TTL job switched on."""
    on = str(ttl_job_enable).upper() in ("1", "ON")
    return "ttl" if "TiDB" in version and on else "purge"


def mode(conn: Connection) -> Mode:
    version = str(conn.execute(text("SELECT VERSION()")).scalar())
    enable = None
    if "TiDB" in version:
        row = conn.execute(text("SHOW GLOBAL VARIABLES LIKE 'tidb_ttl_job_enable'")).first()
        enable = row[1] if row else None
    return mode_for(version, enable)


def table_ttl_days(conn: Connection) -> int | None:
    """The TTL the table carries now (None: no TTL option)."""
    ddl = str(conn.execute(text(f"SHOW CREATE TABLE {TABLE}")).one()[1])
    found = _TTL_DAYS.search(ddl)
    return int(found.group(1)) if found else None


def ttl_ddl(days: int) -> str:
    if not 1 <= days <= 36_500:
        raise ValueError("the idempotency TTL must be 1..36500 days")
    return (
        f"ALTER TABLE {TABLE} TTL = `created_at` + INTERVAL {int(days)} DAY "
        f"TTL_ENABLE = 'ON' TTL_JOB_INTERVAL = '{JOB_INTERVAL}'"
    )


def ensure(engine: Engine, days: int) -> Mode:
    """Make the table's expiry match the setting; returns who deletes. The DDL runs only
    when the TTL differs (a changed setting), so every API start can call it."""
    with engine.begin() as conn:
        m = mode(conn)
        if m == "ttl" and table_ttl_days(conn) != days:
            conn.execute(text(ttl_ddl(days)))
            log.info("idempotency records now expire after %d days (TiDB TTL)", days)
    return m


def purge_expired(engine: Engine, days: int, *, batch: int = 1000, max_batches: int = 100) -> int:
    """Delete records older than `days`, `batch` rows per transaction, at most `max_batches`
    transactions (bounded work per call; the next call goes on). Returns the rows deleted.

    Safe beside live traffic: a record is written and finished in one transaction, so an
    expired row is never one a request is using; the created_at index finds the batch."""
    deleted = 0
    for _ in range(max_batches):
        with engine.begin() as conn:
            n = conn.execute(
                text(
                    f"DELETE FROM {TABLE} WHERE created_at < NOW(6) - INTERVAL :days DAY "
                    "ORDER BY created_at LIMIT :batch"
                ),
                {"days": days, "batch": batch},
            ).rowcount
        deleted += n
        if n < batch:
            break
    return deleted


def start(engine: Engine, days: int) -> Purger | None:
    """At API start: apply the setting; a purge thread when the store has no TTL job. A
    database not reachable or not migrated yet only logs: requests report it themselves."""
    try:
        m = ensure(engine, days)
    except DBAPIError as exc:
        log.warning("idempotency expiry not checked at start: %s", exc.orig)
        return None
    return Purger(engine, days).start() if m == "purge" else None


class Purger:
    """The API's fallback when the store has no TTL job: purge every `every_s` seconds."""

    def __init__(self, engine: Engine, days: int, every_s: float = PURGE_EVERY_S) -> None:
        self.engine, self.days, self.every_s = engine, days, every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="idempotency-purge", daemon=True)

    def start(self) -> Purger:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                n = purge_expired(self.engine, self.days)
                if n:
                    log.info("purged %d expired idempotency records", n)
            except Exception:  # a failed sweep is retried at the next one
                log.exception("idempotency purge failed")
            self._stop.wait(self.every_s)
