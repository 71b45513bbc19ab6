"""The per-process reference cache (services/settlement/reference.py): a benefit policy
added while the service runs counts once the cache is cleared or its TTL has passed, and
with the cache off (TTL 0) at the very next settlement."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import insert

from medhtap.schema.reference import Policy
from medhtap.services.settlement import reference

from .conftest import ADMIN, EXAMPLE_LINES, Factory, certno


@pytest.fixture
def region_person(factory: Factory) -> Iterator[tuple[str, str]]:
    """An employee of a region of their own, which has no policy yet (the default region's
    policy applies), and that region's code."""
    admdvs = f"98{random.randrange(10_000):04d}"
    r = factory.client.post(
        "/v1/persons",
        headers=ADMIN,
        json={
            "certno": certno(),
            "psn_name": "Cache Test",
            "gend": "1",
            "brdy": "1980-05-05",
            "insutype": "310",
            "admdvs": admdvs,
            "acct_balc": "0.00",
        },
    )
    assert r.status_code == 201, r.text
    yield r.json()["psn_no"], admdvs
    reference.clear()


def add_region_policy(factory: Factory, admdvs: str) -> int:
    """The region's own outpatient policy at level 3: the fund pays 55 %, from today."""
    with factory.engine.begin() as conn:
        result = conn.execute(
            insert(Policy.__table__).values(
                admdvs=admdvs,
                insutype="310",
                med_type="outpatient",
                hosp_lv=3,
                dedc_amt=Decimal("0.00"),
                dedc_scope="year",
                pool_prop=Decimal("0.5500"),
                annual_cap=Decimal("100000.00"),
                begndate=dt.date.today() - dt.timedelta(days=1),
                enddate=None,
            )
        )
        return int(result.inserted_primary_key[0])


def settle_one(factory: Factory, psn_no: str) -> dict[str, str]:
    mdtrt_id = factory.visit(psn_no)
    factory.fees(mdtrt_id, EXAMPLE_LINES)
    r = factory.settle(mdtrt_id, use_account=False)
    assert r.status_code == 200, r.text
    return dict(r.json())


class TestAPolicyAddedWhileTheServiceRuns:
    def test_counts_after_the_cache_is_cleared(
        self, factory: Factory, region_person: tuple[str, str]
    ) -> None:
        psn_no, admdvs = region_person
        before = settle_one(factory, psn_no)
        new_id = add_region_policy(factory, admdvs)
        reference.clear()
        after = settle_one(factory, psn_no)
        assert before["policy_id"] != new_id
        assert after["policy_id"] == new_id
        assert after["pool_prop_selfpay"] == "0.5500"

    def test_counts_at_once_with_the_cache_off(
        self, factory: Factory, region_person: tuple[str, str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(reference.CACHE, "_ttl_s", 0.0)
        psn_no, admdvs = region_person
        settle_one(factory, psn_no)
        new_id = add_region_policy(factory, admdvs)
        assert settle_one(factory, psn_no)["policy_id"] == new_id

    def test_within_the_ttl_the_cached_policy_is_used(
        self, factory: Factory, region_person: tuple[str, str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The documented trade: within the TTL a settlement may still use the policy read
        before the change (a TTL of an hour makes "within" certain here)."""
        monkeypatch.setattr(reference.CACHE, "_ttl_s", 3600.0)
        psn_no, admdvs = region_person
        before = settle_one(factory, psn_no)
        add_region_policy(factory, admdvs)
        assert settle_one(factory, psn_no)["policy_id"] == before["policy_id"]
