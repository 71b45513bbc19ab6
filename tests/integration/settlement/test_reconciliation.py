"""3201 totals and 3202 detail reconciliation against the platform's settlement rows."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from typing import Any

from .conftest import EXAMPLE_LINES, HIS, RECON, Factory


def settled_day(factory: Factory) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Two settlements and the cancel of the first, all today at RECON."""
    out = []
    for balance in ("500.00", "100.00"):
        visit = factory.visit(factory.person("310", balance), RECON)
        factory.fees(visit, EXAMPLE_LINES)
        out.append(factory.settle(visit).json())
    rev = factory.client.post(
        f"/v1/settlements/{out[0]['setl_id']}/cancel",
        headers={**HIS, "Idempotency-Key": "rc-" + out[0]["setl_id"]},
    )
    assert rev.status_code == 200
    return out, rev.json()


def test_totals_and_detail_match_then_mismatch(factory: Factory) -> None:
    rows, rev = settled_day(factory)
    everything = [*rows, rev]
    today = dt.date.today().isoformat()

    def total(field: str) -> str:
        return str(sum(D(r[field]) for r in everything))

    body = {
        "fixmedins_code": RECON,
        "stmt_date": today,
        "setl_cnt": 3,
        "medfee_sumamt": total("medfee_sumamt"),
        "hifp_pay": total("hifp_pay"),
        "acct_pay": total("acct_pay"),
    }
    r = factory.client.post("/v1/reconciliation", headers=HIS, json=body)
    assert r.status_code == 200, r.text
    assert r.json()["result"] == "match"
    # the cancelled settlement nets out: what remains is the second settlement
    assert r.json()["platform"] == {
        "setl_cnt": 3,
        "medfee_sumamt": "441.00",
        "hifp_pay": rows[1]["hifp_pay"],
        "acct_pay": rows[1]["acct_pay"],
        "fund_pay_sumamt": rows[1]["fund_pay_sumamt"],
        "hifob_pay": "0.00",
        "hifmi_pay": "0.00",
        "maf_pay": "0.00",
    }

    r = factory.client.post(
        "/v1/reconciliation", headers=HIS, json={**body, "acct_pay": "0.01", "setl_cnt": 2}
    )
    assert r.json()["result"] == "mismatch"
    assert factory.rows(
        "SELECT result, ins_setl_cnt, plt_setl_cnt FROM reconciliation "
        "WHERE fixmedins_code=:f ORDER BY id",
        f=RECON,
    )[-2:] == [("match", 3, 3), ("mismatch", 2, 3)]

    items = [
        {
            "setl_id": x["setl_id"],
            "medfee_sumamt": x["medfee_sumamt"],
            "hifp_pay": x["hifp_pay"],
            "acct_pay": x["acct_pay"],
        }
        for x in everything
    ]
    detail = {"fixmedins_code": RECON, "stmt_date": today, "items": items}
    r = factory.client.post("/v1/reconciliation/detail", headers=HIS, json=detail)
    assert r.status_code == 200, r.text
    assert r.json()["result"] == "match" and r.json()["platform_cnt"] == 3

    wrong = [
        {**items[0], "acct_pay": "1.00"},
        items[1],
        {"setl_id": "not-ours", "medfee_sumamt": "1", "hifp_pay": "0", "acct_pay": "0"},
    ]
    r = factory.client.post(
        "/v1/reconciliation/detail", headers=HIS, json={**detail, "items": wrong}
    )
    got = r.json()
    assert got["result"] == "mismatch"
    assert got["missing_on_platform"] == ["not-ours"]
    assert got["missing_at_institution"] == [rev["setl_id"]]
    assert [d["setl_id"] for d in got["differing"]] == [items[0]["setl_id"]]
    assert got["differing"][0]["platform"]["acct_pay"] == items[0]["acct_pay"]


def test_unknown_institution_and_bad_figures(factory: Factory) -> None:
    body = {
        "fixmedins_code": "NOPE",
        "stmt_date": "2026-01-01",
        "setl_cnt": 0,
        "medfee_sumamt": "0",
        "hifp_pay": "0",
        "acct_pay": "0",
    }
    r = factory.client.post("/v1/reconciliation", headers=HIS, json=body)
    assert r.status_code == 422 and r.json()["error"]["code"] == "UNKNOWN_INSTITUTION"
    r = factory.client.post(
        "/v1/reconciliation", headers=HIS, json={**body, "fixmedins_code": RECON, "setl_cnt": -1}
    )
    assert r.status_code == 422
    r = factory.client.post(
        "/v1/reconciliation",
        headers=HIS,
        json={**body, "fixmedins_code": RECON, "hifp_pay": "0.001"},
    )
    assert r.status_code == 422


def test_a_day_without_settlements_matches_zeros(factory: Factory) -> None:
    body = {
        "fixmedins_code": RECON,
        "stmt_date": "2021-02-03",
        "setl_cnt": 0,
        "medfee_sumamt": "0",
        "hifp_pay": "0.00",
        "acct_pay": 0,
    }
    r = factory.client.post("/v1/reconciliation", headers=HIS, json=body)
    assert r.json()["result"] == "match"
