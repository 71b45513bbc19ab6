"""Factories for analytics tests: visits, fee lines and settlements inserted with SQLAlchemy
Core, consistent with the settlement service's semantics (split sums, cancellation rows).

Isolation: every test takes its own calendar month (`window`), and reports and risk rules
run on that window only, so tests sharing the session database never see each other.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal as D
from typing import Any

import pytest
from sqlalchemy import Engine, insert, update

from medhtap.analytics.synthetic import Reference, read_reference, used_before
from medhtap.platform.db import make_engine
from medhtap.platform.settings import Settings
from medhtap.schema.models import (
    Diagnosis,
    FeeDetail,
    InsuredPerson,
    Settlement,
    SettlementFact,
    SettlementItemFact,
    Visit,
)
from medhtap.services.settlement import facts, rules
from medhtap.services.settlement.identity import next_certno
from medhtap.services.settlement.rules import AMOUNTS

_months = itertools.count()


@dataclass(frozen=True)
class Window:
    start: dt.datetime  # first day of the month, 00:00

    @property
    def date_from(self) -> dt.date:
        return self.start.date()

    @property
    def date_to(self) -> dt.date:
        nxt = (self.start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        return nxt.date() - dt.timedelta(days=1)

    def at(self, day: int, hour: int = 9, minute: int = 0) -> dt.datetime:
        return self.start.replace(day=day, hour=hour, minute=minute)

    def query(self) -> str:
        return f"from={self.date_from}&to={self.date_to}"


@pytest.fixture
def window() -> Window:
    """A calendar month no other test uses (2021-01, 2021-02, ...)."""
    n = next(_months)
    return Window(dt.datetime(2021 + n // 12, n % 12 + 1, 1))


@dataclass(frozen=True)
class SettledVisit:
    mdtrt_id: str
    setl_id: str | None
    psn_no: str


class Factory:
    def __init__(self, engine: Engine, ref: Reference) -> None:
        self.engine = engine
        self.items = {i.item_code: i.item for i in ref.items}
        self.policy = ref.policy
        self.diags: dict[str, facts.Diag] = {}

    def diag(self, code: str) -> facts.Diag:
        if code not in self.diags:
            with self.engine.connect() as conn:
                t = Diagnosis.__table__
                r = conn.execute(t.select().where(t.c.diag_code == code)).one()
            self.diags[code] = facts.Diag(r.block, r.chapter)
        return self.diags[code]

    def person(
        self,
        *,
        gend: str = "1",
        brdy: dt.date = dt.date(1970, 5, 1),
        insutype: str = "310",
        name: str = "张三",
    ) -> str:
        psn_no = "T" + uuid.uuid4().hex[:20]
        certno = next_certno(brdy, gend)
        with self.engine.begin() as conn:
            conn.execute(
                insert(InsuredPerson.__table__).values(
                    psn_no=psn_no,
                    certno=certno,
                    psn_name=name,
                    gend=gend,
                    brdy=brdy,
                    insutype=insutype,
                    admdvs="110100",
                    acct_balc=0,
                    psn_status="active",
                )
            )
        return psn_no

    def certno(self, psn_no: str) -> str:
        with self.engine.connect() as conn:
            t = InsuredPerson.__table__
            return str(conn.execute(t.select().where(t.c.psn_no == psn_no)).one().certno)

    def visit(
        self,
        psn_no: str,
        *,
        begntime: dt.datetime,
        endtime: dt.datetime | None = None,
        med_type: str = "outpatient",
        fixmedins_code: str = "H11010000001",
        diag: str = "E11.9",
        dept: str = "Internal medicine",
        lines: Sequence[tuple[str, int, str]] = (("XA10BAA003", 1, "30.00"),),
        fee_time: dt.datetime | None = None,
        settle: bool = True,
        cancel: bool = False,
        gend: str | None = None,
        age: int | None = None,
        discharged: bool = True,
    ) -> SettledVisit:
        """A visit with fee lines (item_code, cnt, unit price); settled unless told not.
        The money rules see the person's gender and birth date unless `gend` / `age` say
        otherwise."""
        mdtrt_id = "M" + uuid.uuid4().hex
        setl_id = "S" + uuid.uuid4().hex if settle else None
        kind = rules.med_type(med_type)  # stored as its national code; "inpatient" -> 21
        med_type = kind.code
        if endtime is None and discharged:
            endtime = begntime + (dt.timedelta(days=3) if kind.inpatient else dt.timedelta(hours=1))
        lv = 3 if fixmedins_code.startswith("H110100") else 2
        day = begntime.date()
        with self.engine.connect() as conn:
            t = InsuredPerson.__table__
            known = conn.execute(t.select().where(t.c.psn_no == psn_no)).one()
        brdy = known.brdy if age is None else dt.date(day.year - age, 1, 1)
        person = rules.Person("310", gend or known.gend, brdy, D("0.00"))
        lines_in = [
            rules.Line(f"{n + 1:04d}", self.items[code], D(cnt), D(price))
            for n, (code, cnt, price) in enumerate(lines)
        ]
        benefit, policy_id = self.policy[(person.insutype, kind.benefit, lv)]
        m = rules.settle(lines_in, person, day, benefit, used_before(benefit), use_account=True)
        settled = settle and not cancel
        zero = D("0.00")
        fee_rows: list[dict[str, Any]] = [
            {
                "mdtrt_id": mdtrt_id,
                "feedetl_sn": ln.feedetl_sn,
                "item_code": ln.item.item_code,
                "cnt": ln.cnt,
                "pric": ln.pric,
                "det_item_fee_sumamt": s.amount,
                "fee_ocur_time": fee_time or begntime + dt.timedelta(minutes=10),
                "fee_status": "settled" if settled else "active",
                "setl_id": setl_id if settled else None,
                "fulamt_ownpay_amt": s.fulamt_ownpay_amt if settled else zero,
                "overlmt_selfpay": s.overlmt_selfpay if settled else zero,
                "preselfpay_amt": s.preselfpay_amt if settled else zero,
                "inscp_scp_amt": s.inscp_scp_amt if settled else zero,
                "ownpay_reason": s.ownpay_reason if settled else None,
            }
            for ln, s in zip(lines_in, m.lines, strict=True)
        ]
        setl_time = (endtime or begntime) + dt.timedelta(minutes=5)
        with self.engine.begin() as conn:
            conn.execute(
                insert(Visit.__table__).values(
                    mdtrt_id=mdtrt_id,
                    psn_no=psn_no,
                    fixmedins_code=fixmedins_code,
                    med_type=med_type,
                    dept_name=dept,
                    begntime=begntime,
                    endtime=endtime,
                    main_diag_code=diag,
                    vis_status="settled" if settle and not cancel else "open",
                )
            )
            conn.execute(insert(FeeDetail.__table__), fee_rows)
            if settle:
                row = {
                    "setl_id": setl_id,
                    "setl_type": "normal",
                    "setl_status": "settled",
                    "orig_setl_id": None,
                    "mdtrt_id": mdtrt_id,
                    "psn_no": psn_no,
                    "fixmedins_code": fixmedins_code,
                    "insutype": person.insutype,
                    "med_type": med_type,
                    "hosp_lv": lv,
                    "setl_time": setl_time,
                    "cancel_time": None,
                    **{k: getattr(m, k) for k in (*AMOUNTS, "pool_prop_selfpay")},
                    "acct_balc_after": zero,
                    "idempotency_key": uuid.uuid4().hex,
                    "policy_id": policy_id,
                }
                conn.execute(insert(Settlement.__table__).values(row))
                fact = facts.settlement_fact(
                    row,
                    {
                        "mdtrt_id": mdtrt_id,
                        "dept_name": dept,
                        "begntime": begntime,
                        "endtime": endtime,
                        "main_diag_code": diag,
                    },
                    {"psn_no": psn_no, "gend": person.gend, "brdy": brdy, "admdvs": known.admdvs},
                    self.diag(diag),
                    [
                        (ln.item.item_kind, s.amount)
                        for ln, s in zip(lines_in, m.lines, strict=True)
                    ],
                )
                # written now, whatever its settlement time: facts are recorded when they
                # reach the platform (the rollups' watermark relies on it)
                fact["recorded_at"] = dt.datetime.now()
                conn.execute(insert(SettlementFact.__table__).values(fact))
                items = facts.item_facts(
                    fact,
                    [
                        (ln.item.item_code, s.amount, ln.cnt)
                        for ln, s in zip(lines_in, m.lines, strict=True)
                    ],
                )
                conn.execute(insert(SettlementItemFact.__table__), items)
        visit = SettledVisit(mdtrt_id, setl_id, psn_no)
        if settle and cancel:
            self.cancel(visit, setl_time + dt.timedelta(hours=1))
        return visit

    def cancel(self, visit: SettledVisit, cancel_at: dt.datetime) -> None:
        """As the settlement service cancels (2208): the row stays, marked, a reversal row
        with negated amounts is added, the fact gains its -1 row and loses `standing`, the
        item facts gain their -1 rows, the lines go back to active and the visit reopens."""
        s, f, fd = Settlement.__table__, SettlementFact.__table__, FeeDetail.__table__
        it = SettlementItemFact.__table__
        with self.engine.begin() as conn:
            row = dict(conn.execute(s.select().where(s.c.setl_id == visit.setl_id)).one()._mapping)
            fact = (
                conn.execute(f.select().where(f.c.setl_id == visit.setl_id, f.c.sign == 1))
                .one()
                ._mapping
            )
            conn.execute(
                update(s)
                .where(s.c.setl_id == visit.setl_id)
                .values(setl_status="cancelled", cancel_time=cancel_at)
            )
            rev = row | {c: -row[c] for c in AMOUNTS}
            rev |= {
                "setl_id": "R" + uuid.uuid4().hex,
                "setl_type": "reversal",
                "setl_status": "reversal",
                "orig_setl_id": visit.setl_id,
                "setl_time": cancel_at,
                "idempotency_key": uuid.uuid4().hex,
            }
            conn.execute(insert(s).values(rev))
            conn.execute(
                insert(f).values(
                    facts.reversal_fact(fact, rev["setl_id"], cancel_at)
                    | {"recorded_at": dt.datetime.now()}
                )
            )
            conn.execute(
                update(f).where(f.c.setl_id == visit.setl_id, f.c.sign == 1).values(standing=0)
            )
            plus = conn.execute(it.select().where(it.c.setl_id == visit.setl_id, it.c.sign == 1))
            minus = facts.reversal_items([r._mapping for r in plus])
            if minus:
                conn.execute(insert(it), minus)
            conn.execute(
                update(fd)
                .where(fd.c.mdtrt_id == visit.mdtrt_id)
                .values(
                    fee_status="active",
                    setl_id=None,
                    fulamt_ownpay_amt=0,
                    overlmt_selfpay=0,
                    preselfpay_amt=0,
                    inscp_scp_amt=0,
                    ownpay_reason=None,
                )
            )
            t = Visit.__table__
            conn.execute(update(t).where(t.c.mdtrt_id == visit.mdtrt_id).values(vis_status="open"))


@pytest.fixture(scope="session")
def factory(engine: Engine) -> Factory:
    return Factory(engine, read_reference(engine))


@pytest.fixture(scope="session")
def read_engine(settings: Settings, engine: Engine) -> Iterator[Engine]:
    """The analyst account with the session limits the API sets (no TiFlash here)."""
    from medhtap.platform.capabilities import probe
    from medhtap.services.api import analyst_session_vars

    e = make_engine(
        settings.analyst_url(),
        settings=settings,
        pool_size=2,
        session_vars=analyst_session_vars(settings, probe(engine)),
    )
    yield e
    e.dispose()
