-- The persons with a fact in the period recorded since a persons base's watermark: only
-- their counts can have changed (analytics/persons.py). Through the recorded_at index (see
-- cost_rollup.sql for the hint form). The caller asks for one more than it will take.
SELECT /*+ QB_NAME(since_v, f@sel_1 .@sel_1), USE_INDEX(@since_v setl_fact, ix_setl_fact_recorded_at) */
       DISTINCT f.psn_no
FROM v_setl_fact f
WHERE f.recorded_at >= :since
  AND f.setl_time >= :from
  AND f.setl_time < :to
LIMIT :limit
