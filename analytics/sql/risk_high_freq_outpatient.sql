-- Rule high_freq_outpatient (高频门诊): more than "max_visits" settled outpatient visits
-- (policy risk.high_freq_outpatient_visits_30d) within any 30 days. One alert per person
-- and run window, at the first visit that crosses the threshold (stable across re-runs).
-- Reads the analytic facts (standing = 1: a +1 fact not cancelled since); a visit is settled
-- after it begins, so setl_time >= begntime bounds the partitions read.
-- /*SCOPE x*/: a risk-watcher pass keeps only the keys x of facts recorded since its
-- watermark (analytics/risk.py `scoped`); a full run removes the marker.
WITH ov AS (
  SELECT f.mdtrt_id, f.psn_no, f.fixmedins_code, f.begntime
  FROM v_setl_fact f
  WHERE f.sign = 1
    AND f.med_type = '11'  -- general outpatient; chronic care (14) and pharmacy (41) recur
    AND f.begntime >= :from - INTERVAL 30 DAY AND f.begntime < :to
    AND f.setl_time >= :from - INTERVAL 30 DAY
    AND f.standing = 1
    /*SCOPE f.psn_no*/
),
windows AS (
  SELECT a.psn_no, a.mdtrt_id, a.begntime AS window_end, COUNT(*) AS visits,
         JSON_ARRAYAGG(JSON_OBJECT('mdtrt_id', b.mdtrt_id, 'fixmedins_code', b.fixmedins_code,
                                   'begntime', b.begntime)) AS evidence
  FROM ov a
  JOIN ov b
    ON b.psn_no = a.psn_no
   AND b.begntime > a.begntime - INTERVAL 30 DAY
   AND b.begntime <= a.begntime
  WHERE a.begntime >= :from
  GROUP BY a.psn_no, a.mdtrt_id, a.begntime
  HAVING COUNT(*) > :max_visits
),
firsts AS (
  SELECT windows.*, ROW_NUMBER() OVER (PARTITION BY psn_no ORDER BY window_end, mdtrt_id) AS rn
  FROM windows
)
SELECT CONCAT(psn_no, ':', DATE(window_end)) AS dedupe_key,
       psn_no, NULL AS fixmedins_code, mdtrt_id,
       visits AS score,
       CONCAT(visits, ' outpatient visits in the 30 days up to ', window_end,
              ' (threshold ', :max_visits, ')') AS summary,
       evidence
FROM firsts
WHERE rn = 1
