-- How many facts were recorded since a rollup's watermark (its tail): through the
-- recorded_at index only (see cost_rollup.sql for the hint).
SELECT /*+ QB_NAME(tail_v, f@sel_1 .@sel_1), USE_INDEX(@tail_v setl_fact, ix_setl_fact_recorded_at) */
       COUNT(*) AS tail
FROM v_setl_fact f
WHERE f.recorded_at >= :folded_to
