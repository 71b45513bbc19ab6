"""Fund risk-control rules: each with data that must fire it and data that must not."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from medhtap.analytics import risk

MANAGER = {"X-API-Key": "dev-manager-key"}
ANALYST = {"X-API-Key": "dev-analyst-key"}
H1, H2, H3, H4 = "H11010000001", "H11010000002", "H11010500003", "H11010800004"


def run(read_engine: Engine, engine: Engine, window, rule: str) -> list[risk.Finding]:
    out = risk.run_rules(read_engine, engine, window.date_from, window.date_to, [rule])
    assert out.rules[0].engine in ("tikv", "tiflash", "mpp")
    return out.findings


def psns(findings: list[risk.Finding]) -> set[str | None]:
    return {f.psn_no for f in findings}


class TestDuplicateCharge:
    def test_fires_beyond_max_quantity_per_day_and_on_identical_lines(
        self, read_engine: Engine, engine: Engine, factory, window
    ) -> None:
        over = factory.person()  # amoxicillin: catalog allows 4 per day; 3 + 3 charged
        factory.visit(over, begntime=window.at(3, 9), lines=[("XA01BAA001", 3, "10.00")])
        factory.visit(over, begntime=window.at(3, 15), lines=[("XA01BAA001", 3, "10.00")])
        twice = factory.person()  # the very same line twice in one visit
        factory.visit(
            twice,
            begntime=window.at(4),
            lines=[("XA10BAA003", 1, "30.00"), ("XA10BAA003", 1, "30.00")],
        )
        within = factory.person()  # 2 + 2 = the daily maximum, different lines: fine
        factory.visit(within, begntime=window.at(5, 9), lines=[("XA01BAA001", 2, "10.00")])
        factory.visit(within, begntime=window.at(5, 15), lines=[("XA01BAA001", 2, "12.00")])
        other_day = factory.person()  # 3 today, 3 tomorrow: fine
        factory.visit(other_day, begntime=window.at(6), lines=[("XA01BAA001", 3, "10.00")])
        factory.visit(other_day, begntime=window.at(7), lines=[("XA01BAA001", 3, "10.00")])

        found = run(read_engine, engine, window, "duplicate_charge")
        assert psns(found) == {over, twice}
        qty = next(f for f in found if f.psn_no == over)
        assert qty.dedupe_key.startswith("qty:") and qty.score == 1.5
        assert len(qty.evidence) == 2
        line = next(f for f in found if f.psn_no == twice)
        assert line.dedupe_key.startswith("line:") and line.score == 2


class TestSplitAdmission:
    def test_fires_on_readmission_within_15_days_same_institution_and_chapter(
        self, read_engine: Engine, engine: Engine, factory, window
    ) -> None:
        split = factory.person()
        factory.visit(
            split, med_type="inpatient", begntime=window.at(1), endtime=window.at(5), diag="E11.9"
        )
        factory.visit(
            split, med_type="inpatient", begntime=window.at(12), endtime=window.at(15), diag="E14.9"
        )  # 7 days later, chapter IV again
        late = factory.person()  # 20 days after discharge
        factory.visit(late, med_type="inpatient", begntime=window.at(1), endtime=window.at(3))
        factory.visit(late, med_type="inpatient", begntime=window.at(23), endtime=window.at(25))
        other_chapter = factory.person()  # pneumonia (X) after diabetes (IV)
        factory.visit(
            other_chapter,
            med_type="inpatient",
            begntime=window.at(1),
            endtime=window.at(4),
            diag="E11.9",
        )
        factory.visit(
            other_chapter,
            med_type="inpatient",
            begntime=window.at(8),
            endtime=window.at(10),
            diag="J18.9",
        )
        other_place = factory.person()
        factory.visit(
            other_place,
            med_type="inpatient",
            begntime=window.at(1),
            endtime=window.at(4),
            fixmedins_code=H1,
        )
        factory.visit(
            other_place,
            med_type="inpatient",
            begntime=window.at(8),
            endtime=window.at(10),
            fixmedins_code=H2,
        )

        found = run(read_engine, engine, window, "split_admission")
        assert psns(found) == {split}
        assert found[0].score == 15 - 7 and "7 days" in found[0].summary


class TestOverlappingCare:
    def test_fires_on_outpatient_elsewhere_during_an_open_stay(
        self, read_engine: Engine, engine: Engine, factory, window
    ) -> None:
        both = factory.person()
        factory.visit(
            both,
            med_type="inpatient",
            begntime=window.at(2),
            endtime=window.at(10),
            fixmedins_code=H1,
        )
        out = factory.visit(both, begntime=window.at(5), fixmedins_code=H2)
        open_stay = factory.person()  # admitted, not discharged, not settled yet
        factory.visit(
            open_stay,
            med_type="inpatient",
            begntime=window.at(2),
            settle=False,
            discharged=False,
            fixmedins_code=H1,
        )
        out2 = factory.visit(open_stay, begntime=window.at(6), fixmedins_code=H3)
        same_place = factory.person()  # a consultation in the same hospital: not this rule
        factory.visit(
            same_place,
            med_type="inpatient",
            begntime=window.at(2),
            endtime=window.at(10),
            fixmedins_code=H1,
        )
        factory.visit(same_place, begntime=window.at(5), fixmedins_code=H1)
        after = factory.person()  # outpatient after discharge
        factory.visit(
            after,
            med_type="inpatient",
            begntime=window.at(2),
            endtime=window.at(4),
            fixmedins_code=H1,
        )
        factory.visit(after, begntime=window.at(12), fixmedins_code=H2)

        found = run(read_engine, engine, window, "overlapping_care")
        assert psns(found) == {both, open_stay}
        assert {f.mdtrt_id for f in found} == {out.mdtrt_id, out2.mdtrt_id}


class TestHighFrequencyOutpatient:
    def test_fires_above_the_policy_threshold_of_8_visits_in_30_days(
        self, read_engine: Engine, engine: Engine, factory, window
    ) -> None:
        frequent, eight = factory.person(), factory.person()
        for day in range(1, 10):  # 9 visits
            factory.visit(frequent, begntime=window.at(day), fixmedins_code=H4)
        for day in range(1, 9):  # 8 visits: at the threshold, not above it
            factory.visit(eight, begntime=window.at(day), fixmedins_code=H4)
        # a cancelled visit does not count
        factory.visit(eight, begntime=window.at(10), fixmedins_code=H4, cancel=True)

        found = run(read_engine, engine, window, "high_freq_outpatient")
        assert psns(found) == {frequent}
        assert found[0].score == 9 and len(found[0].evidence) == 9


class TestCostOutlier:
    def test_fires_above_the_99th_percentile_of_a_large_enough_group(
        self, read_engine: Engine, engine: Engine, factory, window
    ) -> None:
        people = [factory.person() for _ in range(3)]
        for n in range(30):  # appendicitis block K35-K38, outpatient: 30 ordinary visits
            factory.visit(
                people[n % 3],
                begntime=window.at(1 + n % 27),
                diag="K35.8",
                lines=[("S110200001", 1, "40.00")],
            )
        costly = factory.person()
        hit = factory.visit(
            costly, begntime=window.at(20), diag="K35.8", lines=[("S210300001", 2, "900.00")]
        )
        for n in range(31):  # another block, all the same cost: no outlier among equals
            factory.visit(
                people[n % 3],
                begntime=window.at(1 + n % 27),
                diag="J06.9",
                lines=[("S110200001", 1, "40.00")],
            )
        small = factory.person()  # a group of 3 is not judged
        for n in range(2):
            factory.visit(
                small, begntime=window.at(2 + n), diag="M54.5", lines=[("S110200001", 1, "40.00")]
            )
        factory.visit(
            small, begntime=window.at(9), diag="M54.5", lines=[("S210300001", 2, "900.00")]
        )

        found = run(read_engine, engine, window, "cost_outlier")
        assert [f.mdtrt_id for f in found] == [hit.mdtrt_id]
        assert found[0].score > 10


class TestRestrictedItems:
    def test_fires_when_an_institution_keeps_billing_refused_restricted_items(
        self, read_engine: Engine, engine: Engine, factory, window
    ) -> None:
        man, woman = factory.person(gend="1"), factory.person(gend="2")
        for n in range(10):  # progesterone is for women: billed to a man, refused each time
            factory.visit(
                man,
                begntime=window.at(1 + n),
                fixmedins_code=H3,
                gend="1",
                lines=[("XG03DAA010", 1, "25.00")],
            )
        for n in range(10):  # prescribed to women: accepted
            factory.visit(
                woman,
                begntime=window.at(1 + n),
                fixmedins_code=H4,
                gend="2",
                lines=[("XG03DAA010", 1, "25.00")],
            )
        for n in range(4):  # refused, but only 4 restricted lines at this institution
            factory.visit(
                man,
                begntime=window.at(12 + n),
                fixmedins_code=H2,
                gend="1",
                lines=[("XG03DAA010", 1, "25.00")],
            )

        found = run(read_engine, engine, window, "restricted_items")
        assert [f.fixmedins_code for f in found] == [H3]
        assert found[0].score == 1 and found[0].psn_no is None
        assert found[0].evidence[0]["self_paid_lines"] == 10


class TestAlertsApi:
    def test_run_stores_alerts_once_and_lists_them_with_evidence(
        self, client: TestClient, engine: Engine, factory, window
    ) -> None:
        p = factory.person()
        factory.visit(p, begntime=window.at(3, 9), lines=[("XA01BAA001", 5, "10.00")])
        body = {
            "from": str(window.date_from),
            "to": str(window.date_to),
            "rules": ["duplicate_charge"],
        }
        first = client.post("/v1/risk/run", headers=MANAGER, json=body)
        assert first.status_code == 200, first.text
        assert first.json()["new_alerts"] == 1 and first.json()["engine"] in (
            "tikv",
            "tiflash",
            "mpp",
        )
        again = client.post("/v1/risk/run", headers=MANAGER, json=body)
        assert again.json()["findings"] == 1 and again.json()["new_alerts"] == 0
        with engine.connect() as conn:
            n = conn.execute(
                text("SELECT COUNT(*) FROM risk_alert WHERE psn_no = :p"), {"p": p}
            ).scalar()
        assert n == 1

        listed = client.get(f"/v1/risk/alerts?psn_no={p}", headers=ANALYST)
        assert listed.status_code == 200
        alert = listed.json()["alerts"][0]
        assert alert["rule_code"] == "duplicate_charge" and alert["alert_status"] == "open"
        assert alert["evidence"][0]["cnt"] == 5
        assert listed.json()["engine"] in ("tikv", "tiflash", "mpp")

    def test_analysts_read_alerts_but_may_not_run_rules(self, client: TestClient) -> None:
        r = client.post("/v1/risk/run", headers=ANALYST, json={})
        assert r.status_code == 403

    def test_unknown_rule_is_refused(self, client: TestClient) -> None:
        r = client.post("/v1/risk/run", headers=MANAGER, json={"rules": ["astrology"]})
        assert r.status_code == 422

    def test_default_window_is_the_last_90_days(self) -> None:
        start, end = risk.default_window(None, dt.date(2026, 3, 31))
        assert (end - start).days == 90
