-- Report review_violations: the review results of 3101 (orders), 3102 and 2207 (fee lines)
-- counted by rule and by institution, for results first seen in [:from, :to).
-- A result is one rule firing on one visit's lines (re-reviews refresh it, never add one),
-- so `results` counts violations, not review runs. sev_deg 1 forbidden, 2 warning;
-- dspo_way is the hospital's handling (3103): '1' continued with a reason, '2' went back
-- and changed, NULL not handled. vola_amt is the money at stake, summed exactly.
SELECT r.rule_id,
       MAX(r.rule_name) AS rule_name,
       r.fixmedins_code,
       COUNT(*) AS results,
       SUM(CASE WHEN r.sev_deg = 1 THEN 1 ELSE 0 END) AS forbidden,
       SUM(CASE WHEN r.sev_deg = 2 THEN 1 ELSE 0 END) AS warnings,
       SUM(CASE WHEN r.stage = 'pre' THEN 1 ELSE 0 END) AS pre_prescription,
       SUM(CASE WHEN r.dspo_way = '1' THEN 1 ELSE 0 END) AS continued,
       SUM(CASE WHEN r.dspo_way = '2' THEN 1 ELSE 0 END) AS changed,
       SUM(CASE WHEN r.dspo_way IS NULL THEN 1 ELSE 0 END) AS unhandled,
       COUNT(DISTINCT r.mdtrt_id) AS visits,
       COUNT(DISTINCT r.psn_no) AS persons,
       SUM(r.vola_amt) AS vola_amt
FROM v_review_result r
WHERE r.created_at >= :from AND r.created_at < :to
GROUP BY r.rule_id, r.fixmedins_code
ORDER BY r.rule_id, r.fixmedins_code
