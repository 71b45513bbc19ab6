-- Rule review_overridden (事前事中审核结果被忽略): by institution and month, the review
-- results (3101 / 3102 / 2207) the hospital chose to continue past with 3103 dspo_way '1'.
-- Flagged when at least "min_forbidden" forbidden results (risk.review_overridden_forbidden)
-- or "min_warnings" warnings (risk.review_overridden_warnings) were continued in the month:
-- a forbidden result continued lets a settlement through that the review refused.
-- Window: when the hospital handled them (handled_at in [:from, :to)).
WITH h AS (
  SELECT r.fixmedins_code, DATE_FORMAT(r.handled_at, '%Y-%m') AS month, r.jr_id, r.rule_id,
         r.sev_deg, r.mdtrt_id, r.vola_amt, r.dspo_way_rea
  FROM v_review_result r
  WHERE r.dspo_way = '1' AND r.handled_at >= :from AND r.handled_at < :to
),
per_month AS (
  SELECT fixmedins_code, month,
         SUM(CASE WHEN sev_deg = 1 THEN 1 ELSE 0 END) AS forbidden,
         SUM(CASE WHEN sev_deg = 2 THEN 1 ELSE 0 END) AS warnings,
         SUM(vola_amt) AS vola_amt
  FROM h
  GROUP BY fixmedins_code, month
),
examples AS (
  SELECT fixmedins_code, month,
         JSON_ARRAYAGG(JSON_OBJECT('jr_id', jr_id, 'rule_id', rule_id, 'sev_deg', sev_deg,
                                   'mdtrt_id', mdtrt_id, 'vola_amt', vola_amt,
                                   'dspo_way_rea', dspo_way_rea)) AS results
  FROM h
  GROUP BY fixmedins_code, month
)
SELECT CONCAT(p.fixmedins_code, ':', p.month) AS dedupe_key,
       NULL AS psn_no, p.fixmedins_code, NULL AS mdtrt_id,
       p.forbidden + p.warnings AS score,
       CONCAT(p.forbidden, ' forbidden and ', p.warnings, ' warning review results continued in ',
              p.month, ' (', p.vola_amt, ' at stake)') AS summary,
       JSON_ARRAY(JSON_OBJECT('month', p.month, 'forbidden', p.forbidden,
                              'warnings', p.warnings, 'vola_amt', p.vola_amt), e.results)
         AS evidence
FROM per_month p
JOIN examples e ON e.fixmedins_code = p.fixmedins_code AND e.month = p.month
WHERE p.forbidden >= :min_forbidden OR p.warnings >= :min_warnings
