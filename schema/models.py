"""Every table of the one MedHTAP schema, importable in one line (Alembic, tests)."""

from medhtap.schema.base import Base
from medhtap.schema.facts import RiskWatermark, SettlementFact, SettlementItemFact
from medhtap.schema.funds import FundPolicy, FundSegment, SetlDetail
from medhtap.schema.ingest import IngestCheckpoint
from medhtap.schema.national import NationalMessage
from medhtap.schema.ops import AuditLog, RiskAlert
from medhtap.schema.person import AccountLedger, InsuredPerson, PersonYearAccumulator
from medhtap.schema.reference import CatalogItem, Diagnosis, Institution, Policy, PolicyParam
from medhtap.schema.review import ReviewResult, ReviewRule
from medhtap.schema.rollup import CostRollup, RollupState
from medhtap.schema.settlement import IdempotencyRecord, Reconciliation, Settlement
from medhtap.schema.sync import (
    DataQualityEvent,
    SyncDeadLetter,
    SyncItemMap,
    SyncPatient,
    SyncPosition,
    SyncSource,
)
from medhtap.schema.visit import FeeDetail, Visit

metadata = Base.metadata

__all__ = [
    "AccountLedger",
    "AuditLog",
    "Base",
    "CatalogItem",
    "CostRollup",
    "DataQualityEvent",
    "Diagnosis",
    "FeeDetail",
    "FundPolicy",
    "FundSegment",
    "IdempotencyRecord",
    "IngestCheckpoint",
    "NationalMessage",
    "InsuredPerson",
    "Institution",
    "PersonYearAccumulator",
    "Policy",
    "PolicyParam",
    "Reconciliation",
    "ReviewResult",
    "ReviewRule",
    "RiskAlert",
    "RiskWatermark",
    "RollupState",
    "SetlDetail",
    "Settlement",
    "SettlementFact",
    "SettlementItemFact",
    "SyncDeadLetter",
    "SyncItemMap",
    "SyncPatient",
    "SyncPosition",
    "SyncSource",
    "Visit",
    "metadata",
]
