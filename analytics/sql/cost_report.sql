-- Cost analysis (费用分析) per group: money sums per settlement, fee-line shares per visit.
-- Ratios (fund share, drug share 药占比, material share 耗占比, out-of-pocket ratio,
-- average cost, average length of stay) are computed from these exact sums in reports.py,
-- so the total row is computed the same way as each group.
WITH /*SCOPE*/,
fees AS (
  -- settled fee lines by settlement, split by item kind. Aggregated from a fee_ocur_time
  -- range (partition pruning) and joined on setl_id, which has no index on fee_detail, so
  -- the plan is a hash join: a per-settlement index lookup into a table partitioned by
  -- month touches every partition and was 20x slower here. Lines are read
  -- from "fee_from" (one year before "from"), so a stay longer than a year loses its
  -- oldest lines from the drug/material shares only; money sums come from settlements.
  SELECT fd.setl_id,
         SUM(fd.det_item_fee_sumamt) AS fee_amt,
         SUM(CASE WHEN ci.item_kind = 'drug' THEN fd.det_item_fee_sumamt ELSE 0 END) AS drug_amt,
         SUM(CASE WHEN ci.item_kind = 'material' THEN fd.det_item_fee_sumamt ELSE 0 END)
           AS material_amt
  FROM v_fee_detail fd
  JOIN v_catalog_item ci ON ci.item_code = fd.item_code
  WHERE fd.fee_status = 'settled'
    AND fd.fee_ocur_time >= :fee_from
    AND fd.fee_ocur_time < :to
  GROUP BY fd.setl_id
)
SELECT /*GROUP_SELECT*/,
       COUNT(*) AS visits,
       COUNT(DISTINCT s.psn_no) AS persons,
       SUM(s.medfee_sumamt) AS medfee_sumamt,
       SUM(s.hifp_pay) AS hifp_pay,
       SUM(s.acct_pay) AS acct_pay,
       SUM(s.psn_cash_pay) AS psn_cash_pay,
       SUM(s.psn_part_amt) AS psn_part_amt,
       SUM(COALESCE(f.fee_amt, 0)) AS fee_amt,
       SUM(COALESCE(f.drug_amt, 0)) AS drug_amt,
       SUM(COALESCE(f.material_amt, 0)) AS material_amt,
       SUM(CASE WHEN s.med_type = 'inpatient' THEN 1 ELSE 0 END) AS inpatient_visits,
       -- length of stay: discharge date minus admission date, a same-day stay counts 1
       SUM(CASE WHEN s.med_type = 'inpatient'
                THEN GREATEST(DATEDIFF(v.endtime, v.begntime), 1) ELSE 0 END) AS inpatient_days,
       MAX(s.setl_time) AS latest_setl_time
FROM s
JOIN v_visit v ON v.mdtrt_id = s.mdtrt_id
LEFT JOIN v_institution i ON i.fixmedins_code = s.fixmedins_code
LEFT JOIN v_diagnosis d ON d.diag_code = v.main_diag_code
LEFT JOIN fees f ON f.setl_id = s.setl_id
GROUP BY /*GROUP_BY*/
ORDER BY /*GROUP_BY*/
