"""Reference data of the money path, cached per process for a few seconds.

A settlement reads four reference facts that change rarely and never inside a visit: the
institution's level, the benefit policy in force on the visit day, and the secondary and
assistance funds (with their segments) in force on that day. Each was one round trip per
settlement. They are now kept per process for `MEDHTAP_REFERENCE_CACHE_S` seconds (default
5; 0 turns the cache off), keyed by the engine (one database) and by every input of the
lookup, the visit day included, so a policy that starts tomorrow is looked up tomorrow.
The enabled review rules (review_rule rows, which 2207's review gate and 3101/3102 apply)
are kept the same way, as one entry (services/review/service.py `active_rules`).

What this changes: a new or edited policy or review rule row takes effect within that many
seconds instead of at the next statement (before, reference data was read "as of the statement", see
units.py; a change committed while a settlement ran was already seen or not by chance).
A lookup that finds nothing (no institution, no policy: the settlement is refused) is not
kept, so a row added to fix it counts at once (an empty rule set is kept: "no rule
enabled" is an answer). `clear()` empties this process's cache (tests, an operator's
change that must count immediately; other processes keep theirs until the bound).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

from sqlalchemy.orm import Session

from medhtap.platform.settings import get_settings

T = TypeVar("T")
MAX_ENTRIES = 10_000  # per database; beyond it the cache starts again (visit days vary)


class ReferenceCache:
    def __init__(self, ttl_s: float | None = None) -> None:
        self._ttl_s = ttl_s
        self._by_engine: WeakKeyDictionary[Any, dict[Hashable, tuple[float, Any]]] = (
            WeakKeyDictionary()
        )

    @property
    def ttl_s(self) -> float:
        return get_settings().reference_cache_s if self._ttl_s is None else self._ttl_s

    def get(self, session: Session, key: Hashable, load: Callable[[], T], *, keep_none: bool) -> T:
        """The cached value of `key` for the session's database, else `load()` (kept for
        ttl_s seconds; a None result only if keep_none)."""
        ttl = self.ttl_s
        if ttl <= 0:
            return load()
        entries = self._by_engine.get(session.get_bind())
        if entries is None:
            entries = self._by_engine.setdefault(session.get_bind(), {})
        now = time.monotonic()
        hit = entries.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = load()
        if value is not None or keep_none:
            if len(entries) >= MAX_ENTRIES:
                entries.clear()
            entries[key] = (now + ttl, value)
        return value

    def clear(self) -> None:
        self._by_engine.clear()


CACHE = ReferenceCache()


def clear() -> None:
    CACHE.clear()
