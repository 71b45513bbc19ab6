"""The TiDB behaviour the idempotency design rests on, checked on the real server:
in a pessimistic transaction, SELECT ... FOR UPDATE of a key that does not exist yet locks
that key, so a second transaction asking for the same key waits and then sees the row."""

from __future__ import annotations

import threading
import time
import uuid

from sqlalchemy import Engine

from medhtap.platform.db import write_sessionmaker
from medhtap.services.settlement import repository as repo


def test_for_update_on_a_missing_idempotency_key_blocks_a_second_transaction(
    engine: Engine,
) -> None:
    key = f"probe:{uuid.uuid4().hex}"
    factory = write_sessionmaker(engine)
    seen: dict[str, object] = {}

    first = factory()
    assert repo.get_idempotency(first, key, lock=True) is None  # locks the missing key

    def second() -> None:
        with factory() as s:
            started = time.perf_counter()
            row = repo.get_idempotency(s, key, lock=True)
            seen["waited"] = time.perf_counter() - started
            seen["row"] = row
            s.rollback()

    t = threading.Thread(target=second)
    t.start()
    time.sleep(0.5)
    assert t.is_alive(), "the second transaction should be waiting for the key lock"
    repo.put_idempotency(first, key, "h" * 64, 200, {"ok": True})
    first.commit()
    first.close()
    t.join(timeout=30)
    assert float(seen["waited"]) >= 0.4  # type: ignore[arg-type]
    assert seen["row"] is not None and seen["row"].response == {"ok": True}  # type: ignore[attr-defined]
