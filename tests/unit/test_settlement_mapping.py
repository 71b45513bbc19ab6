"""The settlement answer is built once without a validation pass (mapping.settlement_out
uses model_construct): it must be exactly the answer a validated model gives, in JSON (the
API and the idempotency record) and as Python values; and the yearly fund figures summed in
Python from the accumulator rows are the sums the database used to compute."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from medhtap.services.settlement import funds
from medhtap.services.settlement.mapping import Computed, settlement_out
from medhtap.services.settlement.schemas import SettlementOut

from .test_fund_settlement import kwargs_st, lines_st, settle

VISIT = SimpleNamespace(mdtrt_id="V1", fixmedins_code="H11010000001", med_type="11")
PERSON = SimpleNamespace(psn_no="P1", insutype="310")
money = st.decimals(min_value=D("0"), max_value=D("300000"), places=2)


@given(prices=lines_st, kwargs=kwargs_st, settled=st.booleans())
def test_the_constructed_answer_equals_the_validated_one(
    prices: list[tuple[str, D]], kwargs: dict[str, object], settled: bool
) -> None:
    result, split = settle(prices, **kwargs)  # type: ignore[arg-type]
    c = Computed(result, split, policy_id=7, hosp_lv=3, year=2026, accumulator_exists=True)
    out = settlement_out(
        VISIT,
        PERSON,
        c,
        setl_id="S1" if settled else None,
        setl_time=dt.datetime(2026, 6, 1, 9, 30, 0, 123456) if settled else None,
        balance_after=D("12.30"),
    )
    validated = SettlementOut.model_validate(out.model_dump())
    assert out.model_dump(mode="json") == validated.model_dump(mode="json")
    assert out.model_dump() == validated.model_dump()
    assert out.model_dump_json() == validated.model_dump_json()


@given(st.lists(st.tuples(money, money, money), max_size=2))
def test_fund_year_sums_every_row_of_the_year(rows: list[tuple[D, D, D]]) -> None:
    accs = [
        SimpleNamespace(inscp_selfpay=a, secondary_paid=b, assistance_paid=c) for a, b, c in rows
    ]
    year = funds.fund_year(accs)
    assert year == funds.FundYear(
        sum((r[0] for r in rows), D("0.00")),
        sum((r[1] for r in rows), D("0.00")),
        sum((r[2] for r in rows), D("0.00")),
    )
