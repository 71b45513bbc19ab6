"""A full risk run hash-joins a quarter's fee lines to their facts; a watcher pass keeps
the planner's index join from its few persons (analytics/risk.py FULL_HINT). The index
join the planner chose for full runs on stale statistics cost 43 s of duplicate_charge's
run at 1M visits (20 s hash-joined; restricted_items 12.2 s -> 2.7 s)."""

from __future__ import annotations

import pytest

from medhtap.analytics import risk

HINTED = ["duplicate_charge", "restricted_items"]


@pytest.mark.parametrize("code", HINTED)
def test_a_full_run_hash_joins_lines_to_facts_and_a_pass_does_not(code: str) -> None:
    full, _ = risk.scoped(risk.RULES[code].sql, None)
    scope = {k: frozenset({"X"}) for k in risk.SCOPE_KINDS}
    passed, _ = risk.scoped(risk.RULES[code].sql, scope)
    assert "/*+ HASH_JOIN(fd, f) */" in full.text
    assert "HASH_JOIN" not in "\n".join(
        ln for ln in passed.text.splitlines() if not ln.lstrip().startswith("--")
    )
    assert "FULL+" not in "\n".join(
        ln for ln in full.text.splitlines() if not ln.lstrip().startswith("--")
    )
