"""The raw pymysql baseline of the settlement bench: the service's SQL without the service.

`raw_settle` sends, on one pymysql connection, exactly the statements one 2207 settlement
of the service sends (services/settlement/settling.py `settle_unit`), in its order, with
its locks and its parameters: the key's claim, the visit and person locked, the lines, then
the review gate (services/review/service.py `gate`: the person's earlier lines when a rule
reads them, the handling of a forbidden hit, the results' upsert; settlement_raw_review.py),
then the money's reads and writes. The text is the services' own
(services/settlement/statements.py, services/review/statements.py); the INSERTs are built
by platform/prepared.py from the same row dicts, made by the same pure functions
mapping.settlement_row and facts.settlement_fact. The money is computed by the same
rules.settle, funds.split_funds and funds.with_funds; the review by the same
services/review/rules.py history_items and evaluate, its result ids by service.jr_id.

What it leaves out is what the bench measures: no SQLAlchemy session, pool or retry
helper, no pydantic answer (the idempotency record stores a JSON of the same figures,
built with json.dumps). Reference data (institution level, policy, fund policy, the enabled
review rules) comes from the service's own per-process cache
(services/settlement/reference.py), filled by the service's loaders on a connection of
their own, as the service's steady state reads none of it per settlement; the ICD-10 place
of the diagnosis likewise (read once). `bench/settlement_profile.py --trace` lists one
settlement's round trips on both paths and checks they are the same statements.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pymysql
from settlement_raw_review import raw_gate
from sqlalchemy import Engine

from medhtap.platform.db import WriteSession
from medhtap.platform.prepared import insert_of, json_param
from medhtap.services.review.errors import ReviewBlocked
from medhtap.services.settlement import fact_repository as fact_repo
from medhtap.services.settlement import facts, funds, rules
from medhtap.services.settlement import fund_repository as fund_repo
from medhtap.services.settlement import repository as repo
from medhtap.services.settlement import statements as sql
from medhtap.services.settlement.mapping import settlement_row
from medhtap.services.settlement.reference import CACHE

ACTOR = "his"


class Reference:
    """Reference lookups through the service's cache and loaders (own connection)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.key_session = WriteSession(engine)  # never executes: it names the database

    def _load(self, fn: Callable[[WriteSession], Any]) -> Any:
        with WriteSession(self.engine) as s:
            return fn(s)

    def get(self, key: tuple[Any, ...], fn: Callable[[WriteSession], Any], keep_none: bool) -> Any:
        return CACHE.get(self.key_session, key, lambda: self._load(fn), keep_none=keep_none)

    def diag(self, code: str) -> facts.Diag:
        return self._load(lambda s: fact_repo.diag_place(s, code))  # cached per process


def one(cur: Any) -> tuple[Any, ...]:
    row = cur.fetchone()
    assert row is not None, "expected a row"
    return tuple(row)


def raw_settle(
    conn: pymysql.connections.Connection[Any],
    ref: Reference,
    mdtrt_id: str,
    key: str,
    *,
    review: bool = True,
) -> None:
    """One 2207 settlement of the visit under the idempotency key. review=False leaves the
    review gate out (the baseline before 2026-12-04, kept only to compare with it)."""
    cur = conn.cursor()
    scoped = f"2207:{ACTOR}:{key}"
    try:
        cur.execute(sql.ISOLATION_RC.sql)  # as platform/tx.py does; no BEGIN, as SQLAlchemy
        cur.execute(sql.CLAIM_IDEM.sql, (scoped, "0" * 64, 0, "{}"))
        cur.execute(sql.VISIT_LOCKED.sql, (mdtrt_id,))
        visit = sql.VisitRow._make(one(cur))
        cur.execute(sql.PERSON_LOCKED.sql, (visit.psn_no,))
        person = sql.PersonRow._make(one(cur))
        cur.execute(sql.ACTIVE_LINES.sql, (mdtrt_id,))
        rows = [sql.LineRow._make(r) for r in cur.fetchall()]
        if review:
            raw_gate(cur, ref, visit, person, rows)  # ReviewBlocked: a forbidden result
        code, day = visit.fixmedins_code, visit.begntime.date()
        inst = ref.get(("institution", code), lambda s: repo.get_institution(s, code), False)
        kind = rules.med_type(visit.med_type).benefit
        pkey = (person.admdvs, person.insutype, kind, inst.hosp_lv, day)
        policy = ref.get(("policy", *pkey), lambda s: repo.find_policy(s, *pkey), False)
        cur.execute(sql.ACC_OF_YEAR_LOCKED.sql, (person.psn_no, day.year))
        year_rows = [sql.Accumulator._make(r) for r in cur.fetchall()]
        acc = next((a for a in year_rows if a.med_type == kind), None)
        lines = [rules.Line(r.feedetl_sn, rules.Item.from_row(r), r.cnt, r.pric) for r in rows]
        benefit = rules.benefit_for(
            visit.med_type,
            rules.Benefit(policy.dedc_amt, policy.dedc_scope, policy.pool_prop, policy.annual_cap),
        )
        used = rules.Used(acc.dedc_used, acc.hifp_paid) if acc else rules.Used()
        basic = rules.settle(
            lines,
            rules.Person(person.insutype, person.gend, person.brdy, person.acct_balc),
            day,
            benefit,
            used,
            use_account=True,
        )
        fkey = (person.admdvs, person.insutype, person.assistance_category, day)
        fp = ref.get(("funds", *fkey), lambda s: fund_repo.fund_policy(s, *fkey), True)
        split = funds.split_funds(
            insutype=person.insutype,
            medfee_sumamt=basic.medfee_sumamt,
            inscp_scp_amt=basic.inscp_scp_amt,
            hifp_pay=basic.hifp_pay,
            hifp_cap_left=rules.hifp_cap_left(benefit, used),
            year=funds.fund_year(year_rows),
            secondary=fp.secondary,
            assistance=fp.assistance,
            acct_balc=person.acct_balc,
            use_account=True,
        )
        r = funds.with_funds(basic, split)
        setl_id, now = uuid.uuid4().hex, dt.datetime.now()
        after = rules.balance_after_pay(person.acct_balc, r.acct_pay)
        figures = {k: getattr(r, k) for k in rules.AMOUNTS} | {
            k: getattr(split, k) for k in rules.FUND_AMOUNTS
        }
        out = SimpleNamespace(
            setl_id=setl_id,
            mdtrt_id=mdtrt_id,
            psn_no=person.psn_no,
            fixmedins_code=code,
            insutype=person.insutype,
            med_type=visit.med_type,
            hosp_lv=inst.hosp_lv,
            setl_time=now,
            acct_balc_after=after,
            policy_id=policy.policy_id,
            pool_prop_selfpay=r.pool_prop_selfpay,
            **figures,
        )
        row = settlement_row(out, key)  # type: ignore[arg-type]
        ins = insert_of(repo.SETL, list(row))
        cur.execute(ins.sql, ins.params(row))
        cur.execute(
            sql.settle_lines(len(r.lines)).sql,
            sql.settle_lines_params(mdtrt_id, setl_id, r.lines),
        )
        acc_sql = sql.ACC_ADD if acc else sql.ACC_NEW
        acc_funds = (split.inscp_self, split.secondary_pay, split.maf_pay)
        cur.execute(
            acc_sql.sql, (r.act_pay_dedc, r.hifp_pay, 1, *acc_funds, person.psn_no, day.year, kind)
        )
        detail = [
            {
                "setl_id": setl_id,
                "fund_pay_type": d.fund_pay_type,
                "fund_pay_type_name": d.fund_pay_type_name,
                "inscp_scp_amt": d.inscp_scp_amt,
                "crt_payb_lmt_amt": d.crt_payb_lmt_amt,
                "fund_payamt": d.fund_payamt,
                "setl_proc_info": d.setl_proc_info[:255],
            }
            for d in split.setldetail
        ]
        ins = insert_of(fund_repo.DETAIL, list(detail[0]))
        cur.executemany(ins.sql, [ins.params(d) for d in detail])
        if r.acct_pay:
            cur.execute(sql.SET_BALANCE.sql, (after, person.psn_no))
            cur.execute(sql.LEDGER.sql, (person.psn_no, setl_id, -r.acct_pay, after))
        cur.execute(sql.SET_VISIT_STATUS.sql, ("settled", mdtrt_id))
        kinds = {ln.item.item_code: ln.item.item_kind for ln in lines}
        fact = facts.settlement_fact(
            {k: getattr(out, k) for k in (*fact_repo.SETTLEMENT_FIELDS, *rules.SETTLEMENT_AMOUNTS)},
            visit._mapping,
            person._mapping,
            ref.diag(visit.main_diag_code),
            ((kinds[ln.item_code], ln.amount) for ln in r.lines),
        )
        ins = insert_of(fact_repo.FACT, list(fact))
        cur.execute(ins.sql, ins.params(fact))
        cnts = {ln.feedetl_sn: ln.cnt for ln in lines}
        items = facts.item_facts(
            fact, ((ln.item_code, ln.amount, cnts[ln.feedetl_sn]) for ln in r.lines)
        )
        ins = insert_of(fact_repo.ITEM_FACT, list(items[0]))
        cur.executemany(ins.sql, [ins.params(i) for i in items])
        detail_json = {
            "mdtrt_id": mdtrt_id,
            "idempotency_key": key,
            "medfee_sumamt": str(r.medfee_sumamt),
            "hifp_pay": str(r.hifp_pay),
            "fund_pay_sumamt": str(split.fund_pay_sumamt),
            "acct_pay": str(r.acct_pay),
        }
        cur.execute(
            sql.AUDIT.sql, (ACTOR, "settle", "settlement", setl_id, json_param(detail_json), None)
        )
        answer = {k: str(v) for k, v in row.items()} | {
            "lines": [{k: str(v) for k, v in vars(s).items()} for s in r.lines],
            "setldetail": [{k: str(v) for k, v in d.items()} for d in detail],
        }
        cur.execute(sql.FINISH_IDEM.sql, (200, json.dumps(answer), scoped))
        conn.commit()
    except ReviewBlocked as exc:  # the results are kept although nothing is settled
        conn.rollback()
        if exc.keep is not None:
            exc.keep(conn.cursor())
            conn.commit()
        raise
    except BaseException:
        conn.rollback()
        raise
