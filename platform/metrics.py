"""Prometheus metrics shared by all services (exposed on /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

TXN_ATTEMPTS = Counter(
    "medhtap_txn_attempts_total", "Transaction attempts by unit and outcome", ["unit", "outcome"]
)
TXN_RETRIES = Counter(
    "medhtap_txn_retries_total", "Transaction retries by unit and TiDB error code", ["unit", "code"]
)
TXN_SECONDS = Histogram(
    "medhtap_txn_seconds",
    "Wall time of a unit of work including retries",
    ["unit"],
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5),
)
QUERY_SECONDS = Histogram(
    "medhtap_analytic_query_seconds",
    "Analytic query time by kind and engine",
    ["kind", "engine"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30),
)
