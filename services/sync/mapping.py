"""HIS rows -> platform rows, as pure functions over a mapping that is data.

A mapping (services/his/mapping.json is the development HIS's; each source stores its own in
`sync_source.mapping`) names, for each role the platform knows (patient, encounter,
diagnosis, charge), the HIS table and the columns that fill each platform field. Another HIS
vendor's schema is another JSON document, not new code.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from medhtap.services.settlement import rules
from medhtap.services.settlement.rules import money

DEFAULT_MAPPING = Path(__file__).resolve().parents[1] / "his" / "mapping.json"
ROLES = ("patient", "encounter", "diagnosis", "charge")


class Rejected(Exception):
    """The row cannot be mapped or fails validation: it goes to the dead-letter table."""


def default_mapping() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DEFAULT_MAPPING.read_text())
    return data


def visit_id(source_id: str, encounter_id: object) -> str:
    return f"{source_id}-E{encounter_id}"


def fee_sn(charge_id: object) -> str:
    return f"C{charge_id}"


@dataclass(frozen=True)
class Spec:
    raw: Mapping[str, Any]

    def table(self, role: str) -> str:
        return str(self.raw[role]["table"])

    def role_of(self, table: str) -> str | None:
        return next((r for r in ROLES if self.raw.get(r, {}).get("table") == table), None)

    def column(self, role: str, field: str) -> str:
        spec = self.raw[role][field]
        return str(spec["column"] if isinstance(spec, dict) else spec)

    def get(self, role: str, field: str, row: Mapping[str, Any]) -> Any:
        name = self.column(role, field)
        if name not in row:
            raise Rejected(
                f"{self.table(role)} row has no column {name!r} (mapping {role}.{field})"
            )
        return row[name]


@dataclass(frozen=True)
class PatientRow:
    patient_id: int
    psn_no: str | None


@dataclass(frozen=True)
class EncounterRow:
    encounter_id: int
    patient_id: int
    med_type: str
    dept_name: str
    begntime: dt.datetime
    endtime: dt.datetime | None
    cancelled: bool


@dataclass(frozen=True)
class DiagnosisRow:
    encounter_id: int
    code: str
    is_main: bool


@dataclass(frozen=True)
class ChargeRow:
    charge_id: int
    encounter_id: int
    item_code: str
    cnt: Decimal
    pric: Decimal
    amount: Decimal
    fee_ocur_time: dt.datetime


def patient(spec: Spec, row: Mapping[str, Any]) -> PatientRow:
    psn_no = spec.get("patient", "psn_no", row)
    return PatientRow(int(spec.get("patient", "key", row)), str(psn_no) if psn_no else None)


def encounter(spec: Spec, row: Mapping[str, Any]) -> EncounterRow:
    kind = spec.raw["encounter"]["med_type"]
    raw_kind = spec.get("encounter", "med_type", row)
    med_type = kind.get("values", {}).get(raw_kind) if isinstance(kind, dict) else raw_kind
    med_type = rules.LEGACY_MED_TYPES.get(str(med_type), med_type)  # older mappings
    if med_type not in rules.MED_TYPES:  # the national med_type codes 11, 14, 21, 41
        raise Rejected(f"encounter type {raw_kind!r} maps to no national med_type")
    status = spec.raw["encounter"].get("status")
    cancelled = bool(status) and spec.get("encounter", "status", row) in status["cancelled"]
    begntime = spec.get("encounter", "begntime", row)
    if not isinstance(begntime, dt.datetime):
        raise Rejected("encounter has no start time")
    endtime = spec.get("encounter", "endtime", row)
    return EncounterRow(
        encounter_id=int(spec.get("encounter", "key", row)),
        patient_id=int(spec.get("encounter", "patient", row)),
        med_type=str(med_type),
        dept_name=str(spec.get("encounter", "dept_name", row))[:64],
        begntime=begntime,
        endtime=endtime if isinstance(endtime, dt.datetime) else None,
        cancelled=cancelled,
    )


def diagnosis(spec: Spec, row: Mapping[str, Any]) -> DiagnosisRow:
    code = str(spec.get("diagnosis", "code", row) or "").strip().upper()
    if not code:
        raise Rejected("diagnosis without a code")
    return DiagnosisRow(
        encounter_id=int(spec.get("diagnosis", "encounter", row)),
        code=code,
        is_main=bool(spec.get("diagnosis", "main_flag", row)),
    )


def charge(
    spec: Spec, row: Mapping[str, Any], national_code: Callable[[str], str | None]
) -> ChargeRow:
    """Map and check one charge line: a national code, a positive quantity, a price, and an
    amount equal to quantity x price rounded as the money rules round it."""
    local = str(spec.get("charge", "item", row))
    item_code = national_code(local)
    if item_code is None:
        raise Rejected(f"local item code {local!r} has no national code (unified coding)")
    try:
        cnt = Decimal(spec.get("charge", "cnt", row))
        pric = Decimal(spec.get("charge", "pric", row))
        amount = Decimal(spec.get("charge", "amount", row))
    except (InvalidOperation, TypeError) as exc:
        raise Rejected(f"charge amounts are not numbers: {exc}") from exc
    if cnt <= 0 or pric < 0:
        raise Rejected(f"quantity {cnt} or price {pric} out of range")
    if money(cnt * pric) != amount:
        raise Rejected(
            f"amount {amount} is not quantity {cnt} x price {pric} = {money(cnt * pric)}"
        )
    when = spec.get("charge", "time", row)
    if not isinstance(when, dt.datetime):
        raise Rejected("charge has no time")
    return ChargeRow(
        charge_id=int(spec.get("charge", "key", row)),
        encounter_id=int(spec.get("charge", "encounter", row)),
        item_code=item_code,
        cnt=cnt,
        pric=pric,
        amount=amount,
        fee_ocur_time=when,
    )


def gtid_seqs(gtid: str) -> dict[int, int]:
    """MariaDB GTID list '0-1-5,1-2-7' -> {domain: sequence}."""
    out: dict[int, int] = {}
    for part in filter(None, (p.strip() for p in gtid.split(","))):
        domain, _server, seq = part.split("-")
        out[int(domain)] = int(seq)
    return out


def already_applied(position: str, gtid: str) -> bool:
    """Is source transaction `gtid` at or before the stored position (same domain)?"""
    (domain, seq), *_ = gtid_seqs(gtid).items()
    return gtid_seqs(position).get(domain, -1) >= seq


def advance(position: str, gtid: str) -> str:
    """The position after applying `gtid` (replaces its domain's entry)."""
    parts = {p.split("-")[0]: p.strip() for p in position.split(",") if p.strip()}
    parts[gtid.split("-")[0]] = gtid
    return ",".join(parts[d] for d in sorted(parts, key=int))
