-- Cost analysis (费用分析) per group, from the analytic facts (v_setl_fact: one narrow row
-- per settlement, written in its transaction; a cancel adds a -1 row with the same
-- dimensions, setl_time and negated amounts). Summing facts therefore counts exactly the
-- settlements that stand, with no join: visits = SUM(sign).
-- Ratios (basic fund share, all funds' share, drug share 药占比, material share 耗占比, out-of-pocket ratio,
-- average cost, average length of stay) are computed from these exact sums in reports.py,
-- so the total row is computed the same way as each group.
WITH cancelled AS (
  -- the -1 facts of the period (a cancel copies the settlement's setl_time): a few percent
  SELECT c.setl_id
  FROM v_setl_fact c
  WHERE c.sign = -1
    AND c.setl_time >= :from
    AND c.setl_time < :to
)
SELECT /*GROUP_OUTER*/,
       SUM(g.m_sign) AS visits,
       -- persons with a settlement that stands in the group: a distinct count over the +1
       -- facts without a -1 (a per-person pre-aggregation instead needed ~1.5 KB per
       -- group and person: 130 MB at 100k visits)
       COUNT(DISTINCT CASE WHEN g.m_sign = 1 AND x.setl_id IS NULL THEN g.m_psn_no END) AS persons,
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
       SUM(g.drug_amt + g.material_amt + g.service_amt) AS fee_amt,
       SUM(g.drug_amt) AS drug_amt,
       SUM(g.material_amt) AS material_amt,
       SUM(CASE WHEN g.m_med_type = '21' THEN g.m_sign ELSE 0 END) AS inpatient_visits,
       -- length of stay: discharge date minus admission date, a same-day stay counts 1
       SUM(CASE WHEN g.m_med_type = '21' THEN g.m_sign * g.m_los_days ELSE 0 END)
         AS inpatient_days,
       MAX(CASE WHEN g.m_sign = 1 AND x.setl_id IS NULL THEN g.m_setl_time END) AS latest_setl_time
FROM (
  -- the group keys, then what is summed (m_*: never the name of a group key)
  SELECT /*GROUP_SELECT*/, f.setl_id AS m_setl_id, f.sign AS m_sign, f.psn_no AS m_psn_no,
         f.med_type AS m_med_type, f.los_days AS m_los_days, f.setl_time AS m_setl_time,
         f.medfee_sumamt, f.hifp_pay, f.acct_pay, f.psn_cash_pay, f.psn_part_amt,
         f.hifob_pay, f.hifmi_pay, f.maf_pay, f.fund_pay_sumamt,
         f.drug_amt, f.material_amt, f.service_amt
  FROM v_setl_fact f
  WHERE f.setl_time >= :from
    AND f.setl_time < :to
) g
LEFT JOIN cancelled x ON x.setl_id = g.m_setl_id AND g.m_sign = 1
GROUP BY /*GROUP_KEYS*/
HAVING SUM(g.m_sign) > 0
ORDER BY /*GROUP_KEYS*/
