-- Stored alerts, newest first; every filter is optional (NULL = any).
SELECT id, rule_code, dedupe_key, psn_no, fixmedins_code, mdtrt_id, score, summary,
       evidence, alert_status, run_id, detected_at
FROM v_risk_alert
WHERE (:rule IS NULL OR rule_code = :rule)
  AND (:status IS NULL OR alert_status = :status)
  AND (:psn_no IS NULL OR psn_no = :psn_no)
ORDER BY detected_at DESC, id
LIMIT :limit
