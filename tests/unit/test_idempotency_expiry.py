"""Who deletes expired idempotency records, decided from what the server reports."""

from __future__ import annotations

import pytest

from medhtap.services.settlement.expiry import mode_for, ttl_ddl

TIDB = "8.0.11-TiDB-v8.5.0-alpha-20241125-ec8b81b98edc"


@pytest.mark.parametrize(
    ("version", "enable", "expected"),
    [
        (TIDB, "ON", "ttl"),
        (TIDB, "1", "ttl"),
        (TIDB, "OFF", "purge"),  # TTL jobs switched off cluster-wide
        (TIDB, None, "purge"),  # a TiDB before 6.5: no TTL at all
        ("8.0.36", None, "purge"),  # MySQL
    ],
)
def test_ttl_only_where_the_server_runs_ttl_jobs(
    version: str, enable: str | None, expected: str
) -> None:
    assert mode_for(version, enable) == expected


def test_the_ttl_ddl_names_the_days_and_refuses_nonsense() -> None:
    assert "INTERVAL 30 DAY" in ttl_ddl(30)
    for bad in (0, -1, 36_501):
        with pytest.raises(ValueError):
            ttl_ddl(bad)
