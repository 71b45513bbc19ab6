"""Settlements (结算), idempotency records and daily reconciliation (对账)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import DECIMAL, JSON, CheckConstraint, Date, Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from medhtap.schema.base import DATETIME6, PARTITION_BY_MONTH, TABLE_ARGS, Base, Money, Ratio
from medhtap.schema.funds import FundMoney


class Settlement(Base):
    """A settlement, or the reversal row written when one is cancelled.

    A cancelled settlement keeps its row (setl_status 'cancelled') and gains a reversal row
    (setl_type 'reversal', amounts negated, orig_setl_id set): analysts see both, reports
    count only setl_type 'normal' AND setl_status 'settled'.
    """

    __tablename__ = "settlement"
    __table_args__ = (
        CheckConstraint("setl_type IN ('normal', 'reversal')", name="setl_type"),
        CheckConstraint("setl_status IN ('settled', 'cancelled', 'reversal')", name="setl_status"),
        Index("ix_settlement_mdtrt_id", "mdtrt_id"),
        Index("ix_settlement_psn_no_setl_time", "psn_no", "setl_time"),
        Index("ix_settlement_fixmedins_code_setl_time", "fixmedins_code", "setl_time"),
        Index("uq_settlement_setl_id", "setl_id", unique=True),  # GLOBAL in the migration
        PARTITION_BY_MONTH("setl_time"),
    )

    # Partitioned by month of setl_time (the column reports filter on); setl_id stays
    # unique across partitions through a global index.
    setl_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    setl_type: Mapped[str] = mapped_column(String(16), default="normal")
    setl_status: Mapped[str] = mapped_column(String(16), default="settled")
    orig_setl_id: Mapped[str | None] = mapped_column(String(40))  # on reversal rows
    mdtrt_id: Mapped[str] = mapped_column(String(40))
    psn_no: Mapped[str] = mapped_column(String(32))
    fixmedins_code: Mapped[str] = mapped_column(String(32))
    insutype: Mapped[str] = mapped_column(String(3))
    med_type: Mapped[str] = mapped_column(String(16))
    hosp_lv: Mapped[int] = mapped_column(Integer)
    setl_time: Mapped[dt.datetime] = mapped_column(DATETIME6, primary_key=True)
    cancel_time: Mapped[dt.datetime | None] = mapped_column(DATETIME6)
    medfee_sumamt: Mapped[Money]  # total medical fees of the visit (医疗费总额)
    fulamt_ownpay_amt: Mapped[Money]  # wholly self-paid amount (全自费金额)
    overlmt_selfpay: Mapped[Money]  # above price caps (超限价自费)
    preselfpay_amt: Mapped[Money]  # class-B self-pay share first (先行自付金额)
    inscp_scp_amt: Mapped[Money]  # amount in scope of the policy (符合政策范围金额)
    act_pay_dedc: Mapped[Money]  # deductible actually paid (实际支付起付线)
    hifp_pay: Mapped[Money]  # basic pooled fund paid (统筹基金支出)
    pool_prop_selfpay: Mapped[Ratio]  # the fund ratio applied (基本医疗保险统筹基金支付比例)
    psn_part_amt: Mapped[Money]  # the person's share (个人负担总金额)
    acct_pay: Mapped[Money]  # paid from the personal account (个人账户支出)
    psn_cash_pay: Mapped[Money]  # paid in cash (个人现金支出)
    hifob_pay: Mapped[FundMoney]  # employees' large-amount subsidy (职工大额医疗费用补助基金支出)
    hifmi_pay: Mapped[FundMoney]  # residents' critical-illness insurance (居民大病保险资金支出)
    maf_pay: Mapped[FundMoney]  # medical assistance (医疗救助基金支出)
    fund_pay_sumamt: Mapped[FundMoney]  # every fund's payment (基金支付总额)
    hosp_part_amt: Mapped[FundMoney]  # borne by the hospital (医院负担金额), 0.00 today
    acct_balc_after: Mapped[Money]  # account balance after this settlement
    idempotency_key: Mapped[str] = mapped_column(String(128))
    policy_id: Mapped[int] = mapped_column(Integer)


class IdempotencyRecord(Base):
    """The answer given for an Idempotency-Key, committed with the work it describes."""

    __tablename__ = "idempotency_record"
    # created_at: the purge's batches (expiry, migration 0014; TTL option where TiDB has it)
    __table_args__ = (Index("ix_idempotency_record_created_at", "created_at"), TABLE_ARGS)

    idem_key: Mapped[str] = mapped_column(String(160), primary_key=True)  # scope + ":" + key
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DATETIME6, server_default=func.now(6))


class Reconciliation(Base):
    """One 3201 reconciliation request and its verdict."""

    __tablename__ = "reconciliation"
    __table_args__ = (
        CheckConstraint("result IN ('match', 'mismatch')", name="result"),
        Index("ix_reconciliation_fixmedins_code_stmt_date", "fixmedins_code", "stmt_date"),
        TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    fixmedins_code: Mapped[str] = mapped_column(String(32))
    stmt_date: Mapped[dt.date] = mapped_column(Date)
    ins_setl_cnt: Mapped[int] = mapped_column(Integer)  # as the institution sees it
    ins_medfee_sumamt: Mapped[Money]
    ins_hifp_pay: Mapped[Money]
    ins_acct_pay: Mapped[Money]
    plt_setl_cnt: Mapped[int] = mapped_column(Integer)  # as the platform sees it
    plt_medfee_sumamt: Mapped[Money]
    plt_hifp_pay: Mapped[Money]
    plt_acct_pay: Mapped[Money]
    # fund_pay_sumamt as the institution sent it (NULL: not sent, not compared)
    ins_fund_pay_sumamt: Mapped[Decimal | None] = mapped_column(DECIMAL(16, 2))
    plt_fund_pay_sumamt: Mapped[FundMoney]
    result: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(DATETIME6, server_default=func.now(6))


__all__ = ["Decimal", "IdempotencyRecord", "Reconciliation", "Settlement"]
