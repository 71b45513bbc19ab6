"""The cost report reads the analytic facts; its answers must equal an independent query
over the base tables (settlements, visits, fee lines), for every group_by, with cancelled
and re-settled visits in the data (seeded directly and through the HTTP API)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from medhtap.analytics.reports import DIMENSIONS, cost_report
from medhtap.services.settlement.identity import next_certno

ADMIN = {"X-API-Key": "dev-admin-key"}
HIS = {"X-API-Key": "dev-his-key"}
DRUG, SERVICE, MATERIAL = "XA10BAA003", "S110200001", "M270100001"

# group_by -> expressions over the base tables (s settlement, v visit, p person,
# i institution, d diagnosis), in the report's column order
BASE: dict[str, list[str]] = {
    "institution": ["s.fixmedins_code", "i.fixmedins_name"],
    "institution_level": ["s.hosp_lv"],
    "department": ["v.dept_name"],
    "diagnosis": ["v.main_diag_code", "d.diag_name"],
    "diagnosis_chapter": ["d.chapter"],
    "insurance_type": ["s.insutype"],
    "visit_kind": ["s.med_type"],
    "month": ["DATE_FORMAT(s.setl_time, '%Y-%m')"],
    "age_band": [
        "CASE WHEN a.age >= 80 THEN '80+' WHEN a.age >= 70 THEN '70-79' "
        "WHEN a.age >= 60 THEN '60-69' WHEN a.age >= 45 THEN '45-59' "
        "WHEN a.age >= 18 THEN '18-44' WHEN a.age >= 7 THEN '07-17' ELSE '00-06' END"
    ],
    "gender": ["p.gend"],
    "region": ["p.admdvs"],
}
MEASURES = (
    "visits",
    "persons",
    "medfee_sumamt",
    "hifp_pay",
    "acct_pay",
    "psn_cash_pay",
    "psn_part_amt",
    "fee_amt",
    "drug_amt",
    "material_amt",
    "inpatient_visits",
    "inpatient_days",
)

BASE_SQL = """
SELECT {dims},
       COUNT(*) AS visits, COUNT(DISTINCT s.psn_no) AS persons,
       SUM(s.medfee_sumamt) AS medfee_sumamt, SUM(s.hifp_pay) AS hifp_pay,
       SUM(s.acct_pay) AS acct_pay, SUM(s.psn_cash_pay) AS psn_cash_pay,
       SUM(s.psn_part_amt) AS psn_part_amt,
       SUM(COALESCE(l.fee_amt, 0)) AS fee_amt, SUM(COALESCE(l.drug_amt, 0)) AS drug_amt,
       SUM(COALESCE(l.material_amt, 0)) AS material_amt,
       SUM(s.med_type = '21') AS inpatient_visits,
       SUM(IF(s.med_type = '21', GREATEST(DATEDIFF(v.endtime, v.begntime), 1), 0))
         AS inpatient_days
FROM settlement s
JOIN visit v ON v.mdtrt_id = s.mdtrt_id
JOIN insured_person p ON p.psn_no = s.psn_no
JOIN (SELECT s2.setl_id,
             TIMESTAMPDIFF(YEAR, p2.brdy, DATE(v2.begntime)) AS age
      FROM settlement s2 JOIN visit v2 ON v2.mdtrt_id = s2.mdtrt_id
      JOIN insured_person p2 ON p2.psn_no = s2.psn_no) a ON a.setl_id = s.setl_id
LEFT JOIN institution i ON i.fixmedins_code = s.fixmedins_code
LEFT JOIN diagnosis d ON d.diag_code = v.main_diag_code
LEFT JOIN (SELECT fd.setl_id, SUM(fd.det_item_fee_sumamt) AS fee_amt,
                  SUM(IF(ci.item_kind = 'drug', fd.det_item_fee_sumamt, 0)) AS drug_amt,
                  SUM(IF(ci.item_kind = 'material', fd.det_item_fee_sumamt, 0)) AS material_amt
           FROM fee_detail fd JOIN catalog_item ci ON ci.item_code = fd.item_code
           WHERE fd.fee_status = 'settled' GROUP BY fd.setl_id) l ON l.setl_id = s.setl_id
WHERE s.setl_type = 'normal' AND s.setl_status = 'settled'
  AND s.setl_time >= :from AND s.setl_time < :to
GROUP BY {dims}
"""


def base_report(engine: Engine, dim: str, start: dt.date, end: dt.date) -> dict[Any, Any]:
    sql = BASE_SQL.format(dims=", ".join(BASE[dim]))
    params = {"from": start, "to": end + dt.timedelta(days=1)}
    with engine.connect() as conn:
        rows = conn.execute(text(sql), params).mappings().all()
    n = len(BASE[dim])
    return {
        tuple(r.values())[:n]: tuple(
            int(r[m] or 0)
            if m in ("visits", "persons", "inpatient_visits", "inpatient_days")
            else Decimal(r[m])
            for m in MEASURES
        )
        for r in rows
    }


def settle_cancel_resettle_over_http(client: TestClient) -> None:
    """One visit settled, cancelled, corrected and settled again, as an HIS does it."""
    r = client.post(
        "/v1/persons",
        headers=ADMIN,
        json={
            "certno": next_certno(dt.date(1948, 2, 3), "2"),
            "psn_name": "Report Person",
            "gend": "2",
            "brdy": "1948-02-03",
            "insutype": "310",
            "admdvs": "110100",
            "acct_balc": "80.00",
        },
    )
    assert r.status_code == 201, r.text
    visit = client.post(
        "/v1/visits",
        headers=HIS,
        json={
            "psn_no": r.json()["psn_no"],
            "fixmedins_code": "H11010000002",
            "med_type": "inpatient",
            "dept_name": "Cardiology",
            "begntime": (dt.datetime.now() - dt.timedelta(days=3)).isoformat(),
            "main_diag_code": "I21.9",
        },
    )
    assert visit.status_code == 201, visit.text
    mdtrt_id = visit.json()["mdtrt_id"]

    def fees(lines: list[tuple[str, str, str]], first: int) -> None:
        body = {
            "lines": [
                {
                    "feedetl_sn": f"R{first + n}",
                    "item_code": code,
                    "cnt": cnt,
                    "pric": pric,
                    "fee_ocur_time": dt.datetime.now().replace(microsecond=0).isoformat(),
                }
                for n, (code, cnt, pric) in enumerate(lines)
            ]
        }
        assert client.post(f"/v1/visits/{mdtrt_id}/fees", headers=HIS, json=body).status_code == 201

    def settle() -> str:
        key = {**HIS, "Idempotency-Key": uuid.uuid4().hex}
        r = client.post(
            f"/v1/visits/{mdtrt_id}/settlement", headers=key, json={"use_account": True}
        )
        assert r.status_code == 200, r.text
        return str(r.json()["setl_id"])

    fees([(DRUG, "2", "40.00"), (MATERIAL, "1", "300.00")], 1)
    out = {"endtime": dt.datetime.now().isoformat(), "dscg_maindiag_code": "I21.9", "dscg_way": "1"}
    r = client.post(f"/v1/visits/{mdtrt_id}/discharge", headers=HIS, json=out)
    assert r.status_code == 200, r.text  # a stay settles after its discharge (2402)
    first = settle()
    key = {**HIS, "Idempotency-Key": uuid.uuid4().hex}
    assert client.post(f"/v1/settlements/{first}/cancel", headers=key).status_code == 200
    fees([(SERVICE, "1", "90.00")], 10)
    settle()


@pytest.fixture
def seeded(factory, window) -> None:
    a, b, c = factory.person(), factory.person(gend="2"), factory.person(brdy=dt.date(2015, 1, 1))
    factory.visit(a, begntime=window.at(2), lines=[(DRUG, 2, "40.00"), (SERVICE, 1, "30.00")])
    factory.visit(
        b,
        begntime=window.at(3),
        med_type="inpatient",
        endtime=window.at(9),
        fixmedins_code="H11010500003",
        diag="J18.9",
        dept="Respiratory",
        lines=[(MATERIAL, 5, "20.00"), (DRUG, 1, "50.00")],
    )
    factory.visit(c, begntime=window.at(4), diag="J06.9", lines=[(SERVICE, 2, "15.00")])
    factory.visit(a, begntime=window.at(5), lines=[(DRUG, 3, "1000.00")], cancel=True)
    # b's only visit at this institution is cancelled: the group must disappear
    factory.visit(b, begntime=window.at(6), fixmedins_code="H11010800004", cancel=True)


def report(read_engine: Engine, dim: str, start: dt.date, end: dt.date) -> dict[Any, Any]:
    rep = cost_report(read_engine, start, end, [dim], top_items=False)
    return {tuple(g[k] for k in rep.key_columns): tuple(g[m] for m in MEASURES) for g in rep.groups}


def minus(after: dict[Any, Any], before: dict[Any, Any]) -> dict[Any, Any]:
    zero = (0,) * len(MEASURES)
    keys = after.keys() | before.keys()
    diff = {
        k: tuple(a - b for a, b in zip(after.get(k, zero), before.get(k, zero), strict=True))
        for k in keys
    }
    return {k: v for k, v in diff.items() if any(v)}


@pytest.mark.parametrize("dim", list(DIMENSIONS))
def test_report_equals_an_independent_query_over_the_base_tables(
    dim: str, seeded: None, window, read_engine: Engine, engine: Engine
) -> None:
    start, end = window.date_from, window.date_to
    got = report(read_engine, dim, start, end)
    assert got == base_report(engine, dim, start, end)
    assert sum(v[0] for v in got.values()) == 3  # the cancelled visits are not there


def test_an_http_settle_cancel_resettle_changes_report_and_base_tables_alike(
    client: TestClient, read_engine: Engine, engine: Engine
) -> None:
    """Today's rows are shared with other tests, so compare what this visit changes."""
    today = dt.date.today()
    before = {
        d: (report(read_engine, d, today, today), base_report(engine, d, today, today))
        for d in DIMENSIONS
    }
    settle_cancel_resettle_over_http(client)
    for d in DIMENSIONS:
        rep_delta = minus(report(read_engine, d, today, today), before[d][0])
        base_delta = minus(base_report(engine, d, today, today), before[d][1])
        assert rep_delta == base_delta, d
        assert sum(v[0] for v in rep_delta.values()) == 1, d  # one visit stands, once


def test_the_totals_and_the_trend_equal_the_base_tables_too(
    seeded: None, window, read_engine: Engine, engine: Engine
) -> None:
    start, end = window.date_from, window.date_to
    rep = cost_report(read_engine, start, end, ["visit_kind"], trend=True, top_items=False)
    months = base_report(engine, "month", start, end)
    assert rep.trend is not None
    assert {(t["month"],): tuple(t[m] for m in MEASURES) for t in rep.trend} == months
    for i, m in enumerate(MEASURES):
        if m != "persons":  # not additive over groups
            assert rep.totals[m] == sum(v[i] for v in months.values()), m


TOP_SQL = """
SELECT {dims}, fd.item_code, SUM(fd.det_item_fee_sumamt) AS amount, SUM(fd.cnt) AS qty
FROM settlement s
JOIN fee_detail fd ON fd.setl_id = s.setl_id AND fd.fee_status = 'settled'
JOIN visit v ON v.mdtrt_id = s.mdtrt_id
JOIN insured_person p ON p.psn_no = s.psn_no
JOIN (SELECT s2.setl_id,
             TIMESTAMPDIFF(YEAR, p2.brdy, DATE(v2.begntime)) AS age
      FROM settlement s2 JOIN visit v2 ON v2.mdtrt_id = s2.mdtrt_id
      JOIN insured_person p2 ON p2.psn_no = s2.psn_no) a ON a.setl_id = s.setl_id
LEFT JOIN institution i ON i.fixmedins_code = s.fixmedins_code
LEFT JOIN diagnosis d ON d.diag_code = v.main_diag_code
WHERE s.setl_type = 'normal' AND s.setl_status = 'settled'
  AND s.setl_time >= :from AND s.setl_time < :to
GROUP BY {dims}, fd.item_code
"""


def base_top_items(engine: Engine, dim: str, start: dt.date, end: dt.date) -> dict[Any, Any]:
    """Top 10 items per group from the settled fee lines of the standing settlements."""
    sql = TOP_SQL.format(dims=", ".join(BASE[dim]))
    params = {"from": start, "to": end + dt.timedelta(days=1)}
    with engine.connect() as conn:
        rows = conn.execute(text(sql), params).all()
    n = len(BASE[dim])
    groups: dict[Any, list[tuple[str, Decimal, Decimal]]] = {}
    for r in rows:
        groups.setdefault(tuple(r)[:n], []).append((r.item_code, Decimal(r.amount), r.qty))
    return {
        k: [(c, a, q) for c, a, q in sorted(v, key=lambda t: (-t[1], t[0]))[:10]]
        for k, v in groups.items()
    }


def top_items(read_engine: Engine, dim: str, start: dt.date, end: dt.date) -> dict[Any, Any]:
    rep = cost_report(read_engine, start, end, [dim], top_items=True)
    return {
        tuple(g[k] for k in rep.key_columns): [
            (t["item_code"], t["amount"], t["qty"]) for t in g["top_items"]
        ]
        for g in rep.groups
    }


@pytest.mark.parametrize("dim", list(DIMENSIONS))
def test_top_items_equal_an_independent_query_over_the_fee_lines(
    dim: str, seeded: None, window, read_engine: Engine, engine: Engine
) -> None:
    start, end = window.date_from, window.date_to
    assert top_items(read_engine, dim, start, end) == base_top_items(engine, dim, start, end)


ITEM_SQL = """
SELECT {dims}, f.item_code, SUM(f.det_item_fee_sumamt) AS amount, SUM(f.cnt) AS qty
FROM setl_item_fact f
WHERE f.setl_time >= :from AND f.setl_time < :to
GROUP BY {dims}, f.item_code
"""


def item_sums(engine: Engine, dim: str, day: dt.date, *, base: bool) -> dict[Any, Any]:
    """Every item's sums per group of one day, from the item facts or from the fee lines."""
    n = len(DIMENSIONS[dim])
    if base:
        sql = TOP_SQL.format(dims=", ".join(BASE[dim][:n]))
    else:
        sql = ITEM_SQL.format(dims=", ".join(expr for _, expr in DIMENSIONS[dim]))
    params = {"from": day, "to": day + dt.timedelta(days=1)}
    with engine.connect() as conn:
        rows = conn.execute(text(sql), params).all()
    return {tuple(r)[: n + 1]: (Decimal(r.amount), Decimal(r.qty)) for r in rows}


def test_an_http_settle_cancel_resettle_changes_item_facts_and_fee_lines_alike(
    client: TestClient, engine: Engine
) -> None:
    """Today's rows are shared with other tests (some break the base tables on purpose),
    so compare what this visit changes: per group and item, amount and quantity."""
    today = dt.date.today()
    before = {
        d: (item_sums(engine, d, today, base=False), item_sums(engine, d, today, base=True))
        for d in DIMENSIONS
    }
    settle_cancel_resettle_over_http(client)
    for d in DIMENSIONS:
        facts_delta = minus_sums(item_sums(engine, d, today, base=False), before[d][0])
        lines_delta = minus_sums(item_sums(engine, d, today, base=True), before[d][1])
        assert facts_delta == lines_delta, d
        # the second settlement stands: its three items, drug 80.00, material 300.00, 90.00
        assert sorted(v[0] for v in facts_delta.values()) == [
            Decimal("80.00"),
            Decimal("90.00"),
            Decimal("300.00"),
        ], d


def minus_sums(after: dict[Any, Any], before: dict[Any, Any]) -> dict[Any, Any]:
    zero = (Decimal(0), Decimal(0))
    diff = {
        k: tuple(a - b for a, b in zip(after.get(k, zero), before.get(k, zero), strict=True))
        for k in after.keys() | before.keys()
    }
    return {k: v for k, v in diff.items() if any(v)}
