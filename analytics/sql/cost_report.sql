-- Cost analysis (费用分析) per group, straight from the analytic facts (v_setl_fact: one
-- narrow row per settlement, written in its transaction; a cancel adds a -1 row with the
-- same dimensions, setl_time and negated amounts). Summing facts therefore counts exactly
-- the settlements that stand, with no join: visits = SUM(sign). This is the live path, for
-- a grouping that has no rollup yet; cost_rollup.sql gives the same sums from the rollup.
-- Persons (a distinct count) come from cost_persons.sql. Ratios (basic fund share, all
-- funds' share, drug share 药占比, material share 耗占比, out-of-pocket ratio, average cost,
-- average length of stay) are computed from these exact sums in reports.py, so the total
-- row is computed the same way as each group.
SELECT /*GROUP_OUTER*/,
       SUM(g.sign) AS visits,
       SUM(g.medfee_sumamt) AS medfee_sumamt,
       SUM(g.hifp_pay) AS hifp_pay,
       -- the fund split (setldetail): secondary funds, medical assistance, all funds
       SUM(g.hifob_pay) AS hifob_pay,
       SUM(g.hifmi_pay) AS hifmi_pay,
       SUM(g.maf_pay) AS maf_pay,
       SUM(g.fund_pay_sumamt) AS fund_pay_sumamt,
       SUM(g.acct_pay) AS acct_pay,
       SUM(g.psn_cash_pay) AS psn_cash_pay,
       SUM(g.psn_part_amt) AS psn_part_amt,
       SUM(g.drug_amt) AS drug_amt,
       SUM(g.material_amt) AS material_amt,
       SUM(g.service_amt) AS service_amt,
       SUM(g.inpatient_visits) AS inpatient_visits,
       SUM(g.inpatient_days) AS inpatient_days,
       -- the newest settlement the answer has seen (a cancelled one included): freshness
       MAX(g.setl_time) AS latest_setl_time
FROM (
  SELECT /*GROUP_SELECT*/, f.sign, f.medfee_sumamt, f.hifp_pay, f.hifob_pay, f.hifmi_pay,
         f.maf_pay, f.fund_pay_sumamt, f.acct_pay, f.psn_cash_pay, f.psn_part_amt,
         f.drug_amt, f.material_amt, f.service_amt,
         CASE WHEN f.med_type = '21' THEN f.sign ELSE 0 END AS inpatient_visits,
         -- length of stay: discharge date minus admission date, a same-day stay counts 1
         CASE WHEN f.med_type = '21' THEN f.sign * f.los_days ELSE 0 END AS inpatient_days,
         f.setl_time
  FROM v_setl_fact f
  WHERE f.setl_time >= :from
    AND f.setl_time < :to
) g
GROUP BY /*GROUP_KEYS*/
HAVING SUM(g.sign) > 0
ORDER BY /*GROUP_KEYS*/
