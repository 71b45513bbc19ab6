-- Rule high_freq_outpatient (高频门诊): more than "max_visits" settled outpatient visits
-- (policy risk.high_freq_outpatient_visits_30d) within any 30 days. One alert per person
-- and run window, at the first visit that crosses the threshold (stable across re-runs).
WITH ov AS (
  SELECT v.mdtrt_id, v.psn_no, v.fixmedins_code, v.begntime
  FROM v_visit v
  JOIN v_settlement st ON st.mdtrt_id = v.mdtrt_id
  WHERE v.med_type = 'outpatient'
    AND st.setl_type = 'normal' AND st.setl_status = 'settled'
    AND v.begntime >= :from - INTERVAL 30 DAY AND v.begntime < :to
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
