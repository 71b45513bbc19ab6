"""The review's SQL on the settlement hot path (2207's gate), as driver text with %s
parameters (platform/prepared.py runs it on the session's connection, in its transaction),
built once per shape: the person's earlier lines, the handling of known results, the
upsert of results. Building these as SQLAlchemy statements per call (expanding IN lists,
multi-row VALUES) was Python CPU on every reviewed settlement."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import lru_cache
from typing import NamedTuple

from medhtap.platform.prepared import Query, Statement
from medhtap.services.settlement.statements import FEE_BY_VISIT


def marks(n: int) -> str:
    return ", ".join("%s" for _ in range(n))


class PastRow(NamedTuple):
    mdtrt_id: str
    feedetl_sn: str
    item_code: str
    cnt: Decimal
    fee_ocur_time: dt.datetime


@lru_cache(maxsize=32)
def history(n: int) -> Query:
    """The person's lines of n items on other visits (not cancelled; line active or
    settled) in [since, until). Parameters: psn_no, mdtrt_id, the n item codes, since,
    until. The person's visits come from ix_visit_psn_no_begntime, their lines from the
    global index by visit (FEE_BY_VISIT)."""
    return Query(
        f"SELECT {FEE_BY_VISIT} fee_detail.mdtrt_id, fee_detail.feedetl_sn, "
        "fee_detail.item_code, fee_detail.cnt, fee_detail.fee_ocur_time "
        "FROM fee_detail JOIN visit ON visit.mdtrt_id = fee_detail.mdtrt_id "
        "WHERE visit.psn_no = %s AND visit.mdtrt_id != %s AND visit.vis_status != 'cancelled' "
        "AND fee_detail.fee_status IN ('active', 'settled') "
        f"AND fee_detail.item_code IN ({marks(n)}) "
        "AND fee_detail.fee_ocur_time >= %s AND fee_detail.fee_ocur_time < %s",
        PastRow,
    )


class Handling(NamedTuple):
    jr_id: str
    dspo_way: str | None


@lru_cache(maxsize=32)
def handling(n: int) -> Query:
    """The handling so far of n results, by jr_id (a batch point get)."""
    return Query(f"SELECT jr_id, dspo_way FROM review_result WHERE jr_id IN ({marks(n)})", Handling)


# The columns a review writes; the handling (dspo_way, ...) and created_at are kept when a
# known result (same jr_id) is refreshed.
WRITTEN = (
    "jr_id",
    "stage",
    "mdtrt_id",
    "psn_no",
    "fixmedins_code",
    "rule_id",
    "rule_name",
    "sev_deg",
    "vola_bhvr_type",
    "vola_cont",
    "vola_evid",
    "vola_amt",
    "line_ids",  # JSON
    "details",  # JSON
)
REFRESHED = (
    "rule_name",
    "sev_deg",
    "vola_bhvr_type",
    "vola_cont",
    "vola_evid",
    "vola_amt",
    "details",
)
UPSERT = Statement(
    f"INSERT INTO review_result ({', '.join(WRITTEN)}) VALUES ({marks(len(WRITTEN))}) "
    "ON DUPLICATE KEY UPDATE "
    + ", ".join(f"{c} = VALUES({c})" for c in REFRESHED)
    + ", last_seen_at = NOW(6)"
)
