-- Rule split_admission (分解住院): a re-admission to the same institution within
-- "days" days (policy risk.split_admission_days) of a discharge, with a main diagnosis in
-- the same ICD-10 chapter. Both stays settled (settlements that stand); the re-admission
-- begins in ["from", "to").
-- Reads the analytic facts (standing = 1: a +1 fact not cancelled since). An inpatient stay is
-- settled at discharge (出院结算), so setl_time >= endtime bounds the partitions read.
-- /*SCOPE x*/: a risk-watcher pass keeps only the keys x of facts recorded since its
-- watermark (analytics/risk.py `scoped`); a full run removes the marker.
WITH stays AS (
  SELECT f.mdtrt_id, f.psn_no, f.fixmedins_code, f.begntime, f.endtime, f.main_diag_code,
         f.diag_chapter AS chapter
  FROM v_setl_fact f
  WHERE f.sign = 1
    AND f.med_type = '21'  -- inpatient
    AND f.endtime IS NOT NULL
    AND f.begntime < :to
    AND f.endtime >= :from - INTERVAL :days DAY
    AND f.setl_time >= :from - INTERVAL :days DAY
    AND f.standing = 1
    /*SCOPE f.psn_no*/
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
