"""Lag per HIS source is visible in /metrics and /readyz (status word and list over the
threshold) without the sync process being the one that serves them."""

from __future__ import annotations

import datetime as dt
import uuid

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, text

from medhtap.services.sync import apply
from medhtap.services.sync.mapping import default_mapping


def _position(engine: Engine, source: str, behind_s: float) -> None:
    applied = dt.datetime.now().replace(microsecond=0)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO sync_position (source_id, gtid, snapshot_done, source_commit_time,"
                " applied_at, events) VALUES (:s, '0-1-1', 1, :c, :a, 1)"
            ),
            {"s": source, "c": applied - dt.timedelta(seconds=behind_s), "a": applied},
        )


def test_lag_per_source_in_metrics_and_readyz(client: TestClient, engine: Engine) -> None:
    slow, fast = f"L{uuid.uuid4().hex[:8]}", f"F{uuid.uuid4().hex[:8]}"
    for source, behind in ((slow, 42.0), (fast, 1.0)):
        apply.register(engine, source, "H11010000001", default_mapping(), [])
        _position(engine, source, behind)

    try:
        _check(client, slow, fast)
    finally:  # other tests' /readyz must not see these sources
        with engine.begin() as conn:
            for table in ("sync_position", "sync_source"):
                conn.execute(
                    text(f"DELETE FROM {table} WHERE source_id IN (:a, :b)"), {"a": slow, "b": fast}
                )


def _check(client: TestClient, slow: str, fast: str) -> None:
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    lags = {
        s.labels["source"]: s.value
        for family in text_string_to_metric_families(metrics.text)
        if family.name == "medhtap_sync_lag_seconds"
        for s in family.samples
    }
    assert (lags[slow], lags[fast]) == (42.0, 1.0)

    ready = client.get("/readyz")
    assert ready.status_code == 200  # settlement stays in rotation while a feed lags
    body = ready.json()
    assert slow in body["sync"]["lagging"] and fast not in body["sync"]["lagging"]
    assert body["sync"]["sources"][slow]["lag_s"] == 42.0
    assert body["status"] == "degraded: HIS sync lagging"
