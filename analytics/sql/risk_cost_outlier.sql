-- Rule cost_outlier (费用异常): a visit whose medfee_sumamt ranks above the "pct"
-- percentile (policy risk.cost_outlier_percentile) of its diagnosis group: the ICD-10 block
-- of the main diagnosis and the visit kind. Groups with fewer than "min_group" settled
-- visits in the window (risk.cost_outlier_min_group) are not judged: a percentile of a
-- handful of visits means nothing. PERCENT_RANK counts ties together, so a group of equal
-- costs has no outlier.
WITH sv AS (
  SELECT st.mdtrt_id, st.psn_no, st.fixmedins_code, st.med_type, st.medfee_sumamt,
         v.main_diag_code, d.block
  FROM v_settlement st
  JOIN v_visit v ON v.mdtrt_id = st.mdtrt_id
  JOIN v_diagnosis d ON d.diag_code = v.main_diag_code
  WHERE st.setl_type = 'normal' AND st.setl_status = 'settled'
    AND st.setl_time >= :from AND st.setl_time < :to
),
ranked AS (
  SELECT sv.*,
         PERCENT_RANK() OVER (PARTITION BY block, med_type ORDER BY medfee_sumamt) AS pr,
         COUNT(*) OVER (PARTITION BY block, med_type) AS group_visits,
         AVG(medfee_sumamt) OVER (PARTITION BY block, med_type) AS group_avg
  FROM sv
)
SELECT CONCAT('outlier:', mdtrt_id) AS dedupe_key,
       psn_no, fixmedins_code, mdtrt_id,
       medfee_sumamt / group_avg AS score,
       CONCAT('medfee ', medfee_sumamt, ' is ', ROUND(medfee_sumamt / group_avg, 1),
              'x the average of ', group_visits, ' ', med_type, ' visits in ', block)
         AS summary,
       JSON_ARRAY(JSON_OBJECT('mdtrt_id', mdtrt_id, 'main_diag_code', main_diag_code,
                              'block', block, 'med_type', med_type,
                              'medfee_sumamt', medfee_sumamt, 'percent_rank', pr,
                              'group_visits', group_visits, 'group_avg', group_avg))
         AS evidence
FROM ranked
WHERE pr > :pct AND group_visits >= :min_group
