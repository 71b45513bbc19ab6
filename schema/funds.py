"""Fund policy (effective-dated rows a region changes without code) and each settlement's
per-fund split (setldetail), issue 13.1.

A settlement pays from the basic pooled fund (policy, `hifp_pay`), then from the secondary
fund of the person's insurance type (employees: large-amount subsidy 330100 `hifob_pay`;
residents: critical-illness insurance 390200 `hifmi_pay`), then from medical assistance
(610100 `maf_pay`) if the person has an assistance category. The amounts are computed by
services/settlement/funds.py from these rows.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

from sqlalchemy import DECIMAL, CheckConstraint, Date, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from medhtap.schema.base import TABLE_ARGS, Base, Money, Ratio

# The fund columns added to existing tables (settlement, setl_fact, accumulators): 0.00 on
# rows written without them (rows before migration 0013, history loaded by `medhtap ingest`).
FundMoney = Annotated[
    Decimal,
    mapped_column(DECIMAL(16, 2), nullable=False, default=Decimal("0.00"), server_default="0.00"),
]


class FundPolicy(Base):
    """One fund's parameters in a region for a validity period ('000000' = every region)."""

    __tablename__ = "fund_policy"
    __table_args__ = (
        CheckConstraint("fund_kind IN ('secondary', 'assistance')", name="fund_kind"),
        CheckConstraint("setl_field IN ('hifob_pay', 'hifmi_pay', 'maf_pay')", name="setl_field"),
        Index("ix_fund_policy_lookup", "admdvs", "fund_kind", "begndate"),
        TABLE_ARGS,
    )

    fund_policy_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    admdvs: Mapped[str] = mapped_column(String(6))
    fund_pay_type: Mapped[str] = mapped_column(String(6))  # national fund code, e.g. 390200
    fund_pay_type_name: Mapped[str] = mapped_column(String(64))
    fund_kind: Mapped[str] = mapped_column(String(16))  # secondary / assistance
    setl_field: Mapped[str] = mapped_column(String(16))  # the settlement field it pays into
    insutype: Mapped[str | None] = mapped_column(String(3))  # secondary: 310 / 390
    assistance_category: Mapped[str | None] = mapped_column(String(8))  # assistance: dibao...
    annual_cap: Mapped[Money]  # per person and calendar year
    begndate: Mapped[dt.date] = mapped_column(Date)
    enddate: Mapped[dt.date | None] = mapped_column(Date)


class FundSegment(Base):
    """`ratio` of the part of the person's yearly amount in [lower_amt, upper_amt)."""

    __tablename__ = "fund_segment"
    __table_args__ = (TABLE_ARGS,)

    fund_policy_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seg_no: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    lower_amt: Mapped[Money]
    upper_amt: Mapped[Decimal | None] = mapped_column(DECIMAL(16, 2))  # NULL: no upper limit
    ratio: Mapped[Ratio]


class SetlDetail(Base):
    """setldetail: one row per fund of a settlement (and negated ones for its reversal)."""

    __tablename__ = "setl_detail"
    __table_args__ = (TABLE_ARGS,)

    setl_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    fund_pay_type: Mapped[str] = mapped_column(String(6), primary_key=True)
    fund_pay_type_name: Mapped[str] = mapped_column(String(64))
    inscp_scp_amt: Mapped[Money]  # the base this fund was computed on
    crt_payb_lmt_amt: Mapped[Decimal | None] = mapped_column(DECIMAL(16, 2))  # limit open before
    fund_payamt: Mapped[Money]
    setl_proc_info: Mapped[str] = mapped_column(String(255))
