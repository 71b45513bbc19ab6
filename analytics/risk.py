"""Fund risk control (医保基金监管): rules as documented SQL, alerts with evidence.

Separation of duties: every rule *reads* through the analyst views on the read engine
(the SELECT-only account); only `store_alerts` uses the write engine, and it writes one
table, risk_alert. An alert is identified by (rule_code, dedupe_key), so re-running the
rules refreshes evidence but never duplicates an alert nor reopens one a manager closed.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import BindParameter, Engine, TextClause, bindparam, select, text
from sqlalchemy.dialects.mysql import insert as mysql_insert

from medhtap.analytics import sqlfiles
from medhtap.analytics.formats import jsonable
from medhtap.analytics.readpath import read_txn
from medhtap.platform.errors import ValidationFailed
from medhtap.platform.tx import run_in_transaction
from medhtap.schema.base import table
from medhtap.schema.ops import RiskAlert

log = logging.getLogger("medhtap.analytics.risk")
ALERTS = table(RiskAlert)
DEFAULT_REGION = "000000"


@dataclass(frozen=True)
class Rule:
    code: str
    title: str
    # SQL parameter -> policy_param key holding its value
    params: dict[str, str] = field(default_factory=dict)

    @property
    def sql(self) -> str:
        return sqlfiles.load(f"risk_{self.code}")


RULES: dict[str, Rule] = {
    r.code: r
    for r in (
        Rule(
            "duplicate_charge",
            "Duplicate charging: beyond max quantity per day, or identical repeated lines",
        ),
        Rule(
            "split_admission",
            "Split hospitalisation: re-admission within N days, same "
            "institution and diagnosis chapter",
            {"days": "risk.split_admission_days"},
        ),
        Rule("overlapping_care", "Outpatient settlement elsewhere during an open inpatient stay"),
        Rule(
            "high_freq_outpatient",
            "More than N outpatient visits in 30 days",
            {"max_visits": "risk.high_freq_outpatient_visits_30d"},
        ),
        Rule(
            "cost_outlier",
            "Visit cost above the percentile of its diagnosis group",
            {"pct": "risk.cost_outlier_percentile", "min_group": "risk.cost_outlier_min_group"},
        ),
        Rule(
            "restricted_items",
            "Institution bills gender/age-restricted items that are refused and turned self-pay",
            {
                "max_share": "risk.restricted_selfpay_share",
                "min_lines": "risk.restricted_min_lines",
            },
        ),
        Rule(
            "review_overridden",
            "Institution continues past forbidden or many warning review results (3103)",
            {
                "min_forbidden": "risk.review_overridden_forbidden",
                "min_warnings": "risk.review_overridden_warnings",
            },
        ),
    )
}
INTEGER_PARAMS = frozenset(
    {"days", "max_visits", "min_group", "min_lines", "min_forbidden", "min_warnings"}
)


@dataclass
class Finding:
    rule_code: str
    dedupe_key: str
    psn_no: str | None
    fixmedins_code: str | None
    mdtrt_id: str | None
    score: Decimal
    summary: str
    evidence: list[Any]


@dataclass
class RuleOutcome:
    code: str
    findings: int = 0
    new: int = 0
    engine: str = ""
    elapsed_ms: float = 0.0
    skipped: bool = False  # a watcher pass with nothing new of the rule's scope


@dataclass
class RunOutcome:
    run_id: str
    date_from: dt.date
    date_to: dt.date
    rules: list[RuleOutcome]
    meta: dict[str, Any]
    findings: list[Finding] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "from": self.date_from.isoformat(),
            "to": self.date_to.isoformat(),
            "rules": [vars(r) | {"elapsed_ms": round(r.elapsed_ms, 2)} for r in self.rules],
            "findings": sum(r.findings for r in self.rules),
            "new_alerts": sum(r.new for r in self.rules),
            **self.meta,
        }


def default_window(date_from: dt.date | None, date_to: dt.date | None) -> tuple[dt.date, dt.date]:
    date_to = date_to or dt.date.today()
    date_from = date_from or date_to - dt.timedelta(days=90)
    if date_to < date_from:
        raise ValidationFailed("'to' is before 'from'")
    return date_from, date_to


def select_rules(codes: list[str] | None) -> list[Rule]:
    if not codes:
        return list(RULES.values())
    unknown = [c for c in codes if c not in RULES]
    if unknown:
        raise ValidationFailed(f"unknown rule {', '.join(unknown)}", allowed=list(RULES))
    return [RULES[c] for c in dict.fromkeys(codes)]


# What a watcher pass evaluates: the persons, visits and institutions of the facts recorded
# since its watermark (analytics/watch.py). None: the whole window (a full run).
Scope = Mapping[str, frozenset[str]]
SCOPE_KINDS = ("psn_no", "mdtrt_id", "fixmedins_code")
SCOPE_MARK = re.compile(r"/\*SCOPE (?:(\w+)\.)?(psn_no|mdtrt_id|fixmedins_code)\*/")
# /*FULL+ hint*/: an optimizer hint for a full run only. A full run joins a quarter's fee
# lines to their facts, where a hash join is 2-5x faster than the index join the planner
# picks on stale statistics (bench/README.md, 2026-12-04); a pass keeps the planner's
# choice, an index join from its few persons' facts.
FULL_HINT = re.compile(r"/\*FULL\+ ([^*]+)\*/")


def scoped(sql: str, scope: Scope | None) -> tuple[TextClause, dict[str, list[str]]]:
    """A rule's SQL with its /*SCOPE alias.key*/ markers: removed for a full run, or each
    `AND alias.key IN (the scope's keys)` for a pass; its /*FULL+ hint*/ markers made hints
    for a full run, removed for a pass. Returns the statement and the keys to bind. Only
    our own identifiers are spliced; the keys are bound parameters."""
    kinds: set[str] = set()

    def mark(m: re.Match[str]) -> str:
        if scope is None:
            return ""
        alias, kind = m.groups()
        kinds.add(kind)
        return f"AND {alias + '.' if alias else ''}{kind} IN :scope_{kind}"

    hinted = FULL_HINT.sub(lambda m: f"/*+ {m.group(1).strip()} */" if scope is None else "", sql)
    stmt = text(SCOPE_MARK.sub(mark, hinted))
    if not kinds or scope is None:
        return stmt, {}
    binds: list[BindParameter[Any]] = [
        bindparam(f"scope_{k}", expanding=True) for k in sorted(kinds)
    ]
    return stmt.bindparams(*binds), {f"scope_{k}": sorted(scope[k]) for k in sorted(kinds)}


def _evidence(raw: Any) -> list[Any]:
    value = json.loads(raw) if isinstance(raw, str | bytes) else raw
    return value if isinstance(value, list) else [value]


def evaluate(
    read_engine: Engine,
    date_from: dt.date,
    date_to: dt.date,
    rules: list[Rule],
    scope: Scope | None = None,
) -> tuple[list[Finding], list[RuleOutcome], dict[str, Any]]:
    """Run the rules' SQL in one snapshot as the analyst account; nothing is written.
    With `scope`, each rule looks only at the scope's keys (see `scoped`)."""
    start = dt.datetime.combine(date_from, dt.time())
    end = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time())
    findings: list[Finding] = []
    outcomes: list[RuleOutcome] = []
    with read_txn(read_engine) as txn:
        policy = {
            k: v
            for k, v in txn.query(
                "SELECT param_key, value FROM v_policy_param WHERE admdvs = :region "
                "AND begndate <= :today AND (enddate IS NULL OR enddate >= :today)",
                {"region": DEFAULT_REGION, "today": date_to},
                kind="risk_policy",
            ).rows
        }
        for rule in rules:
            params: dict[str, Any] = {"from": start, "to": end}
            for name, key in rule.params.items():
                if key not in policy:
                    raise ValidationFailed(f"policy parameter {key} is missing")
                value = policy[key]
                params[name] = int(value) if name in INTEGER_PARAMS else value
            stmt, keys = scoped(rule.sql, scope)
            if any(not k for k in keys.values()):  # nothing of this kind is new
                outcomes.append(RuleOutcome(rule.code, skipped=True))
                continue
            result = txn.query(stmt, params | keys, kind=f"risk_{rule.code}")
            rows = [
                Finding(
                    rule.code,
                    r["dedupe_key"],
                    r["psn_no"],
                    r["fixmedins_code"],
                    r["mdtrt_id"],
                    Decimal(r["score"] or 0).quantize(Decimal("0.0001")),
                    str(r["summary"])[:400],
                    _evidence(r["evidence"]),
                )
                for r in result.records()
            ]
            findings.extend(rows)
            outcomes.append(RuleOutcome(rule.code, len(rows), 0, result.engine, result.elapsed_ms))
        meta = txn.meta()
    return findings, outcomes, meta


def store_alerts(write_engine: Engine, findings: list[Finding], run_id: str) -> set[str]:
    """Insert new alerts, refresh the evidence of known ones; returns the new alert keys."""
    if not findings:
        return set()

    def unit(session: Any) -> set[str]:
        known: set[tuple[str, str]] = set()
        by_rule: dict[str, list[str]] = {}
        for f in findings:
            by_rule.setdefault(f.rule_code, []).append(f.dedupe_key)
        for code, keys in by_rule.items():
            for i in range(0, len(keys), 500):
                stmt = select(ALERTS.c.dedupe_key).where(
                    ALERTS.c.rule_code == code,
                    ALERTS.c.dedupe_key.in_(bindparam("keys", expanding=True)),
                )
                known |= {
                    (code, k) for k in session.execute(stmt, {"keys": keys[i : i + 500]}).scalars()
                }
        rows = [
            {
                "rule_code": f.rule_code,
                "dedupe_key": f.dedupe_key[:200],
                "psn_no": f.psn_no,
                "fixmedins_code": f.fixmedins_code,
                "mdtrt_id": f.mdtrt_id,
                "score": f.score,
                "summary": f.summary,
                "evidence": f.evidence,
                "alert_status": "open",
                "run_id": run_id,
            }
            for f in findings
        ]
        for i in range(0, len(rows), 500):
            ins = mysql_insert(ALERTS).values(rows[i : i + 500])
            # status and detected_at stay as they are: a closed alert stays closed
            session.execute(
                ins.on_duplicate_key_update(
                    score=ins.inserted.score,
                    summary=ins.inserted.summary,
                    evidence=ins.inserted.evidence,
                    run_id=ins.inserted.run_id,
                )
            )
        return {
            f"{f.rule_code}:{f.dedupe_key}"
            for f in findings
            if (f.rule_code, f.dedupe_key) not in known
        }

    return run_in_transaction(write_engine, unit, name="risk_alerts")


def run_rules(
    read_engine: Engine,
    write_engine: Engine,
    date_from: dt.date,
    date_to: dt.date,
    codes: list[str] | None = None,
    scope: Scope | None = None,
) -> RunOutcome:
    rules = select_rules(codes)
    run_id = uuid.uuid4().hex
    findings, outcomes, meta = evaluate(read_engine, date_from, date_to, rules, scope)
    new = store_alerts(write_engine, findings, run_id)
    for o in outcomes:
        o.new = sum(1 for k in new if k.startswith(f"{o.code}:"))
    log.info(
        "risk run %s %s..%s: %d findings, %d new alerts, engine %s",
        run_id,
        date_from,
        date_to,
        len(findings),
        len(new),
        meta["engine"],
    )
    return RunOutcome(run_id, date_from, date_to, outcomes, meta, findings)


def list_alerts(
    read_engine: Engine,
    *,
    rule: str | None = None,
    status: str | None = "open",
    psn_no: str | None = None,
    limit: int = 100,
) -> dict[str, Any]:
    with read_txn(read_engine) as txn:
        result = txn.query(
            sqlfiles.load("risk_alerts"),
            {"rule": rule, "status": status, "psn_no": psn_no, "limit": limit},
            kind="risk_alerts",
        )
        meta = txn.meta()
    alerts = []
    for r in result.records():
        r["evidence"] = _evidence(r["evidence"])
        alerts.append({k: jsonable(v) for k, v in r.items()})
    return {
        "alerts": alerts,
        "count": len(alerts),
        "rules": {c: r.title for c, r in RULES.items()},
        **meta,
    }


__all__ = ["RULES", "Finding", "RunOutcome", "list_alerts", "run_rules"]
