-- Rule restricted_items (限制性用药/诊疗): by institution and month, the share of lines of
-- gender- or age-restricted catalog items that settlement turned wholly self-paid because
-- the restriction was broken (ownpay_reason 'gender' or 'age'). A share above "max_share"
-- (risk.restricted_selfpay_share) over at least "min_lines" restricted lines
-- (risk.restricted_min_lines) suggests the institution keeps billing them anyway.
-- Settled lines only (they always belong to a settlement that stands); the institution
-- comes from the settlement's +1 analytic fact (see risk_duplicate_charge.sql).
-- /*SCOPE x*/: a risk-watcher pass keeps only the keys x of facts recorded since its
-- watermark (analytics/risk.py `scoped`); a full run removes the marker.
-- /*FULL+ HASH_JOIN*/: a full run hash-joins the lines to their facts (risk.py FULL_HINT).
WITH rl AS (
  SELECT /*FULL+ HASH_JOIN(fd, f)*/ f.fixmedins_code, DATE_FORMAT(fd.fee_ocur_time, '%Y-%m') AS month,
         fd.mdtrt_id, fd.feedetl_sn, fd.item_code, fd.ownpay_reason
  FROM v_fee_detail fd
  JOIN v_catalog_item ci ON ci.item_code = fd.item_code
  JOIN v_setl_fact f ON f.setl_id = fd.setl_id AND f.sign = 1
  WHERE fd.fee_status = 'settled'
    AND (ci.gend_lmt IS NOT NULL OR ci.age_min IS NOT NULL OR ci.age_max IS NOT NULL)
    AND fd.fee_ocur_time >= :from AND fd.fee_ocur_time < :to
    AND f.setl_time >= :from
    /*SCOPE f.fixmedins_code*/
),
per_month AS (
  SELECT fixmedins_code, month, COUNT(*) AS restricted_lines,
         SUM(CASE WHEN ownpay_reason IN ('gender', 'age') THEN 1 ELSE 0 END) AS self_paid
  FROM rl
  GROUP BY fixmedins_code, month
),
examples AS (
  SELECT fixmedins_code, month,
         JSON_ARRAYAGG(JSON_OBJECT('mdtrt_id', mdtrt_id, 'feedetl_sn', feedetl_sn,
                                   'item_code', item_code, 'reason', ownpay_reason))
           AS example_lines
  FROM rl
  WHERE ownpay_reason IN ('gender', 'age')
  GROUP BY fixmedins_code, month
)
SELECT CONCAT(p.fixmedins_code, ':', p.month) AS dedupe_key,
       NULL AS psn_no, p.fixmedins_code, NULL AS mdtrt_id,
       p.self_paid / p.restricted_lines AS score,
       CONCAT(p.self_paid, ' of ', p.restricted_lines, ' restricted-item lines in ', p.month,
              ' were refused (gender/age) and turned self-pay') AS summary,
       JSON_ARRAY(JSON_OBJECT('month', p.month, 'restricted_lines', p.restricted_lines,
                              'self_paid_lines', p.self_paid), e.example_lines) AS evidence
FROM per_month p
JOIN examples e ON e.fixmedins_code = p.fixmedins_code AND e.month = p.month
WHERE p.restricted_lines >= :min_lines
  AND p.self_paid / p.restricted_lines > :max_share
