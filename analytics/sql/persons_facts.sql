-- Every fact of the given persons in the period, with the group keys, sign, standing and
-- recorded_at: analytics/persons.py recounts just these persons. Through the psn_no index
-- (migration 0027).
SELECT /*+ QB_NAME(psn_v, f@sel_1 .@sel_1), USE_INDEX(@psn_v setl_fact, ix_setl_fact_psn_no) */
       f.psn_no, /*GROUP_SELECT*/, f.sign, f.standing, f.recorded_at
FROM v_setl_fact f
WHERE f.psn_no IN :persons
  AND f.setl_time >= :from
  AND f.setl_time < :to
