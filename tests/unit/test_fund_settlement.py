"""The fund split as the settlement applies it (no HTTP, no DB): the basic rules, then
`funds.split_funds`, then `funds.with_funds`; what the year accumulators gain and a cancel
takes back; the reversal's setldetail."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

from hypothesis import given
from hypothesis import strategies as st

from medhtap.services.settlement import funds, rules
from medhtap.services.settlement.funds import AssistanceFund, FundYear, SecondaryFund, Segment

RESIDENT_CRITICAL = SecondaryFund(
    "390200",
    "城乡居民大病医疗保险资金",
    "hifmi_pay",
    (
        Segment(D("15000"), D("50000"), D("0.60")),
        Segment(D("50000"), D("100000"), D("0.70")),
        Segment(D("100000"), None, D("0.80")),
    ),
    D("400000"),
)
EMPLOYEE_LARGE = SecondaryFund(
    "330100",
    "职工大额医疗费用补助基金",
    "hifob_pay",
    (Segment(D("5000"), None, D("0.85")),),
    D("300000"),
)
ASSISTANCE = {
    "none": None,
    "dibao": AssistanceFund("610100", "医疗救助基金", D("0.70"), D("30000")),
    "tekun": AssistanceFund("610100", "医疗救助基金", D("1.00"), D("30000")),
}
DAY = dt.date(2026, 6, 1)
money = st.decimals(min_value=D("0"), max_value=D("300000"), places=2)
price = st.decimals(min_value=D("0.01"), max_value=D("200000"), places=2)


def settle(
    prices: list[tuple[str, D]],
    *,
    employee: bool,
    category: str,
    used: rules.Used,
    year: FundYear,
    balc: D,
    use_account: bool,
) -> tuple[rules.Result, funds.Split]:
    """What services/settlement/compute.py does with the rows it loaded."""
    insutype = "310" if employee else "390"
    person = rules.Person(insutype, "1", dt.date(1970, 1, 1), balc)
    benefit = rules.Benefit(D("500.00"), "admission", D("0.75"), D("250000.00"))
    lines = [
        rules.Line(str(i), rules.Item(f"I{i}", lv), D("1"), p) for i, (lv, p) in enumerate(prices)
    ]
    basic = rules.settle(lines, person, DAY, benefit, used, use_account=use_account)
    split = funds.split_funds(
        insutype=insutype,
        medfee_sumamt=basic.medfee_sumamt,
        inscp_scp_amt=basic.inscp_scp_amt,
        hifp_pay=basic.hifp_pay,
        hifp_cap_left=rules.hifp_cap_left(benefit, used),
        year=year,
        secondary=EMPLOYEE_LARGE if employee else RESIDENT_CRITICAL,
        assistance=ASSISTANCE[category],
        acct_balc=balc,
        use_account=use_account,
    )
    return funds.with_funds(basic, split), split


lines_st = st.lists(st.tuples(st.sampled_from("ABC"), price), min_size=1, max_size=4)
kwargs_st = st.fixed_dictionaries(
    {
        "employee": st.booleans(),
        "category": st.sampled_from(sorted(ASSISTANCE)),
        "used": st.builds(rules.Used, money, money),
        "year": st.builds(
            FundYear, money, money, st.decimals(min_value=0, max_value=40000, places=2)
        ),
        "balc": money,
        "use_account": st.booleans(),
    }
)


@given(prices=lines_st, kw=kwargs_st)
def test_the_settlement_adds_up_after_the_funds(prices: list[tuple[str, D]], kw: dict) -> None:
    r, s = settle(prices, **kw)
    assert r.medfee_sumamt == s.fund_pay_sumamt + r.psn_part_amt + s.hosp_part_amt
    assert r.psn_part_amt == r.acct_pay + r.psn_cash_pay
    assert s.fund_pay_sumamt == r.hifp_pay + s.hifob_pay + s.hifmi_pay + s.maf_pay
    assert min(r.psn_part_amt, r.acct_pay, r.psn_cash_pay, s.hifob_pay, s.hifmi_pay) >= 0
    assert r.acct_pay <= kw["balc"] and (kw["employee"] or r.acct_pay == 0)
    # setldetail: one entry per fund, the funds' entries sum to fund_pay_sumamt
    types = [d.fund_pay_type for d in s.setldetail]
    assert len(types) == len(set(types))
    assert sum((d.fund_payamt for d in s.setldetail if d.fund_pay_type != "310200"), D(0)) == (
        s.fund_pay_sumamt
    )
    assert ("610100" in types) == (kw["category"] != "none")
    # the stored row's fund fields, as the facts read them back
    row = {k: getattr(s, k) for k in rules.FUND_AMOUNTS}
    assert funds.fund_amounts(row) == row


@given(prices=lines_st, more=lines_st, kw=kwargs_st)
def test_a_year_never_exceeds_the_caps_and_a_cancel_gives_back_what_it_took(
    prices: list[tuple[str, D]], more: list[tuple[str, D]], kw: dict
) -> None:
    """Two settlements in a row, the second on the year the first left; then the cancel of
    the second restores the year exactly."""
    first_r, first = settle(prices, **kw)

    def after(year: FundYear, r: rules.Result, s: funds.Split) -> FundYear:
        stored = {
            "inscp_scp_amt": r.inscp_scp_amt,
            "hifp_pay": r.hifp_pay,
            **{k: getattr(s, k) for k in rules.FUND_AMOUNTS},
        }
        refund = funds.year_refund(type("Row", (), stored)())
        assert refund == (-s.inscp_self, -s.secondary_pay, -s.maf_pay)
        return FundYear(
            year.inscp_self + s.inscp_self,
            year.secondary_paid + s.secondary_pay,
            year.assistance_paid + s.maf_pay,
        )

    year1 = after(kw["year"], first_r, first)
    second_r, second = settle(more, **{**kw, "year": year1})
    year2 = after(year1, second_r, second)
    secondary = EMPLOYEE_LARGE if kw["employee"] else RESIDENT_CRITICAL
    cap = max(secondary.annual_cap, kw["year"].secondary_paid)
    assert year2.secondary_paid <= cap
    assert year2.assistance_paid <= max(D("30000"), kw["year"].assistance_paid)
    # cancel of the second: the year is back where it was after the first, to the cent
    refund = (-second.inscp_self, -second.secondary_pay, -second.maf_pay)
    assert (
        FundYear(
            year2.inscp_self + refund[0],
            year2.secondary_paid + refund[1],
            year2.assistance_paid + refund[2],
        )
        == year1
    )


@given(prices=lines_st, kw=kwargs_st)
def test_a_reversal_detail_nets_each_fund_to_zero(prices: list[tuple[str, D]], kw: dict) -> None:
    _, s = settle(prices, **kw)
    rev = funds.negated_detail(s.setldetail)
    assert [d.fund_pay_type for d in rev] == [d.fund_pay_type for d in s.setldetail]
    assert all(a.fund_payamt + b.fund_payamt == 0 for a, b in zip(s.setldetail, rev, strict=True))


def test_history_without_the_split_paid_from_the_basic_fund_only() -> None:
    assert funds.fund_amounts({"hifp_pay": D("12.34")}) == {
        "hifob_pay": D("0.00"),
        "hifmi_pay": D("0.00"),
        "maf_pay": D("0.00"),
        "fund_pay_sumamt": D("12.34"),
        "hosp_part_amt": D("0.00"),
    }


def test_pure_helpers_moved_out_of_the_service() -> None:
    assert rules.line_amount(D("3"), D("0.335")) == D("1.01")  # rounded once, half up
    assert rules.balance_after_pay(D("10.00"), D("2.50")) == D("7.50")
    assert rules.balance_after_refund(D("7.50"), D("2.50")) == D("10.00")
    row = type("Row", (), {k: D("1.00") for k in rules.SETTLEMENT_AMOUNTS})()
    assert rules.reversal_amounts(row) == dict.fromkeys(rules.SETTLEMENT_AMOUNTS, D("-1.00"))
