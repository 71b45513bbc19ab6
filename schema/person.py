"""Insured persons, their personal accounts and their yearly benefit accumulators."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    Index,
    Integer,
    SmallInteger,
    String,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from medhtap.schema.base import AUTO_RANDOM, DATETIME6, TABLE_ARGS, Base, Money
from medhtap.schema.funds import FundMoney


class InsuredPerson(Base):
    """参保人. certno and psn_name are personal data: analysts only see masked views."""

    __tablename__ = "insured_person"
    __table_args__ = (
        CheckConstraint("insutype IN ('310', '390')", name="insutype"),
        CheckConstraint("gend IN ('1', '2', '9')", name="gend"),
        CheckConstraint("acct_balc >= 0", name="acct_balc"),
        CheckConstraint("psn_status IN ('active', 'suspended')", name="psn_status"),
        CheckConstraint(
            "assistance_category IN ('none', 'dibao', 'tekun')", name="assistance_category"
        ),
        TABLE_ARGS,
    )

    psn_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    certno: Mapped[str] = mapped_column(String(18), unique=True)  # id-card number
    psn_name: Mapped[str] = mapped_column(String(64))
    gend: Mapped[str] = mapped_column(String(1))  # 1 male, 2 female, 9 unknown
    brdy: Mapped[dt.date] = mapped_column(Date)  # birth date
    insutype: Mapped[str] = mapped_column(String(3))  # 310 employee, 390 resident
    admdvs: Mapped[str] = mapped_column(String(6), index=True)
    acct_balc: Mapped[Money]  # personal-account balance (个人账户余额)
    psn_status: Mapped[str] = mapped_column(String(16), default="active")
    # medical assistance (医疗救助): none, dibao (低保) or tekun (特困); see schema/funds.py
    assistance_category: Mapped[str] = mapped_column(
        String(8), default="none", server_default="none"
    )
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, server_default=func.now())


class PersonYearAccumulator(Base):
    """Per person, calendar year and visit kind: deductible used and fund paid so far."""

    __tablename__ = "person_year_accumulator"
    __table_args__ = (TABLE_ARGS,)

    psn_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    year: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    med_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    dedc_used: Mapped[Money]  # deductible paid by the person this year (outpatient)
    hifp_paid: Mapped[Money]  # pooled fund paid this year, against the annual cap
    setl_cnt: Mapped[int] = mapped_column(Integer, default=0)
    # Fund accumulators (issue 13.1): a fund's yearly figure is the sum over the person's
    # rows of the year (both visit kinds); each settlement adds to its visit kind's row.
    inscp_selfpay: Mapped[FundMoney]  # in-scope amount the basic fund did not pay
    secondary_paid: Mapped[FundMoney]  # hifob_pay / hifmi_pay, against the secondary cap
    assistance_paid: Mapped[FundMoney]  # maf_pay, against the assistance cap


class AccountLedger(Base):
    """Every change to a personal-account balance, with the balance after it."""

    __tablename__ = "account_ledger"
    __table_args__ = (
        Index("ix_account_ledger_psn_no_created_at", "psn_no", "created_at"),
        TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, info=AUTO_RANDOM)
    psn_no: Mapped[str] = mapped_column(String(32))
    setl_id: Mapped[str] = mapped_column(String(40))
    amount: Mapped[Money]  # negative: debit for a settlement; positive: refund on cancel
    balance_after: Mapped[Money]
    created_at: Mapped[dt.datetime] = mapped_column(DATETIME6, server_default=func.now(6))
