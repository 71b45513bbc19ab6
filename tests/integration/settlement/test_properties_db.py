"""Random visits settled through HTTP agree with the plain rules, and what is stored adds up."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medhtap.services.settlement import rules

from .conftest import L1, L2, L3, TEST_ITEMS, Factory

ITEMS = {
    r["item_code"]: rules.Item(
        r["item_code"],
        r["chrgitm_lv"],
        r["item_kind"],
        r.get("selfpay_prop", D("0")),
        r.get("pric_uplmt_amt"),
        r.get("gend_lmt"),
        r.get("age_min"),
        r.get("age_max"),
    )
    for r in TEST_ITEMS
}
# the default policy rows (migration 0006) by (insutype, med_type, level)
POLICY = {
    ("310", "outpatient"): (("1800.00",) * 3, "year", ("0.90", "0.85", "0.80"), "20000.00"),
    ("310", "inpatient"): (
        ("300.00", "600.00", "1200.00"),
        "admission",
        ("0.95", "0.90", "0.85"),
        "500000.00",
    ),
    ("390", "outpatient"): (("200.00",) * 3, "year", ("0.60", "0.55", "0.50"), "3000.00"),
    ("390", "inpatient"): (
        ("200.00", "500.00", "1000.00"),
        "admission",
        ("0.85", "0.75", "0.65"),
        "250000.00",
    ),
}
LEVEL = {L1: 1, L2: 2, L3: 3}
BASIC = [a for a in rules.AMOUNTS if a not in ("psn_part_amt", "acct_pay", "psn_cash_pay")]

fee_lines = st.lists(
    st.tuples(
        st.sampled_from(sorted(ITEMS)),
        st.decimals(D("0.0001"), D("50"), places=4),
        st.decimals(D("0"), D("5000"), places=4),
    ),
    min_size=1,
    max_size=8,
)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lines=fee_lines,
    insutype=st.sampled_from(["310", "390"]),
    kind=st.sampled_from(["outpatient", "inpatient"]),
    inst=st.sampled_from([L1, L2, L3]),
    balance=st.decimals(D("0"), D("3000"), places=2),
    dedc_used=st.decimals(D("0"), D("2000"), places=2),
    hifp_paid=st.decimals(D("0"), D("20000"), places=2),
    use_account=st.booleans(),
)
def test_http_settlement_equals_the_rules_and_stored_rows_add_up(
    factory: Factory,
    lines: list[tuple[str, D, D]],
    insutype: str,
    kind: str,
    inst: str,
    balance: D,
    dedc_used: D,
    hifp_paid: D,
    use_account: bool,
) -> None:
    psn = factory.person(insutype, str(balance), gend="2", brdy="1990-02-03")
    factory.used(psn, kind, dedc=str(dedc_used), hifp=str(hifp_paid))
    visit = factory.visit(psn, inst, kind)
    factory.fees(visit, [(c, str(n), str(p)) for c, n, p in lines])
    if kind == "inpatient":
        assert factory.discharge(visit).status_code == 200

    r = factory.settle(visit, use_account=use_account)
    assert r.status_code == 200, r.text
    got = r.json()

    dedc, scope, ratio, cap = POLICY[(insutype, kind)]
    lv = LEVEL[inst] - 1
    expected = rules.settle(
        [rules.Line(f"L{i + 1}", ITEMS[c], n, p) for i, (c, n, p) in enumerate(lines)],
        rules.Person(insutype, "2", dt.date(1990, 2, 3), balance),
        dt.date.today(),
        rules.Benefit(D(dedc[lv]), scope, D(ratio[lv]), D(cap)),
        rules.Used(dedc_used, hifp_paid),
        use_account=use_account,
    )
    # The basic fund's settlement is the plain rules'; the secondary fund and assistance
    # (funds.py, their own tests) then take part of what the person would pay.
    for name in BASIC:
        assert D(got[name]) == getattr(expected, name), name
    funds = [D(got[k]) for k in ("hifp_pay", "hifob_pay", "hifmi_pay", "maf_pay")]
    assert D(got["fund_pay_sumamt"]) == sum(funds)
    assert D(got["psn_part_amt"]) == (
        expected.medfee_sumamt - D(got["fund_pay_sumamt"]) - D(got["hosp_part_amt"])
    )
    assert D(got["psn_part_amt"]) <= expected.psn_part_amt
    acct = min(balance, D(got["psn_part_amt"])) if use_account and insutype == "310" else D(0)
    assert D(got["acct_pay"]) == acct
    assert D(got["psn_cash_pay"]) == D(got["psn_part_amt"]) - acct

    stored = factory.rows(
        "SELECT SUM(det_item_fee_sumamt), SUM(fulamt_ownpay_amt), SUM(overlmt_selfpay), "
        "SUM(preselfpay_amt), SUM(inscp_scp_amt) FROM fee_detail WHERE setl_id = :s",
        s=got["setl_id"],
    )[0]
    setl = factory.rows(
        "SELECT medfee_sumamt, fulamt_ownpay_amt, overlmt_selfpay, preselfpay_amt, "
        "inscp_scp_amt FROM settlement WHERE setl_id = :s",
        s=got["setl_id"],
    )[0]
    assert tuple(stored) == tuple(setl)
    assert factory.scalar(
        "SELECT acct_balc FROM insured_person WHERE psn_no=:p", p=psn
    ) == balance - D(got["acct_pay"])
    assert factory.rows(
        "SELECT dedc_used, hifp_paid FROM person_year_accumulator WHERE psn_no=:p", p=psn
    ) == [(dedc_used + expected.act_pay_dedc, hifp_paid + expected.hifp_pay)]
