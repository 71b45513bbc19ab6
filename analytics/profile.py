"""Person profile (数据画像): visits, spend by year and kind, chronic-condition flags and
open alerts of one insured person.

Access: fund managers and admins only (the route enforces it). A profile gathers one
person's care history in one place, which an analyst exploring aggregates does not need.
It reads the masked views like every analytic read, so even a manager sees the masked
id-card number and name; the unmasked person record stays in the settlement API.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine

from medhtap.analytics import sqlfiles
from medhtap.analytics.formats import jsonable
from medhtap.analytics.readpath import read_txn
from medhtap.platform.errors import NotFound

# ICD-10 category ranges (first three characters, inclusive) of common chronic conditions
# managed as 门诊慢特病 (outpatient chronic and special diseases).
CHRONIC: dict[str, list[tuple[str, str]]] = {
    "diabetes": [("E10", "E14")],
    "hypertension": [("I10", "I15")],
    "coronary_heart_disease": [("I20", "I25")],
    "heart_failure": [("I50", "I50")],
    "cerebrovascular_disease": [("I60", "I69")],
    "copd": [("J44", "J44")],
    "asthma": [("J45", "J46")],
    "chronic_kidney_disease": [("N18", "N18")],
    "malignant_neoplasm": [("C00", "C97")],
    "depression": [("F32", "F33")],
    "schizophrenia": [("F20", "F20")],
}


def chronic_flags(codes: Iterable[str]) -> dict[str, list[str]]:
    """Condition -> the diagnosis codes that raise it (only conditions present)."""
    flags: dict[str, list[str]] = {}
    for code in sorted(set(codes)):
        category = code.replace(".", "")[:3].upper()
        for condition, ranges in CHRONIC.items():
            if any(lo <= category <= hi for lo, hi in ranges):
                flags.setdefault(condition, []).append(code)
    return flags


def _records(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: jsonable(v) for k, v in r.items()} for r in rows]


def person_profile(read_engine: Engine, psn_no: str, *, visit_limit: int = 100) -> dict[str, Any]:
    p = {"psn_no": psn_no}
    with read_txn(read_engine) as txn:
        person = txn.query(
            "SELECT * FROM v_person WHERE psn_no = :psn_no", p, kind="profile_person"
        ).records()
        if not person:
            raise NotFound(f"person {psn_no} not found")
        visits = txn.query(
            sqlfiles.load("profile_visits"), p | {"limit": visit_limit}, kind="profile_visits"
        ).records()
        spend = txn.query(sqlfiles.load("profile_spend"), p, kind="profile_spend").records()
        diags = txn.query(sqlfiles.load("profile_diagnoses"), p, kind="profile_diagnoses").records()
        alerts = txn.query(
            sqlfiles.load("risk_alerts"),
            {"rule": None, "status": "open", "psn_no": psn_no, "limit": 100},
            kind="profile_alerts",
        ).records()
        meta = txn.meta()
    for a in alerts:
        a.pop("evidence", None)  # the alert list links to the evidence; keep the portrait short
    return {
        "person": _records(person)[0],
        "visits": _records(visits),
        "visit_count": sum(int(d["visits"]) for d in diags),
        "spend_by_year_and_kind": _records(spend),
        "diagnoses": _records(diags),
        "chronic_conditions": chronic_flags(d["main_diag_code"] for d in diags),
        "open_alerts": _records(alerts),
        **meta,
    }
