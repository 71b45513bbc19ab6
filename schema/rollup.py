"""Cost rollups (费用汇总): the analytic facts added up per day and group, kept by a worker.

One row per (dimension set, settlement day, group): the sums of every fact of that day and
group that the worker has folded in. A dimension set is the report's group_by without the
month (the day gives it); columns of dimensions outside the set hold their default ('' or
0). `rollup_state` holds, per dimension set, the `recorded_at` up to which facts are folded:
a report reads the rollup rows of its days plus the facts recorded since then (the tail),
in one snapshot, so it stays exact and T+0 (analytics/rollup.py explains why no fact is
missed or counted twice).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

from sqlalchemy import DECIMAL, BigInteger, Date, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from medhtap.schema.base import DATETIME6, TABLE_ARGS, Base

# Sums of many settlements: two more integer digits than a settlement's DECIMAL(16,2).
Sum = Annotated[Decimal, mapped_column(DECIMAL(18, 2), nullable=False)]
Key = Annotated[str, mapped_column(String(64), primary_key=True, server_default="")]


class CostRollup(Base):
    __tablename__ = "cost_rollup"
    __table_args__ = (TABLE_ARGS,)

    dims: Mapped[str] = mapped_column(String(160), primary_key=True)  # e.g. 'age_band,gend'
    setl_day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    fixmedins_code: Mapped[Key]
    hosp_lv: Mapped[int] = mapped_column(SmallInteger, primary_key=True, server_default="0")
    dept_name: Mapped[Key]
    main_diag_code: Mapped[Key]
    diag_chapter: Mapped[Key]
    insutype: Mapped[Key]
    med_type: Mapped[Key]
    age_band: Mapped[Key]
    gend: Mapped[Key]
    admdvs: Mapped[Key]
    visits: Mapped[int] = mapped_column(BigInteger)  # sum of signs: settlements that stand
    inpatient_visits: Mapped[int] = mapped_column(BigInteger)
    inpatient_days: Mapped[int] = mapped_column(BigInteger)
    medfee_sumamt: Mapped[Sum]
    hifp_pay: Mapped[Sum]
    hifob_pay: Mapped[Sum]
    hifmi_pay: Mapped[Sum]
    maf_pay: Mapped[Sum]
    fund_pay_sumamt: Mapped[Sum]
    acct_pay: Mapped[Sum]
    psn_cash_pay: Mapped[Sum]
    psn_part_amt: Mapped[Sum]
    drug_amt: Mapped[Sum]
    material_amt: Mapped[Sum]
    service_amt: Mapped[Sum]
    latest_setl_time: Mapped[dt.datetime] = mapped_column(DATETIME6)  # newest fact folded


class RollupState(Base):
    """Per dimension set: folded up to `folded_to` (None: registered, not built yet)."""

    __tablename__ = "rollup_state"
    __table_args__ = (TABLE_ARGS,)

    dims: Mapped[str] = mapped_column(String(160), primary_key=True)
    folded_to: Mapped[dt.datetime | None] = mapped_column(DATETIME6)
    folded_at: Mapped[dt.datetime | None] = mapped_column(DATETIME6)
    folded_facts: Mapped[int] = mapped_column(BigInteger, server_default="0")  # in all
    registered_at: Mapped[dt.datetime] = mapped_column(DATETIME6)
