-- Rule duplicate_charge (重复收费): the same person charged for the same item at the same
-- institution on the same day beyond the catalog's max_qty_per_day, or identical fee
-- lines repeated within one visit (same item, quantity, price and time).
-- Scope: settled lines of settlements that stand, fee time in ["from", "to"). A settled
-- line always belongs to a settlement that stands (a cancel turns its lines back to
-- 'active'); its +1 analytic fact gives the person and institution, and a line is settled
-- after it occurs, so setl_time >= "from" bounds the fact partitions read.
-- The groups are found with plain sums and counts first; the evidence (the lines, as JSON)
-- is built only for the groups that break a rule: building it for every group of a
-- quarter's lines cost most of the rule's time (80 s of 110 s at 1M visits).
-- /*SCOPE x*/: a risk-watcher pass keeps only the keys x of facts recorded since its
-- watermark (analytics/risk.py `scoped`); a full run removes the marker.
-- /*FULL+ HASH_JOIN*/: a full run hash-joins the lines to their facts (risk.py FULL_HINT).
WITH fl AS (
  SELECT /*FULL+ HASH_JOIN(fd, f)*/ fd.mdtrt_id, fd.feedetl_sn, fd.item_code, fd.cnt, fd.pric, fd.det_item_fee_sumamt,
         fd.fee_ocur_time, f.psn_no, f.fixmedins_code
  FROM v_fee_detail fd
  JOIN v_setl_fact f ON f.setl_id = fd.setl_id AND f.sign = 1
  WHERE fd.fee_status = 'settled'
    AND fd.fee_ocur_time >= :from AND fd.fee_ocur_time < :to
    AND f.setl_time >= :from
    /*SCOPE f.psn_no*/
),
over_limit AS (
  SELECT p.psn_no, p.fixmedins_code, p.item_code, p.fee_day, p.qty, p.mdtrt_id,
         ci.item_name, ci.max_qty_per_day
  FROM (
    SELECT fl.psn_no, fl.fixmedins_code, fl.item_code, DATE(fl.fee_ocur_time) AS fee_day,
           SUM(fl.cnt) AS qty, MIN(fl.mdtrt_id) AS mdtrt_id
    FROM fl
    GROUP BY fl.psn_no, fl.fixmedins_code, fl.item_code, DATE(fl.fee_ocur_time)
  ) p
  JOIN v_catalog_item ci ON ci.item_code = p.item_code
  WHERE ci.max_qty_per_day IS NOT NULL AND p.qty > ci.max_qty_per_day
),
repeated AS (
  SELECT fl.mdtrt_id, fl.psn_no, fl.fixmedins_code, fl.item_code, fl.fee_ocur_time, fl.cnt,
         fl.pric, COUNT(*) AS n
  FROM fl
  GROUP BY fl.mdtrt_id, fl.psn_no, fl.fixmedins_code, fl.item_code, fl.fee_ocur_time, fl.cnt,
           fl.pric
  HAVING COUNT(*) > 1
)
SELECT CONCAT('qty:', o.psn_no, ':', o.fixmedins_code, ':', o.item_code, ':', o.fee_day)
         AS dedupe_key,
       o.psn_no, o.fixmedins_code, o.mdtrt_id,
       o.qty / o.max_qty_per_day AS score,
       CONCAT(o.item_name, ': ', o.qty + 0, ' on ', o.fee_day, ', catalog allows ',
              o.max_qty_per_day + 0, ' per day') AS summary,
       JSON_ARRAYAGG(JSON_OBJECT('mdtrt_id', fl.mdtrt_id, 'feedetl_sn', fl.feedetl_sn,
                                 'cnt', fl.cnt, 'pric', fl.pric,
                                 'amount', fl.det_item_fee_sumamt,
                                 'fee_ocur_time', fl.fee_ocur_time)) AS evidence
FROM over_limit o
JOIN fl
  ON fl.psn_no = o.psn_no AND fl.fixmedins_code = o.fixmedins_code
 AND fl.item_code = o.item_code AND DATE(fl.fee_ocur_time) = o.fee_day
GROUP BY o.psn_no, o.fixmedins_code, o.item_code, o.fee_day, o.qty, o.mdtrt_id, o.item_name,
         o.max_qty_per_day
UNION ALL
SELECT CONCAT('line:', r.mdtrt_id, ':', r.item_code, ':', r.fee_ocur_time, ':', r.cnt + 0,
              ':', r.pric + 0) AS dedupe_key,
       r.psn_no, r.fixmedins_code, r.mdtrt_id,
       r.n AS score,
       CONCAT(r.n, ' identical lines of ', r.item_code, ' at ', r.fee_ocur_time) AS summary,
       JSON_ARRAYAGG(JSON_OBJECT('mdtrt_id', fl.mdtrt_id, 'feedetl_sn', fl.feedetl_sn,
                                 'cnt', fl.cnt, 'pric', fl.pric,
                                 'fee_ocur_time', fl.fee_ocur_time)) AS evidence
FROM repeated r
JOIN fl
  ON fl.mdtrt_id = r.mdtrt_id AND fl.item_code = r.item_code
 AND fl.fee_ocur_time = r.fee_ocur_time AND fl.cnt = r.cnt AND fl.pric = r.pric
GROUP BY r.mdtrt_id, r.psn_no, r.fixmedins_code, r.item_code, r.fee_ocur_time, r.cnt, r.pric,
         r.n
