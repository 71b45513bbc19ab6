-- Rule cost_outlier (费用异常): a visit whose medfee_sumamt ranks above the "pct"
-- percentile (policy risk.cost_outlier_percentile) of its diagnosis group: the ICD-10 block
-- of the main diagnosis and the visit kind. Groups with fewer than "min_group" settled
-- visits in the window (risk.cost_outlier_min_group) are not judged: a percentile of a
-- handful of visits means nothing. PERCENT_RANK counts ties together, so a group of equal
-- costs has no outlier.
-- Reads the analytic facts: settlements that stand are the +1 facts with standing = 1
-- (a cancel clears it).
-- /*SCOPE x*/: a risk-watcher pass keeps only the keys x of facts recorded since its
-- watermark (analytics/risk.py `scoped`); a full run removes the marker.
WITH sv AS (
  SELECT f.mdtrt_id, f.psn_no, f.fixmedins_code, f.med_type, f.medfee_sumamt,
         f.main_diag_code, f.diag_block AS block
  FROM v_setl_fact f
  WHERE f.sign = 1
    AND f.setl_time >= :from AND f.setl_time < :to
    AND f.standing = 1
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
  /*SCOPE mdtrt_id*/
