"""Bodies of the visit lifecycle (2402 discharge, 2202/2404 cancel) and of the read-backs
(a settlement by setl_id; a person's visits and settlements, a page at a time)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from medhtap.services.settlement.schemas import (
    PRINTABLE,
    LocalTimeOut,
    MoneyOut,
    SettlementOut,
    Timestamp,
    VisitOut,
    _alias,
    _In,
)

# 离院方式 as the national platform codes it.
DSCG_WAYS = {
    "1": "discharged on medical advice",
    "2": "transferred to another hospital",
    "3": "transferred to a community or primary-care institution",
    "4": "left against medical advice",
    "5": "died",
    "9": "other",
}


class DischargeIn(_In):
    endtime: Timestamp = Field(validation_alias=_alias("endtime", "discharge_time"))
    dscg_maindiag_code: str = Field(
        min_length=3,
        max_length=16,
        pattern=PRINTABLE,
        validation_alias=_alias("dscg_maindiag_code", "discharge_diagnosis"),
        description="main diagnosis at discharge (ICD-10)",
    )
    dscg_way: Literal["1", "2", "3", "4", "5", "9"] = Field(
        validation_alias=_alias("dscg_way", "discharge_disposition"),
        description="disposition: " + "; ".join(f"{k} {v}" for k, v in DSCG_WAYS.items()),
    )


class VisitRecordOut(VisitOut):
    endtime: LocalTimeOut | None = Field(None, description="discharge time (inpatient)")
    dscg_maindiag_code: str | None = None
    dscg_way: str | None = None


class SettlementRecordOut(SettlementOut):
    """A stored settlement or reversal row as it stands now. `lines` are the fee lines it
    holds: a cancelled settlement holds none (they went back to the visit, see 2208)."""

    setl_status: Literal["settled", "cancelled", "reversal"]
    cancel_time: LocalTimeOut | None = None


LIMIT_MAX = 100
CURSOR_DOC = "opaque: the next_cursor of the previous page; absent for the first page"


class VisitPage(BaseModel):
    items: list[VisitRecordOut]
    next_cursor: str | None = Field(description="null on the last page")


class SettlementSummaryOut(BaseModel):
    setl_id: str
    setl_type: str
    setl_status: str
    orig_setl_id: str | None
    mdtrt_id: str
    fixmedins_code: str
    med_type: str
    setl_time: LocalTimeOut
    medfee_sumamt: MoneyOut
    hifp_pay: MoneyOut
    psn_part_amt: MoneyOut
    acct_pay: MoneyOut
    psn_cash_pay: MoneyOut


class SettlementPage(BaseModel):
    items: list[SettlementSummaryOut]
    next_cursor: str | None = Field(description="null on the last page")
