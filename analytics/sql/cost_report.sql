-- Cost analysis (费用分析) per group, from the analytic facts (v_setl_fact: one narrow row
-- per settlement, written in its transaction; a cancel adds a -1 row with the same
-- dimensions, setl_time and negated amounts). Summing facts therefore counts exactly the
-- settlements that stand, with no join: visits = SUM(sign).
-- Ratios (fund share, drug share 药占比, material share 耗占比, out-of-pocket ratio,
-- average cost, average length of stay) are computed from these exact sums in reports.py,
-- so the total row is computed the same way as each group.
WITH per_person AS (
  -- per group and person first: a person counts in a group when a settlement of theirs
  -- stands there (their +1 and -1 facts cancel out in the same group).
  SELECT /*GROUP_SELECT*/, f.psn_no,
         SUM(f.sign) AS visits,
         SUM(f.medfee_sumamt) AS medfee_sumamt,
         SUM(f.hifp_pay) AS hifp_pay,
         SUM(f.acct_pay) AS acct_pay,
         SUM(f.psn_cash_pay) AS psn_cash_pay,
         SUM(f.psn_part_amt) AS psn_part_amt,
         SUM(f.drug_amt + f.material_amt + f.service_amt) AS fee_amt,
         SUM(f.drug_amt) AS drug_amt,
         SUM(f.material_amt) AS material_amt,
         SUM(CASE WHEN f.med_type = 'inpatient' THEN f.sign ELSE 0 END) AS inpatient_visits,
         -- length of stay: discharge date minus admission date, a same-day stay counts 1
         SUM(CASE WHEN f.med_type = 'inpatient' THEN f.sign * f.los_days ELSE 0 END)
           AS inpatient_days,
         MAX(CASE WHEN f.sign > 0 THEN f.setl_time END) AS latest_setl_time
  FROM v_setl_fact f
  WHERE f.setl_time >= :from
    AND f.setl_time < :to
  GROUP BY /*GROUP_BY*/, f.psn_no
)
SELECT /*GROUP_OUTER*/,
       SUM(g.visits) AS visits,
       SUM(CASE WHEN g.visits > 0 THEN 1 ELSE 0 END) AS persons,
       SUM(g.medfee_sumamt) AS medfee_sumamt,
       SUM(g.hifp_pay) AS hifp_pay,
       SUM(g.acct_pay) AS acct_pay,
       SUM(g.psn_cash_pay) AS psn_cash_pay,
       SUM(g.psn_part_amt) AS psn_part_amt,
       SUM(g.fee_amt) AS fee_amt,
       SUM(g.drug_amt) AS drug_amt,
       SUM(g.material_amt) AS material_amt,
       SUM(g.inpatient_visits) AS inpatient_visits,
       SUM(g.inpatient_days) AS inpatient_days,
       MAX(CASE WHEN g.visits > 0 THEN g.latest_setl_time END) AS latest_setl_time
FROM per_person g
GROUP BY /*GROUP_KEYS*/
HAVING SUM(g.visits) > 0
ORDER BY /*GROUP_KEYS*/
