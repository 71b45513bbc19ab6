-- Rule duplicate_charge (重复收费): the same person charged for the same item at the same
-- institution on the same day beyond the catalog's max_qty_per_day, or identical fee
-- lines repeated within one visit (same item, quantity, price and time).
-- Scope: settled lines of settlements that stand, fee time in ["from", "to"). A settled
-- line always belongs to a settlement that stands (a cancel turns its lines back to
-- 'active'); its +1 analytic fact gives the person and institution, and a line is settled
-- after it occurs, so setl_time >= "from" bounds the fact partitions read.
WITH fl AS (
  SELECT fd.mdtrt_id, fd.feedetl_sn, fd.item_code, fd.cnt, fd.pric, fd.det_item_fee_sumamt,
         fd.fee_ocur_time, f.psn_no, f.fixmedins_code
  FROM v_fee_detail fd
  JOIN v_setl_fact f ON f.setl_id = fd.setl_id AND f.sign = 1
  WHERE fd.fee_status = 'settled'
    AND fd.fee_ocur_time >= :from AND fd.fee_ocur_time < :to
    AND f.setl_time >= :from
),
per_day AS (
  SELECT fl.psn_no, fl.fixmedins_code, fl.item_code, DATE(fl.fee_ocur_time) AS fee_day,
         SUM(fl.cnt) AS qty, MIN(fl.mdtrt_id) AS mdtrt_id,
         JSON_ARRAYAGG(JSON_OBJECT('mdtrt_id', fl.mdtrt_id, 'feedetl_sn', fl.feedetl_sn,
                                   'cnt', fl.cnt, 'pric', fl.pric,
                                   'amount', fl.det_item_fee_sumamt,
                                   'fee_ocur_time', fl.fee_ocur_time)) AS evidence
  FROM fl
  GROUP BY fl.psn_no, fl.fixmedins_code, fl.item_code, DATE(fl.fee_ocur_time)
)
SELECT CONCAT('qty:', p.psn_no, ':', p.fixmedins_code, ':', p.item_code, ':', p.fee_day)
         AS dedupe_key,
       p.psn_no, p.fixmedins_code, p.mdtrt_id,
       p.qty / ci.max_qty_per_day AS score,
       CONCAT(ci.item_name, ': ', p.qty + 0, ' on ', p.fee_day, ', catalog allows ',
              ci.max_qty_per_day + 0, ' per day') AS summary,
       p.evidence
FROM per_day p
JOIN v_catalog_item ci ON ci.item_code = p.item_code
WHERE ci.max_qty_per_day IS NOT NULL AND p.qty > ci.max_qty_per_day
UNION ALL
SELECT CONCAT('line:', fl.mdtrt_id, ':', fl.item_code, ':', fl.fee_ocur_time, ':', fl.cnt + 0,
              ':', fl.pric + 0) AS dedupe_key,
       fl.psn_no, fl.fixmedins_code, fl.mdtrt_id,
       COUNT(*) AS score,
       CONCAT(COUNT(*), ' identical lines of ', fl.item_code, ' at ', fl.fee_ocur_time)
         AS summary,
       JSON_ARRAYAGG(JSON_OBJECT('mdtrt_id', fl.mdtrt_id, 'feedetl_sn', fl.feedetl_sn,
                                 'cnt', fl.cnt, 'pric', fl.pric,
                                 'fee_ocur_time', fl.fee_ocur_time)) AS evidence
FROM fl
GROUP BY fl.mdtrt_id, fl.psn_no, fl.fixmedins_code, fl.item_code, fl.fee_ocur_time, fl.cnt,
         fl.pric
HAVING COUNT(*) > 1
