-- Cost analysis (费用分析) per group from the cost rollup (v_cost_rollup: the facts added up
-- per day and group by the rollup worker, up to its watermark `folded_to`) plus the tail:
-- the facts recorded since `folded_to`, read in the same snapshot. Every fact is in exactly
-- one of the two (analytics/rollup.py), so the sums equal cost_report.sql's over the facts.
-- The day range [from_day, to_day) is the settlement-time range [from, to) of whole days.
-- The tail is read through the recorded_at index (the hint names the view's table in the
-- query block "tail"): it is a few seconds of facts, which the statistics cannot know, and
-- a full scan of the facts instead would cost what the rollup saves. reports.py reads the
-- facts directly when the tail is large (the worker stopped).
SELECT /*+ QB_NAME(tail_v, f@tail .@sel_1), USE_INDEX(@tail_v setl_fact, ix_setl_fact_recorded_at) */
       /*GROUP_OUTER*/,
       SUM(g.visits) AS visits,
       SUM(g.medfee_sumamt) AS medfee_sumamt,
       SUM(g.hifp_pay) AS hifp_pay,
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
       MAX(g.latest_setl_time) AS latest_setl_time
FROM (
  SELECT /*ROLLUP_SELECT*/, r.visits, r.medfee_sumamt, r.hifp_pay, r.hifob_pay, r.hifmi_pay,
         r.maf_pay, r.fund_pay_sumamt, r.acct_pay, r.psn_cash_pay, r.psn_part_amt,
         r.drug_amt, r.material_amt, r.service_amt, r.inpatient_visits, r.inpatient_days,
         r.latest_setl_time
  FROM v_cost_rollup r
  WHERE r.dims = :dims
    AND r.setl_day >= :from_day
    AND r.setl_day < :to_day
  UNION ALL
  SELECT /*+ QB_NAME(tail) */ /*GROUP_SELECT*/, f.sign, f.medfee_sumamt, f.hifp_pay, f.hifob_pay, f.hifmi_pay,
         f.maf_pay, f.fund_pay_sumamt, f.acct_pay, f.psn_cash_pay, f.psn_part_amt,
         f.drug_amt, f.material_amt, f.service_amt,
         CASE WHEN f.med_type = '21' THEN f.sign ELSE 0 END,
         CASE WHEN f.med_type = '21' THEN f.sign * f.los_days ELSE 0 END,
         f.setl_time
  FROM v_setl_fact f
  WHERE f.recorded_at >= :folded_to
    AND f.setl_time >= :from
    AND f.setl_time < :to
) g
GROUP BY /*GROUP_KEYS*/
HAVING SUM(g.visits) > 0
ORDER BY /*GROUP_KEYS*/
