-- Persons (就诊人数) per group of the cost report: the distinct persons with a settlement
-- that stands in the group and period. Not additive over days or groups, so it is counted
-- from the facts: only the +1 facts of settlements that stand (standing = 1; a cancel
-- clears it), two columns and the group keys per fact. `:before` limits it to the facts
-- recorded before a watermark, the base that analytics/persons.py keeps and moves forward
-- (a far-future time when the whole count is wanted).
SELECT /*GROUP_SELECT*/, COUNT(DISTINCT f.psn_no) AS persons
FROM v_setl_fact f
WHERE f.standing = 1
  AND f.recorded_at < :before
  AND f.setl_time >= :from
  AND f.setl_time < :to
GROUP BY /*GROUP_BY*/
