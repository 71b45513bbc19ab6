"""HTAP interference and alert latency for bench/analytics_bench.py (issue 12).

Settlement is the service's settle() in-process from N threads on pre-built open visits
(4 fee lines each). It runs alone, then beside one of two analytic loads:
- analysts: 4 simulated analysts, each sending one query from a fixed mix every 2 s (the
  cost report over a year by a rotating group_by, over a month with its top items, ad-hoc
  SQL through the analyst SQL path, the alert list);
- loop: the cost report (a year, by institution) in a tight loop on two threads.
Under both, the API's worker runs as in the API process: risk rules and rollup folds every
2 s.
Each load reports settlement tps and p99 against "alone", measured in the same run.
With `api` (analytics_bench.py --analysts-via-api) the analysts and the loop are HTTP
clients of the API in its own uvicorn process, started after "alone": its admission control
(MEDHTAP_ANALYST_MAX_CONCURRENT, queue, 429) and its own worker (risk watcher and rollup
folds, MEDHTAP_RISK_WATCH_S) are what they meet, as a real analyst would. Before the
loads, each request of the mixes is sent once, untimed (`_warm_up`).

Alert latency: with the watcher running (interval 1 s), one visit billed the same line
twice is settled; the time until the duplicate-charge alert is listed is measured.
"""

from __future__ import annotations

import datetime as dt
import http.client
import itertools
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pymysql
from apiserver import call
from sqlalchemy import Engine

from medhtap.analytics import reports, risk, rollup
from medhtap.analytics.analyst_sql import run_analyst_sql
from medhtap.analytics.watch import RiskWatcher, watch_once
from medhtap.services.auth import Principal
from medhtap.services.settlement import rules, settling
from medhtap.services.settlement.schemas import SettleIn
from medhtap.services.settlement.units import Caller

PERSONS = 2000
INST = "H11010000001"
LINES = [
    ("XA01BAA001", "2", "35.50"),
    ("XC10AAA005", "1", "120.00"),
    ("S210300001", "1", "200.00"),
    ("XR06AEA012", "1", "50.00"),
]
# The ad-hoc part of the analysts' mix: questions an analyst types, over the analyst views.
AD_HOC = [
    "SELECT fixmedins_code, SUM(medfee_sumamt) FROM v_setl_fact "
    "WHERE setl_time >= NOW() - INTERVAL 30 DAY GROUP BY fixmedins_code",
    "SELECT diag_chapter, COUNT(*), AVG(medfee_sumamt) FROM v_setl_fact "
    "WHERE setl_time >= NOW() - INTERVAL 7 DAY GROUP BY diag_chapter",
    "SELECT age_band, gend, SUM(drug_amt) / SUM(medfee_sumamt) FROM v_setl_fact "
    "WHERE setl_time >= NOW() - INTERVAL 90 DAY GROUP BY age_band, gend",
]
GROUP_BYS = [["institution"], ["month", "visit_kind"], ["diagnosis"], ["age_band", "gender"]]


@dataclass
class Load:
    tps: float
    p50_ms: float
    p99_ms: float
    errors: int


def make_open_visits(conn: pymysql.connections.Connection[Any], n: int) -> list[str]:
    """n open visits of the bench persons with four fee lines each (not timed)."""
    from medhtap.services.settlement.identity import make_certno

    now = dt.datetime.now().replace(microsecond=0)
    ids = [uuid.uuid4().hex for _ in range(n)]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT IGNORE INTO insured_person (psn_no, certno, psn_name, gend, brdy, insutype, "
            "admdvs, acct_balc, psn_status) VALUES (%s,%s,'Bench','1','1980-01-01','310',"
            "'110100',1000000,'active')",
            [
                (f"BENCH{i:06d}", make_certno(dt.date(1980, 1, 1), "1", 980_000 + i))
                for i in range(PERSONS)
            ],
        )
        # a bench person whose certno a loaded person already holds was not inserted
        # (INSERT IGNORE, and make_certno repeats past its capacity): visit only the others
        cur.execute("SELECT psn_no FROM insured_person WHERE psn_no LIKE 'BENCH%'")
        persons = sorted(r[0] for r in cur.fetchall())
        for i in range(0, n, 1000):
            chunk = ids[i : i + 1000]
            cur.executemany(
                "INSERT INTO visit (mdtrt_id, psn_no, fixmedins_code, med_type, dept_name, "
                "begntime, main_diag_code, vis_status) VALUES (%s,%s,%s,"
                "'outpatient','GP',%s,'E11.9','open')",
                [(v, persons[hash(v) % len(persons)], INST, now) for v in chunk],
            )
            cur.executemany(
                "INSERT INTO fee_detail (mdtrt_id, feedetl_sn, item_code, cnt, pric, "
                "det_item_fee_sumamt, fee_ocur_time, fee_status, fulamt_ownpay_amt, "
                "overlmt_selfpay, preselfpay_amt, inscp_scp_amt) "
                "VALUES (%s,%s,%s,%s,%s,%s,%s,'active',0,0,0,0)",
                [
                    (v, f"L{j}", c, q, p, rules.line_amount(Decimal(q), Decimal(p)), now)
                    for v in chunk
                    for j, (c, q, p) in enumerate(LINES)
                ],
            )
            conn.commit()
    return ids


def settle_load(engine: Engine, visits: list[str], clients: int, seconds: float) -> Load:
    caller, body = Caller(Principal("his")), SettleIn(use_account=True)
    lock, lat, errors = threading.Lock(), [], [0]
    stop = time.perf_counter() + seconds

    def loop() -> None:
        while time.perf_counter() < stop:
            with lock:
                if not visits:
                    return
                v = visits.pop()
            t = time.perf_counter()
            try:
                settling.settle(engine, caller, v, uuid.uuid4().hex, body)
            except Exception as exc:
                with lock:
                    errors[0] += 1
                    if errors[0] == 1:
                        print(f"  settle error: {exc!r}", file=sys.stderr)
                continue
            with lock:
                lat.append(time.perf_counter() - t)

    began = time.perf_counter()
    threads = [threading.Thread(target=loop) for _ in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - began
    lat.sort()
    if not lat:
        return Load(0.0, float("nan"), float("nan"), errors[0])
    pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000  # noqa: E731
    return Load(len(lat) / elapsed, pct(0.5), pct(0.99), errors[0])


def _analyst(ro: Engine, write: Engine, n: int, counts: dict[str, int]) -> Callable[[], None]:
    """The n-th analyst's next query, from the fixed mix: as GET /v1/reports/cost asks
    (a grouping without a rollup is registered for the worker), a year by one grouping, a
    month by another with its top items, ad-hoc SQL, the alert list."""
    to = dt.date.today()

    def report(days: int, dims: list[str], top: bool) -> None:
        reports.cost_report(
            ro,
            to - dt.timedelta(days=days),
            to,
            dims,
            top_items=top,
            on_missing_rollup=lambda d: rollup.register(write, d),
        )

    mix = itertools.cycle(
        [
            lambda: report(365, GROUP_BYS[n % 4], False),
            lambda: run_analyst_sql(ro, AD_HOC[n % len(AD_HOC)], max_rows=1000),
            lambda: risk.list_alerts(ro, limit=50),
            lambda: report(30, GROUP_BYS[(n + 1) % 4], True),
        ]
    )

    def one() -> None:
        next(mix)()
        counts["queries"] += 1

    return one


ANALYST_KEY = "dev-analyst-key"


def _report_path(days: int, dims: list[str], top: bool) -> str:
    to = dt.date.today()
    frm = to - dt.timedelta(days=days)
    return (
        f"/v1/reports/cost?from={frm}&to={to}&group_by={','.join(dims)}"
        f"&top_items={str(top).lower()}"
    )


def _http_query(
    port: int, requests: list[tuple[str, str, Any]], counts: dict[str, int]
) -> Callable[[], None]:
    """The next request of `requests` (cycled) on one kept-alive connection; a 429 (the
    API's admission queue full or its wait over) is counted as refused, not as an error."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    mix = itertools.cycle(requests)

    def one() -> None:
        method, path, body = next(mix)
        status, data = call(conn, method, path, ANALYST_KEY, body)
        if status == 429:
            counts["refused"] += 1
            return
        if status != 200:
            raise RuntimeError(f"HTTP {status}: {data[:160]!r}")
        counts["queries"] += 1

    return one


def _api_analyst(port: int, n: int, counts: dict[str, int]) -> Callable[[], None]:
    """The same mix as `_analyst`, as HTTP requests to the API."""
    return _http_query(
        port,
        [
            ("GET", _report_path(365, GROUP_BYS[n % 4], False), None),
            ("POST", "/v1/sql", {"sql": AD_HOC[n % len(AD_HOC)], "max_rows": 1000}),
            ("GET", "/v1/risk/alerts?limit=50", None),
            ("GET", _report_path(30, GROUP_BYS[(n + 1) % 4], True), None),
        ],
        counts,
    )


def _warm_up(port: int) -> None:
    """Each request of the mixes once, untimed: a running API has answered them before,
    so its persons bases (analytics/persons.py) exist, as they would in its steady state.
    The in-process analysts meet the bases measure_reads left in this process."""
    counts = {"queries": 0, "refused": 0}
    for n in range(4):
        ask = _api_analyst(port, n, counts)
        for _ in range(4):
            ask()
    _http_query(port, [("GET", _report_path(365, ["institution"], False), None)], counts)()


def _background(
    stop: threading.Event, every_s: float, fn: Callable[[], None], counts: dict[str, int]
) -> threading.Thread:
    def run() -> None:
        while not stop.is_set():
            t = time.perf_counter()
            try:
                fn()
            except Exception as exc:  # e.g. MAX_EXECUTION_TIME, 429: the load was applied
                counts["interrupted"] += 1
                print(f"  analytic query: {exc!r}"[:200], file=sys.stderr)
            stop.wait(max(0.0, every_s - (time.perf_counter() - t)))

    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th


def interference(
    write: Engine,
    ro: Engine,
    visits: list[str],
    clients: int,
    seconds: float,
    reader: str,
    api: Callable[[], tuple[subprocess.Popen[bytes], int]] | None = None,
) -> dict[str, Any]:
    """alone, with the analysts' mix + watcher, with reports looping: three equal slices.
    `api`: starts the API process the analysts then call over HTTP (after "alone")."""
    third = len(visits) // 3
    out: dict[str, Any] = {"alone": settle_load(write, visits[:third], clients, seconds)}
    to = dt.date.today()
    server = api() if api else None
    if server:
        _warm_up(server[1])
    try:
        for name, slice_ in (
            ("analysts", visits[third : 2 * third]),
            ("loop", visits[2 * third :]),
        ):
            stop = threading.Event()
            counts = {"queries": 0, "interrupted": 0, "refused": 0}
            # the API's worker: rules and rollup folds every 2 s, under both loads (the API
            # process runs its own)
            watcher = None
            if server is None:
                watcher = RiskWatcher(ro, write, interval_s=2.0, reader=reader).start()
            if name == "analysts":
                threads = [
                    _background(
                        stop,
                        2.0,
                        _api_analyst(server[1], n, counts)
                        if server
                        else _analyst(ro, write, n, counts),
                        counts,
                    )
                    for n in range(4)
                ]
            else:

                def report(counts: dict[str, int] = counts) -> None:
                    reports.cost_report(
                        ro, to - dt.timedelta(days=365), to, ["institution"], top_items=False
                    )
                    counts["queries"] += 1

                looped = [("GET", _report_path(365, ["institution"], False), None)]
                threads = [
                    _background(stop, 0.0, _http_query(server[1], looped, counts), counts)
                    if server
                    else _background(stop, 0.0, report, counts)
                    for _ in range(2)
                ]
            time.sleep(1.0)  # let the analytic load get going
            out[name] = settle_load(write, slice_, clients, seconds)
            stop.set()
            if watcher:
                watcher.stop()
            for th in threads:  # a report at 1M may take long: do not wait for it to finish
                th.join(timeout=10)
            out[f"{name}_counts"] = counts
    finally:
        if server:
            server[0].terminate()
            server[0].wait(timeout=30)
    return out


def alert_latency(write: Engine, ro: Engine, conn: pymysql.connections.Connection[Any]) -> float:
    """Seconds from a settlement's commit to its duplicate-charge alert being listed."""
    (visit,) = make_open_visits(conn, 1)
    with conn.cursor() as cur:  # line L0 billed a second time, same item, time and count
        cur.execute(
            "INSERT INTO fee_detail (mdtrt_id, feedetl_sn, item_code, cnt, pric, "
            "det_item_fee_sumamt, fee_ocur_time, fee_status, fulamt_ownpay_amt, overlmt_selfpay, "
            "preselfpay_amt, inscp_scp_amt) SELECT mdtrt_id, 'L9', item_code, cnt, pric, "
            "det_item_fee_sumamt, fee_ocur_time, 'active', 0, 0, 0, 0 FROM fee_detail "
            "WHERE mdtrt_id = %s AND feedetl_sn = 'L0'",
            (visit,),
        )
        cur.execute("SELECT psn_no FROM visit WHERE mdtrt_id=%s", (visit,))
        psn_no = cur.fetchone()[0]  # type: ignore[index]
    conn.commit()
    watch_once(ro, write)  # the backlog of the load: a watermark, so the timed pass is T+0
    watcher = RiskWatcher(ro, write, interval_s=1.0).start()
    try:
        settling.settle(write, Caller(Principal("his")), visit, uuid.uuid4().hex, SettleIn())
        t = time.perf_counter()
        while time.perf_counter() - t < 300:
            listed = risk.list_alerts(ro, rule="duplicate_charge", psn_no=psn_no)["alerts"]
            if any(a.get("mdtrt_id") == visit for a in listed):
                return time.perf_counter() - t
            time.sleep(0.2)
        return float("inf")
    finally:
        watcher.stop()
