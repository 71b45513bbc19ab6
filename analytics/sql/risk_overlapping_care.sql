-- Rule overlapping_care (住院期间门诊): an outpatient settlement at another institution
-- while the person's inpatient stay is open (after admission, before discharge or with no
-- discharge yet). The outpatient visit begins in ["from", "to") and its settlement stands.
-- The outpatient side reads the analytic facts (standing = 1: not cancelled since; a
-- visit is settled after it begins, so setl_time >= begntime bounds the partitions read);
-- the stays are visits, settled or not (an open stay has no settlement yet).
-- /*SCOPE x*/: a risk-watcher pass keeps only the keys x of facts recorded since its
-- watermark (analytics/risk.py `scoped`); a full run removes the marker.
WITH stays AS (
  -- inpatient stays open at some time in the window: admitted before its end, not
  -- discharged before its start. The person is joined as an expression (CONCAT(psn_no,
  -- '')) on purpose: TiDB otherwise probes the visit index per outpatient settlement (a
  -- minute at 1M visits, most of it reading every stay the person ever had); this way it is
  -- one hash join of the window's stays with the window's outpatient settlements.
  SELECT CONCAT(i.psn_no, '') AS psn_key, i.mdtrt_id, i.fixmedins_code, i.begntime, i.endtime
  FROM v_visit i
  WHERE i.med_type = '21'  -- national med_type codes: 21 inpatient
    AND i.begntime < :to
    AND (i.endtime IS NULL OR i.endtime > :from)
    /*SCOPE i.psn_no*/
)
SELECT CONCAT(i.mdtrt_id, '|', o.mdtrt_id) AS dedupe_key,
       o.psn_no, o.fixmedins_code, o.mdtrt_id,
       o.medfee_sumamt AS score,
       CONCAT('outpatient at ', o.fixmedins_code, ' on ', o.begntime,
              ' during stay at ', i.fixmedins_code, ' from ', i.begntime) AS summary,
       JSON_ARRAY(
         JSON_OBJECT('stay', i.mdtrt_id, 'fixmedins_code', i.fixmedins_code,
                     'begntime', i.begntime, 'endtime', i.endtime),
         JSON_OBJECT('outpatient', o.mdtrt_id, 'fixmedins_code', o.fixmedins_code,
                     'begntime', o.begntime, 'setl_id', o.setl_id,
                     'medfee_sumamt', o.medfee_sumamt)) AS evidence
FROM v_setl_fact o
JOIN stays i
  ON i.psn_key = o.psn_no
 AND i.fixmedins_code <> o.fixmedins_code
 AND o.begntime > i.begntime
 AND (i.endtime IS NULL OR o.begntime < i.endtime)
WHERE o.sign = 1
  AND o.med_type IN ('11', '14', '41')  -- outpatient, chronic outpatient, pharmacy
  AND o.begntime >= :from AND o.begntime < :to
  AND o.setl_time >= :from
  AND o.standing = 1
  /*SCOPE o.psn_no*/
