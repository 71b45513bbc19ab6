-- The risk watcher's pass (analytics/watch.py): how many facts were recorded since its
-- watermark, the first visit day they touch and the newest of them. Through the
-- recorded_at index only: a few seconds of facts, which the statistics cannot know (see
-- cost_rollup.sql for the hint); a scan of every fact each pass is what this avoids.
SELECT /*+ QB_NAME(since_v, f@sel_1 .@sel_1), USE_INDEX(@since_v setl_fact, ix_setl_fact_recorded_at) */
       COUNT(*) AS n, MIN(f.begntime) AS first_visit, MAX(f.recorded_at) AS newest
FROM v_setl_fact f
WHERE f.recorded_at > :since
