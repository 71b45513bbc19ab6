-- The persons, visits and institutions of the facts recorded since the risk watcher's
-- watermark: a pass evaluates the rules for these only (the /*SCOPE*/ markers of the rule
-- files; analytics/risk.py). Same index as risk_since.sql.
SELECT /*+ QB_NAME(keys_v, f@sel_1 .@sel_1), USE_INDEX(@keys_v setl_fact, ix_setl_fact_recorded_at) */
       DISTINCT f.psn_no, f.mdtrt_id, f.fixmedins_code
FROM v_setl_fact f
WHERE f.recorded_at > :since
