"""Analytic facts (分析事实): one narrow row per settlement, written in its transaction.

Everything a cost report or a risk rule groups, filters or sums by sits on this one row, so
reports scan one narrow table instead of joining fee lines, visits and settlements. A cancel
adds a second row for the same settlement with sign -1 and every amount negated: the pair
sums to zero in every group (the negated row copies the dimensions and setl_time), so sums
stay exact with no join, and the rollups (analytics/rollup.py) can add facts up as they
arrive. The one update a fact gets: a cancel clears its +1 fact's `standing` flag, for
what does not add up (distinct persons). Computed by services/settlement/facts.py, the
only place that knows how.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import DECIMAL, DateTime, Index, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from medhtap.schema.base import DATETIME6, PARTITION_BY_MONTH, TABLE_ARGS, Base, Money
from medhtap.schema.funds import FundMoney


class SettlementFact(Base):
    __tablename__ = "setl_fact"
    # Monthly partitions of setl_time, like settlement: reports and rules always filter a
    # setl_time range, so they read only the months asked for; the clustered key starts with
    # the random setl_id, so concurrent inserts spread instead of hitting the newest range.
    # Two secondary indexes: the risk watcher's and the rollups' "recorded since the
    # watermark" (a cancel of an old settlement lands in an old partition), and a person's
    # facts, for recounting the persons of new facts (analytics/persons.py); report plans
    # are partition scans.
    __table_args__ = (
        Index("ix_setl_fact_recorded_at", "recorded_at"),
        Index("ix_setl_fact_psn_no", "psn_no", "setl_time"),
        PARTITION_BY_MONTH("setl_time"),
    )

    setl_id: Mapped[str] = mapped_column(String(40), primary_key=True)  # the settlement
    sign: Mapped[int] = mapped_column(SmallInteger, primary_key=True)  # +1, or -1 on cancel
    # 1 while the settlement stands; a cancel sets its +1 fact to 0 (the one update a fact
    # ever gets) and writes its -1 fact with 0. Sums need no flag (the signs cancel out);
    # distinct counts (persons) and per-visit rules filter on it instead of joining the
    # -1 facts (migration 0020).
    standing: Mapped[int] = mapped_column(SmallInteger, server_default="1")
    # the settlement's time on both rows, so the pair falls in the same partition and group
    setl_time: Mapped[dt.datetime] = mapped_column(DATETIME6, primary_key=True)
    recorded_at: Mapped[dt.datetime] = mapped_column(DATETIME6)  # commit-time order: cancels
    rev_setl_id: Mapped[str | None] = mapped_column(String(40))  # the reversal row (-1 only)
    mdtrt_id: Mapped[str] = mapped_column(String(40))
    psn_no: Mapped[str] = mapped_column(String(32))
    fixmedins_code: Mapped[str] = mapped_column(String(32))
    hosp_lv: Mapped[int] = mapped_column(SmallInteger)
    admdvs: Mapped[str] = mapped_column(String(6))  # the person's insurance region
    insutype: Mapped[str] = mapped_column(String(3))
    med_type: Mapped[str] = mapped_column(String(16))
    dept_name: Mapped[str] = mapped_column(String(64))
    main_diag_code: Mapped[str] = mapped_column(String(16))
    diag_block: Mapped[str] = mapped_column(String(16))
    diag_chapter: Mapped[str] = mapped_column(String(8))
    gend: Mapped[str] = mapped_column(String(1))
    age: Mapped[int] = mapped_column(SmallInteger)  # on the visit's first day
    age_band: Mapped[str] = mapped_column(String(8))
    begntime: Mapped[dt.datetime] = mapped_column(DateTime)
    endtime: Mapped[dt.datetime | None] = mapped_column(DateTime)
    los_days: Mapped[int | None] = mapped_column(SmallInteger)  # inpatient length of stay
    medfee_sumamt: Mapped[Money]
    fulamt_ownpay_amt: Mapped[Money]
    overlmt_selfpay: Mapped[Money]
    preselfpay_amt: Mapped[Money]
    inscp_scp_amt: Mapped[Money]
    act_pay_dedc: Mapped[Money]
    hifp_pay: Mapped[Money]
    psn_part_amt: Mapped[Money]
    acct_pay: Mapped[Money]
    psn_cash_pay: Mapped[Money]
    hifob_pay: Mapped[FundMoney]  # the fund split (issue 13.1, migration 0013)
    hifmi_pay: Mapped[FundMoney]
    maf_pay: Mapped[FundMoney]
    fund_pay_sumamt: Mapped[FundMoney]
    hosp_part_amt: Mapped[FundMoney]
    drug_amt: Mapped[Money]  # the settled lines' amounts by catalog item kind
    material_amt: Mapped[Money]
    service_amt: Mapped[Money]


class SettlementItemFact(Base):
    """One row per (settlement, sign, catalog item): the item's lines of the settlement
    summed, with the settlement's setl_time and the group keys a cost report groups by,
    copied from its +1 fact. The cost report's top items read only this table (one pruned
    setl_time range, no join to fee lines). A cancel adds the rows negated with sign -1 and
    the same setl_time, so a period's sums count exactly the settlements that stand and
    SUM(sign) > 0 says an item is in a standing settlement of the group. Computed by
    services/settlement/facts.py (`item_facts`, `reversal_items`)."""

    __tablename__ = "setl_item_fact"
    __table_args__ = (PARTITION_BY_MONTH("setl_time"),)

    setl_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    sign: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    item_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    setl_time: Mapped[dt.datetime] = mapped_column(DATETIME6, primary_key=True)
    fixmedins_code: Mapped[str] = mapped_column(String(32))
    hosp_lv: Mapped[int] = mapped_column(SmallInteger)
    admdvs: Mapped[str] = mapped_column(String(6))
    insutype: Mapped[str] = mapped_column(String(3))
    med_type: Mapped[str] = mapped_column(String(16))
    dept_name: Mapped[str] = mapped_column(String(64))
    main_diag_code: Mapped[str] = mapped_column(String(16))
    diag_chapter: Mapped[str] = mapped_column(String(8))
    gend: Mapped[str] = mapped_column(String(1))
    age_band: Mapped[str] = mapped_column(String(8))
    det_item_fee_sumamt: Mapped[Money]  # the item's line amounts summed (negated on -1)
    cnt: Mapped[Decimal] = mapped_column(DECIMAL(16, 4))  # its quantities summed


class RiskWatermark(Base):
    """How far the risk watcher (analytics/watch.py) has read the facts."""

    __tablename__ = "risk_watermark"
    __table_args__ = (TABLE_ARGS,)

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    recorded_at: Mapped[dt.datetime] = mapped_column(DATETIME6)  # newest fact seen
    run_id: Mapped[str] = mapped_column(String(40))  # the rule run that saw it
