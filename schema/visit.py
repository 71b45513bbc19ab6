"""Visits (就诊) and their fee lines (费用明细)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import DECIMAL, CheckConstraint, DateTime, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from medhtap.schema.base import DATETIME6, PARTITION_BY_MONTH, TABLE_ARGS, Base, Money


class Visit(Base):
    __tablename__ = "visit"
    __table_args__ = (
        # national codes, policy per code in rules.MED_TYPES (migration 0014 recoded)
        CheckConstraint("med_type IN ('11', '14', '21', '41')", name="med_type"),
        CheckConstraint("vis_status IN ('open', 'settled', 'cancelled')", name="vis_status"),
        Index("ix_visit_psn_no_begntime", "psn_no", "begntime"),
        Index("ix_visit_fixmedins_code_begntime", "fixmedins_code", "begntime"),
        TABLE_ARGS,
    )

    mdtrt_id: Mapped[str] = mapped_column(String(40), primary_key=True)  # visit id, random
    psn_no: Mapped[str] = mapped_column(String(32))
    fixmedins_code: Mapped[str] = mapped_column(String(32))
    med_type: Mapped[str] = mapped_column(String(16))
    dept_name: Mapped[str] = mapped_column(String(64))
    begntime: Mapped[dt.datetime] = mapped_column(DateTime)  # admission / visit start
    endtime: Mapped[dt.datetime | None] = mapped_column(DateTime)  # discharge
    main_diag_code: Mapped[str] = mapped_column(String(16))
    # 2402 discharge (migration 0014): diagnosis at discharge, disposition (离院方式)
    dscg_maindiag_code: Mapped[str | None] = mapped_column(String(16))
    dscg_way: Mapped[str | None] = mapped_column(String(2))
    vis_status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[dt.datetime] = mapped_column(DATETIME6, server_default=func.now(6))


class FeeDetail(Base):
    """One fee line. The settlement split of the line is stored when the visit is settled."""

    __tablename__ = "fee_detail"
    __table_args__ = (
        CheckConstraint("fee_status IN ('active', 'revoked', 'settled')", name="fee_status"),
        # GLOBAL in the migration: unique across all monthly partitions.
        Index("uq_fee_detail_mdtrt_id_feedetl_sn", "mdtrt_id", "feedetl_sn", unique=True),
        # no index on item_code: no plan reads one, and it cost every load (migration 0026)
        PARTITION_BY_MONTH("fee_ocur_time"),
    )

    # Clustered on (visit, line, time): a settlement reads one contiguous range per
    # partition, and the random mdtrt_id prefix spreads concurrent visits over regions
    # (no AUTO_RANDOM needed). Monthly partitions let reports prune by date.
    mdtrt_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    feedetl_sn: Mapped[str] = mapped_column(String(30), primary_key=True)  # HIS line number
    item_code: Mapped[str] = mapped_column(String(64))
    cnt: Mapped[Decimal] = mapped_column(DECIMAL(16, 4))  # quantity
    pric: Mapped[Decimal] = mapped_column(DECIMAL(16, 4))  # unit price
    det_item_fee_sumamt: Mapped[Money]  # line amount = cnt x pric, rounded half up
    fee_ocur_time: Mapped[dt.datetime] = mapped_column(DateTime, primary_key=True)
    fee_status: Mapped[str] = mapped_column(String(16), default="active")
    setl_id: Mapped[str | None] = mapped_column(String(40))
    # The line's split, written at settlement (sums to det_item_fee_sumamt):
    fulamt_ownpay_amt: Mapped[Money]  # wholly self-paid (class C, or restriction broken)
    overlmt_selfpay: Mapped[Money]  # above the item's price cap
    preselfpay_amt: Mapped[Money]  # class-B self-pay share
    inscp_scp_amt: Mapped[Money]  # in scope of the fund
    ownpay_reason: Mapped[str | None] = mapped_column(String(32))  # class_c, gender, age
    created_at: Mapped[dt.datetime] = mapped_column(DATETIME6, server_default=func.now(6))
