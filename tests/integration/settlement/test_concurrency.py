"""50 truly concurrent HTTP settlements for one person against a real uvicorn server.

The amounts are chosen so the exact end state does not depend on the order in which TiDB
serialises the settlements: every visit has 100.00 in scope, the deductible (1800.00) is
used up after exactly 18 visits, the annual cap has 400.00 left (five visits at 80.00),
and the balance (1000.00) is less than the person's total share (2100.00).
"""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal as D
from typing import Any

import httpx

from .conftest import HIS, Factory


def race_50(factory: Factory, live_server: str, visits: list[str]) -> None:
    """50 concurrent settlement requests over 25 visits of one person: retries with one key,
    double submits with two keys, single requests; each visit settles exactly once."""
    # visits 0-9: three requests with one key (retries); 10-14: two requests with two keys
    # (double submit); 15-24: one request each. 30 + 10 + 10 = 50.
    requests: list[tuple[str, str]] = []
    for i, v in enumerate(visits):
        if i < 10:
            requests += [(v, f"dup-{v}")] * 3
        elif i < 15:
            requests += [(v, f"a-{v}"), (v, f"b-{v}")]
        else:
            requests.append((v, f"one-{v}"))
    assert len(requests) == 50

    def call(req: tuple[str, str]) -> tuple[str, str, int, dict[str, Any]]:
        visit, key = req
        with httpx.Client(base_url=live_server, timeout=60) as c:
            r = c.post(
                f"/v1/visits/{visit}/settlement",
                headers={**HIS, "Idempotency-Key": key},
                json={"use_account": True},
            )
        return visit, key, r.status_code, r.json()

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(call, requests))

    by_visit: dict[str, list[tuple[str, int, dict[str, Any]]]] = defaultdict(list)
    for visit, key, status, body in results:
        assert status in (200, 409), (status, body)
        by_visit[visit].append((key, status, body))
    for i, v in enumerate(visits):
        answers = by_visit[v]
        ok = [b for _, s, b in answers if s == 200]
        if i < 10:  # one settlement, two replays of it
            assert len(ok) == 3 and len({b["setl_id"] for b in ok}) == 1
            assert sorted(b["replay"] for b in ok) == [False, True, True]
        elif i < 15:  # one settles, the other key is refused
            assert len(ok) == 1
            assert [b["error"]["code"] for _, s, b in answers if s == 409] == ["ALREADY_SETTLED"]
        else:
            assert len(ok) == 1 and ok[0]["replay"] is False


def test_50_parallel_requests_for_one_person_never_overspend(
    factory: Factory, live_server: str
) -> None:
    psn = factory.person("310", "1000.00")
    factory.used(psn, "outpatient", hifp="19600.00")  # cap 20000.00: 400.00 left
    visits = [factory.visit(psn) for _ in range(25)]
    for v in visits:
        factory.fees(v, [("TST-DRUG-A", "1", "100.00")])
    race_50(factory, live_server, visits)

    assert factory.scalar("SELECT acct_balc FROM insured_person WHERE psn_no=:p", p=psn) == D(
        "0.00"
    )
    assert factory.rows(
        "SELECT dedc_used, hifp_paid, setl_cnt FROM person_year_accumulator "
        "WHERE psn_no=:p AND med_type='outpatient'",
        p=psn,
    ) == [(D("1800.00"), D("20000.00"), 25)]
    assert factory.rows(
        "SELECT COUNT(*), SUM(act_pay_dedc), SUM(hifp_pay), SUM(acct_pay), SUM(psn_cash_pay) "
        "FROM settlement WHERE psn_no=:p",
        p=psn,
    ) == [(25, D("1800.00"), D("400.00"), D("1000.00"), D("1100.00"))]
    assert (
        factory.scalar("SELECT COUNT(DISTINCT mdtrt_id) FROM settlement WHERE psn_no=:p", p=psn)
        == 25
    )
    assert factory.rows(
        "SELECT SUM(amount), MIN(balance_after) FROM account_ledger WHERE psn_no=:p", p=psn
    ) == [(D("-1000.00"), D("0.00"))]
    assert (
        factory.scalar(
            "SELECT COUNT(*) FROM fee_detail f JOIN visit v ON v.mdtrt_id = f.mdtrt_id "
            "WHERE v.psn_no=:p AND f.fee_status='settled' AND f.setl_id IS NOT NULL",
            p=psn,
        )
        == 25
    )
    # every settlement's recorded balance is reachable by debiting in setl_time order
    rows = factory.rows(
        "SELECT acct_pay, acct_balc_after FROM settlement WHERE psn_no=:p ORDER BY setl_time", p=psn
    )
    balance = D("1000.00")
    for acct_pay, after in rows:
        balance -= acct_pay
        assert after == balance


def test_50_parallel_requests_never_exceed_the_secondary_and_assistance_caps(
    factory: Factory, live_server: str
) -> None:
    """A dibao resident whose deductible and basic fund are used up, 100.00 left under the
    critical-illness cap (80 % at this yearly amount: 80.00 per visit) and 50.00 under the
    assistance cap (70 % of what is left: at least 14.00 per visit). Whatever the order,
    the funds pay exactly what their caps still allow."""
    psn = factory.person("390", "0.00", assistance="dibao")
    factory.used(
        psn,
        "outpatient",
        dedc="200.00",
        hifp="3000.00",
        inscp_self="200000.00",
        secondary="399900.00",
        assistance="29950.00",
    )
    visits = [factory.visit(psn) for _ in range(25)]
    for v in visits:
        factory.fees(v, [("TST-DRUG-A", "1", "100.00")])
    race_50(factory, live_server, visits)

    assert factory.rows(
        "SELECT inscp_selfpay, secondary_paid, assistance_paid, setl_cnt"
        " FROM person_year_accumulator WHERE psn_no=:p",
        p=psn,
    ) == [(D("202500.00"), D("400000.00"), D("30000.00"), 25)]
    assert factory.rows(
        "SELECT COUNT(*), SUM(hifp_pay), SUM(hifmi_pay), SUM(maf_pay), SUM(fund_pay_sumamt),"
        " SUM(psn_part_amt) FROM settlement WHERE psn_no=:p",
        p=psn,
    ) == [(25, D("0.00"), D("100.00"), D("50.00"), D("150.00"), D("2350.00"))]
    # each settlement saw the caps its predecessors left (setl_time order is commit order
    # here: the person's lock serialises them)
    open_secondary, open_assistance = D("100.00"), D("50.00")
    for setl_id, hifmi, maf in factory.rows(
        "SELECT setl_id, hifmi_pay, maf_pay FROM settlement WHERE psn_no=:p ORDER BY setl_time",
        p=psn,
    ):
        limits = dict(
            factory.rows(
                "SELECT fund_pay_type, crt_payb_lmt_amt FROM setl_detail WHERE setl_id=:s",
                s=setl_id,
            )
        )
        assert (limits["390200"], limits["610100"]) == (open_secondary, open_assistance)
        open_secondary, open_assistance = open_secondary - hifmi, open_assistance - maf
    assert (open_secondary, open_assistance) == (D("0.00"), D("0.00"))
