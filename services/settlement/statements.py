"""The settlement hot path's SQL, as driver text with %s parameters, built once.

2206/2207 read the visit, the person, the active lines and the year's accumulators with
the queries here (the columns the rules, the answer and the fact use, no more: pymysql's
parsing of each column's description is CPU per row set), and 2207/2208 write with the
statements here. platform/prepared.py runs them on the session's connection, in its
transaction; bench/settlement_bench.py's raw pymysql baseline sends exactly this SQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from functools import lru_cache
from typing import Any, NamedTuple

from medhtap.platform.prepared import Query, Statement

ISOLATION_RC = Statement("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")

CLAIM_IDEM = Statement(
    "INSERT INTO idempotency_record (idem_key, request_hash, status_code, response) "
    "VALUES (%s, %s, %s, %s)"
)
FINISH_IDEM = Statement(
    "UPDATE idempotency_record SET status_code = %s, response = %s WHERE idem_key = %s"
)


class VisitRow(NamedTuple):
    mdtrt_id: str
    psn_no: str
    fixmedins_code: str
    med_type: str
    dept_name: str
    begntime: dt.datetime
    endtime: dt.datetime | None
    main_diag_code: str
    vis_status: str

    @property
    def _mapping(self) -> dict[str, Any]:  # as a SQLAlchemy Row offers it
        return self._asdict()


class PersonRow(NamedTuple):
    psn_no: str
    psn_status: str
    insutype: str
    admdvs: str
    gend: str
    brdy: dt.date
    acct_balc: Decimal
    assistance_category: str

    @property
    def _mapping(self) -> dict[str, Any]:
        return self._asdict()


class LineRow(NamedTuple):
    """A fee line with the catalog facts of its item: the money rules' (rules.Item.from_row
    reads these) and the review's limits (review.repository.item_facts), so 2207 reads its
    lines once for both."""

    feedetl_sn: str
    cnt: Decimal
    pric: Decimal
    fee_ocur_time: dt.datetime
    item_code: str
    item_kind: str
    chrgitm_lv: str
    selfpay_prop: Decimal
    pric_uplmt_amt: Decimal | None
    gend_lmt: str | None
    age_min: int | None
    age_max: int | None
    item_name: str
    max_qty_per_day: Decimal | None
    med_type_lmt: str | None
    exam_intv_days: int | None
    supply_days: Decimal | None


_VISIT = f"SELECT {', '.join(VisitRow._fields)} FROM visit WHERE mdtrt_id = %s"
VISIT = Query(_VISIT, VisitRow)
VISIT_LOCKED = Query(_VISIT + " FOR UPDATE", VisitRow)
_PERSON = f"SELECT {', '.join(PersonRow._fields)} FROM insured_person WHERE psn_no = %s"
PERSON = Query(_PERSON, PersonRow)
PERSON_LOCKED = Query(_PERSON + " FOR UPDATE", PersonRow)
# fee_detail is partitioned by month: its global unique index (mdtrt_id, feedetl_sn) finds a
# visit's lines in one range scan (see repository.FEE_BY_VISIT).
FEE_BY_VISIT = "/*+ USE_INDEX(fee_detail, uq_fee_detail_mdtrt_id_feedetl_sn) */"
# The same index as a FROM-clause index hint. On the bench databases (100k-5M lines) TiDB
# planned "all lines of a visit" (mdtrt_id only, a read that needs table columns) as a scan
# of the clustered key in all 98 partitions despite the /*+ USE_INDEX */ comment (98
# coprocessor tasks per settlement; bench/README.md, 2026-12-04 evening); FORCE INDEX gave
# the IndexLookUp on the global index there. Not reproduced on a fresh database.
FORCE_BY_VISIT = "FORCE INDEX (uq_fee_detail_mdtrt_id_feedetl_sn)"
ACTIVE_LINES = Query(
    "SELECT fee_detail.feedetl_sn, fee_detail.cnt, fee_detail.pric, "
    "fee_detail.fee_ocur_time, catalog_item.item_code, catalog_item.item_kind, "
    "catalog_item.chrgitm_lv, catalog_item.selfpay_prop, catalog_item.pric_uplmt_amt, "
    "catalog_item.gend_lmt, catalog_item.age_min, catalog_item.age_max, "
    "catalog_item.item_name, catalog_item.max_qty_per_day, catalog_item.med_type_lmt, "
    "catalog_item.exam_intv_days, catalog_item.supply_days "
    f"FROM fee_detail {FORCE_BY_VISIT} "
    "JOIN catalog_item ON catalog_item.item_code = fee_detail.item_code "
    "WHERE fee_detail.mdtrt_id = %s AND fee_detail.fee_status = 'active' "
    "ORDER BY fee_detail.feedetl_sn",
    LineRow,
)


class Accumulator(NamedTuple):
    med_type: str
    dedc_used: Decimal
    hifp_paid: Decimal
    setl_cnt: int
    inscp_selfpay: Decimal
    secondary_paid: Decimal
    assistance_paid: Decimal


_ACC_OF_YEAR = (
    "SELECT med_type, dedc_used, hifp_paid, setl_cnt, inscp_selfpay, secondary_paid, "
    "assistance_paid FROM person_year_accumulator WHERE psn_no = %s AND year = %s "
    "ORDER BY med_type"
)
# The person's accumulators of one year, every visit kind: the kind's own row (deductible,
# basic fund) and the yearly fund figures summed over both kinds, in one read.
ACC_OF_YEAR = Query(_ACC_OF_YEAR, Accumulator)
ACC_OF_YEAR_LOCKED = Query(_ACC_OF_YEAR + " FOR UPDATE", Accumulator)

ACC_ADD = Statement(
    "UPDATE person_year_accumulator SET dedc_used = dedc_used + %s, hifp_paid = hifp_paid + %s, "
    "setl_cnt = setl_cnt + %s, inscp_selfpay = inscp_selfpay + %s, "
    "secondary_paid = secondary_paid + %s, assistance_paid = assistance_paid + %s "
    "WHERE psn_no = %s AND year = %s AND med_type = %s"
)
ACC_NEW = Statement(
    "INSERT INTO person_year_accumulator (dedc_used, hifp_paid, setl_cnt, inscp_selfpay, "
    "secondary_paid, assistance_paid, psn_no, year, med_type) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
)

SET_BALANCE = Statement("UPDATE insured_person SET acct_balc = %s WHERE psn_no = %s")
LEDGER = Statement(
    "INSERT INTO account_ledger (psn_no, setl_id, amount, balance_after) VALUES (%s, %s, %s, %s)"
)
SET_VISIT_STATUS = Statement("UPDATE visit SET vis_status = %s WHERE mdtrt_id = %s")
AUDIT = Statement(
    "INSERT INTO audit_log (actor, action, entity, entity_id, detail, request_id) "
    "VALUES (%s, %s, %s, %s, %s, %s)"
)

SPLIT_COLUMNS = (
    "fulamt_ownpay_amt",
    "overlmt_selfpay",
    "preselfpay_amt",
    "inscp_scp_amt",
    "ownpay_reason",
)


@lru_cache(maxsize=64)
def settle_lines(n: int) -> Statement:
    """UPDATE of n lines of one visit, each split column a CASE on feedetl_sn.
    Parameters: setl_id; per column, n pairs (feedetl_sn, value); mdtrt_id; the n feedetl_sn."""
    whens = " ".join("WHEN %s THEN %s" for _ in range(n))
    sets = ", ".join(f"{c} = CASE feedetl_sn {whens} ELSE {c} END" for c in SPLIT_COLUMNS)
    marks = ", ".join("%s" for _ in range(n))
    return Statement(
        f"UPDATE {FEE_BY_VISIT} fee_detail SET fee_status = 'settled', setl_id = %s, {sets} "
        f"WHERE mdtrt_id = %s AND feedetl_sn IN ({marks})"
    )


def settle_lines_params(mdtrt_id: str, setl_id: str, splits: Sequence[Any]) -> list[Any]:
    params: list[Any] = [setl_id]
    for col in SPLIT_COLUMNS:
        for s in splits:
            params += (s.feedetl_sn, getattr(s, col))
    params.append(mdtrt_id)
    params += (s.feedetl_sn for s in splits)
    return params
