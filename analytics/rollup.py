"""Cost rollups: the analytic facts added up per day and group, exact and T+0.

A cost report over a year of a city's settlements sums a million facts per request; on two
cores that is seconds of decimal arithmetic, most of it repeated from the last request. The
rollup worker (`fold_once`, run by the risk watcher in the API process and by `medhtap
report fold`) adds the facts up once, per dimension set (a report's group_by without the
month), settlement day and group, into `cost_rollup`, and records per dimension set the
`recorded_at` up to which it has folded (`rollup_state.folded_to`). A report then reads the
rollup rows of its days plus the facts recorded since `folded_to` (the tail), in one
snapshot (analytics/sql/cost_rollup.sql). Facts are only ever added (a cancel adds a -1
fact), so adding the tail to the rollup is exact.

Why no fact is missed or counted twice: a fold moves `folded_to` to W in the same
transaction as the rows it adds, where W is earlier, by `MARGIN`, than both now and the
start of every transaction still open on the cluster (information_schema.cluster_tidb_trx,
read before the fold's transaction starts; the read-only analyst account is left out).
Every writer of facts sets `recorded_at` at or after its transaction began (the settlement
units take the time inside the transaction; loaders use NOW(6) in the LOAD DATA statement),
so a fact with recorded_at < W belongs to a transaction that had ended before the fold
began: the fold's snapshot sees it, and it is folded; a fact with recorded_at >= W is in the
tail. MARGIN also absorbs clock differences between application hosts and TiDB.

Persons (a distinct count) do not add up over days or groups: reports count them from the
facts (analytics/sql/cost_persons.sql).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text

from medhtap.analytics import sqlfiles

log = logging.getLogger("medhtap.analytics.rollup")

# group_by choice -> the fact column the rollup keeps it in ("month" comes from the day)
KEY_COLUMNS: dict[str, str] = {
    "institution": "fixmedins_code",
    "institution_level": "hosp_lv",
    "department": "dept_name",
    "diagnosis": "main_diag_code",
    "diagnosis_chapter": "diag_chapter",
    "insurance_type": "insutype",
    "visit_kind": "med_type",
    "age_band": "age_band",
    "gender": "gend",
    "region": "admdvs",
}
ORDER = list(KEY_COLUMNS.values())
# Reports ask for other combinations on demand; up to this many keys they get a rollup of
# their own (registered on first use, built by the next fold); wider ones are read live.
MAX_KEYS = 2
MARGIN = dt.timedelta(seconds=5)
EPOCH = dt.datetime(1000, 1, 1)

OLDEST_OPEN = text(
    "SELECT NOW(6) AS now, MIN(start_time) AS oldest "
    "FROM information_schema.cluster_tidb_trx WHERE user <> :reader"
)
STATES = text("SELECT dims, folded_to FROM rollup_state ORDER BY dims")
LOCK_STATE = text("SELECT folded_to FROM rollup_state WHERE dims = :dims FOR UPDATE")
COUNT_NEW = text(
    "SELECT COUNT(*) FROM setl_fact WHERE recorded_at >= :folded_from AND recorded_at < :folded_to"
)
MOVE_STATE = text(
    "UPDATE rollup_state SET folded_to = :folded_to, folded_at = NOW(6), "
    "folded_facts = folded_facts + :n WHERE dims = :dims"
)
REGISTER = text("INSERT IGNORE INTO rollup_state (dims, registered_at) VALUES (:dims, NOW(6))")


def dims_of(group_by: list[str]) -> str | None:
    """The dimension set of a report's group_by (canonical order, comma separated; '' for
    month alone), or None if it is too wide for a rollup of its own."""
    columns = {KEY_COLUMNS[d] for d in group_by if d != "month"}
    if len(columns) > MAX_KEYS:
        return None
    return ",".join(c for c in ORDER if c in columns)


def safe_watermark(conn: Connection, reader: str, margin: dt.timedelta = MARGIN) -> dt.datetime:
    """W: every fact recorded before it is committed (see the module docstring)."""
    row = conn.execute(OLDEST_OPEN, {"reader": reader}).one()
    now: dt.datetime = row.now
    oldest: dt.datetime | None = row.oldest
    return min(now, oldest or now) - margin


@dataclass(frozen=True)
class Fold:
    dims: str
    facts: int  # facts added in this fold
    folded_to: dt.datetime


def fold_dims(engine: Engine, dims: str, watermark: dt.datetime) -> Fold | None:
    """Add the facts recorded in [folded_to, watermark) to the rollup of `dims`, and move
    its watermark, in one transaction. None when there was nothing to do."""
    keys = "".join(f", {c}" for c in dims.split(",") if c)
    sql = sqlfiles.fill(
        sqlfiles.load("rollup_fold"), KEYS=keys, FACT_KEYS=keys.replace(", ", ", f.")
    )
    with engine.begin() as conn:
        # the state row's lock serialises the folders of several API workers
        folded_from = conn.execute(LOCK_STATE, {"dims": dims}).scalar_one_or_none() or EPOCH
        if folded_from >= watermark:
            return None
        span = {"folded_from": folded_from, "folded_to": watermark}
        n = int(conn.execute(COUNT_NEW, span).scalar_one())
        if n == 0 and folded_from != EPOCH:
            return None  # nothing new: leave the watermark (the tail is empty anyway)
        if n:
            conn.execute(text(sql), span | {"dims": dims})
        conn.execute(MOVE_STATE, {"dims": dims, "folded_to": watermark, "n": n})
    return Fold(dims, n, watermark)


def fold_once(engine: Engine, reader: str, margin: dt.timedelta = MARGIN) -> list[Fold]:
    """One pass of the worker over every registered dimension set."""
    with engine.connect() as conn:
        watermark = safe_watermark(conn, reader, margin)
        states = conn.execute(STATES).all()
    folds = []
    for dims, folded_to in states:
        if folded_to is not None and folded_to >= watermark:
            continue
        done = fold_dims(engine, dims, watermark)
        if done is not None:
            folds.append(done)
            log.info("rollup %r: %d facts folded up to %s", dims or "(days)", done.facts, watermark)
    return folds


def register(engine: Engine, dims: str) -> None:
    """Ask the worker to build a rollup for `dims` (nothing if it has one)."""
    with engine.begin() as conn:
        conn.execute(REGISTER, {"dims": dims})


def rebuild(engine: Engine, dims: str | None = None) -> None:
    """Forget a rollup (all, when dims is None): the next fold builds it from the facts."""
    where, params = ("WHERE dims = :dims", {"dims": dims}) if dims is not None else ("", {})
    with engine.begin() as conn:
        conn.execute(text(f"DELETE FROM cost_rollup {where}"), params)
        conn.execute(text(f"UPDATE rollup_state SET folded_to = NULL {where}"), params)
