-- Rule split_admission (分解住院): a re-admission to the same institution within
-- "days" days (policy risk.split_admission_days) of a discharge, with a main diagnosis in
-- the same ICD-10 chapter. Both stays settled (settlements that stand); the re-admission
-- begins in ["from", "to").
WITH stays AS (
  SELECT v.mdtrt_id, v.psn_no, v.fixmedins_code, v.begntime, v.endtime, v.main_diag_code,
         d.chapter
  FROM v_visit v
  JOIN v_settlement st ON st.mdtrt_id = v.mdtrt_id
  JOIN v_diagnosis d ON d.diag_code = v.main_diag_code
  WHERE v.med_type = 'inpatient'
    AND st.setl_type = 'normal' AND st.setl_status = 'settled'
    AND v.endtime IS NOT NULL
    AND v.begntime < :to
    AND v.endtime >= :from - INTERVAL :days DAY
)
SELECT CONCAT(a.mdtrt_id, '>', b.mdtrt_id) AS dedupe_key,
       b.psn_no, b.fixmedins_code, b.mdtrt_id,
       :days - DATEDIFF(b.begntime, a.endtime) AS score,
       CONCAT('re-admitted ', DATEDIFF(b.begntime, a.endtime), ' days after discharge, ',
              'chapter ', b.chapter, ' (', a.main_diag_code, ' -> ', b.main_diag_code, ')')
         AS summary,
       JSON_ARRAY(
         JSON_OBJECT('mdtrt_id', a.mdtrt_id, 'begntime', a.begntime, 'endtime', a.endtime,
                     'main_diag_code', a.main_diag_code),
         JSON_OBJECT('mdtrt_id', b.mdtrt_id, 'begntime', b.begntime, 'endtime', b.endtime,
                     'main_diag_code', b.main_diag_code)) AS evidence
FROM stays a
JOIN stays b
  ON b.psn_no = a.psn_no
 AND b.fixmedins_code = a.fixmedins_code
 AND b.chapter = a.chapter
 AND b.mdtrt_id <> a.mdtrt_id
 AND b.begntime >= a.endtime
 AND b.begntime <= a.endtime + INTERVAL :days DAY
WHERE b.begntime >= :from
