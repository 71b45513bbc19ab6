"""What every settlement operation shares: the caller, new ids, and `Entry`, the one helper
that runs a unit of work in its own TiDB transaction.

`*_unit(session, ...)` functions do the reads, rules and writes of one request and never
commit; `Entry(unit, ...)` is the engine-level entry point that runs them through
`platform.tx.run_in_transaction`, which owns the TiDB transaction and re-runs the whole unit
on a retryable error.

Lock order, the same in every unit, so units cannot deadlock each other:
idempotency key -> settlement row (cancel) -> visit -> person -> accumulator rows.
The person row lock serialises all money of one person (balance, deductible, annual caps,
fund accumulators).

Isolation (issue 10.1): every unit that writes runs at READ COMMITTED (see platform/tx.py
for TiDB's documentation and source). Each statement then reads what was committed before it
started, so a read that follows a lock wait sees the work of the transaction it waited for;
at TiDB's REPEATABLE READ a plain SELECT would read the transaction's start snapshot instead.
Why each unit's reads are safe at READ COMMITTED is argued at the unit. The rule they share:
every row a money decision depends on is either locked by this unit before it is read
(idempotency key, settlement, visit, person, accumulator), or written only by units that
hold the lock of its owner (a visit's fee lines: every writer locks the visit first), so once
the owner's lock is held the statement's fresh read is also the final state; reference data
(institution, catalog, policy, fund policy, diagnosis) is read as of the statement, like any
other commit-time fact. The read-only units (person read, 2206 pre-settlement) keep
REPEATABLE READ: they write nothing, and want their reads to be one consistent snapshot.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Concatenate, Generic, ParamSpec, TypeVar

from sqlalchemy import Engine

from medhtap.platform.db import WriteSession
from medhtap.platform.tx import READ_COMMITTED, run_in_transaction
from medhtap.services.auth import Principal

DUPLICATE_KEY = 1062
MAX_VISIT_TOTAL = Decimal("1e13")  # DECIMAL(16,2) holds < 1e14; keep a margin for sums

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class Caller:
    principal: Principal
    request_id: str | None = None

    @property
    def actor(self) -> str:
        return self.principal.name


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Entry(Generic[P, T]):
    """`entry(engine, *args)` runs `unit(session, *args)` in one transaction and commits.

    writes: READ COMMITTED (the money units, see the module docstring); False keeps TiDB's
    REPEATABLE READ for read-only units. idempotent: the unit checks its own idempotency
    record first, so after a connection loss during COMMIT a re-run finds the stored answer
    if the commit landed and does the work if it did not."""

    unit: Callable[Concatenate[WriteSession, P], T]
    name: str
    writes: bool = True
    idempotent: bool = False
    max_attempts: int = 5

    def __call__(self, engine: Engine, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return run_in_transaction(
            engine,
            lambda s: self.unit(s, *args, **kwargs),
            name=self.name,
            idempotent=self.idempotent,
            isolation=READ_COMMITTED if self.writes else None,
            max_attempts=self.max_attempts,
        )

    def with_attempts(self, max_attempts: int) -> Entry[P, T]:
        return dataclasses.replace(self, max_attempts=max_attempts)
