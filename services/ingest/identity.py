"""Identity of imported persons: the id-card number checked as the API checks it (422
INVALID_CERTNO there): check digit, region and birth date with python-stdnum, and the birth
date and gender it encodes against the row's brdy and gend (`identity.certno_problem`)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from medhtap.services.settlement.identity import certno_problem

from .checks import Reasons


def check_persons(batch: pa.Table, ok: pa.Array, reasons: Reasons) -> None:
    """Rows that passed the format checks (so brdy is a real date) and carry a certno."""
    rows = zip(
        ok.to_pylist(),
        batch.column("certno").to_pylist(),
        batch.column("brdy").to_pylist(),
        batch.column("gend").to_pylist(),
        strict=True,
    )
    for i, (fine, certno, brdy, gend) in enumerate(rows):
        if not fine or not certno:
            continue
        problem = certno_problem(certno, dt.date.fromisoformat(brdy), gend)
        if problem is not None:
            reasons[i].append(f"invalid_certno: {problem}")
