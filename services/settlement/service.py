"""Compatibility re-exports for callers outside the settlement package (bench/).

The settlement service is split by job: units.py (caller, the transaction helper `Entry`),
idempotency.py, persons.py, visits.py (visits and fee lines), compute.py, settling.py
(2206/2207/2208), mapping.py (answers and rows). New code imports from those modules.
"""

from __future__ import annotations

from medhtap.services.settlement.persons import create_person, get_person
from medhtap.services.settlement.settling import cancel, pre_settle, settle
from medhtap.services.settlement.units import Caller
from medhtap.services.settlement.visits import create_visit, revoke_fee, upload_fees

__all__ = [
    "Caller",
    "cancel",
    "create_person",
    "create_visit",
    "get_person",
    "pre_settle",
    "revoke_fee",
    "settle",
    "upload_fees",
]
