-- The top 10 items by amount within each group of the cost report.
WITH /*SCOPE*/,
item_amounts AS (
  -- per visit and item first, from a fee_ocur_time range (see cost_report.sql: fees)
  SELECT fd.setl_id, fd.item_code,
         SUM(fd.det_item_fee_sumamt) AS amount, SUM(fd.cnt) AS qty
  FROM v_fee_detail fd
  WHERE fd.fee_status = 'settled'
    AND fd.fee_ocur_time >= :fee_from
    AND fd.fee_ocur_time < :to
  GROUP BY fd.setl_id, fd.item_code
),
item_lines AS (
  SELECT /*GROUP_SELECT*/,
         a.item_code,
         SUM(a.amount) AS amount,
         SUM(a.qty) AS qty
  FROM s
  JOIN item_amounts a ON a.setl_id = s.setl_id  -- unindexed key: a hash join, see fees
  JOIN v_visit v ON v.mdtrt_id = s.mdtrt_id
  LEFT JOIN v_institution i ON i.fixmedins_code = s.fixmedins_code
  LEFT JOIN v_diagnosis d ON d.diag_code = v.main_diag_code
  GROUP BY /*GROUP_BY*/, a.item_code
),
ranked AS (
  SELECT item_lines.*,
         ROW_NUMBER() OVER (PARTITION BY /*GROUP_KEYS*/ ORDER BY amount DESC, item_code) AS rn
  FROM item_lines
)
SELECT ranked.*, ci.item_name, ci.item_kind
FROM ranked
JOIN v_catalog_item ci ON ci.item_code = ranked.item_code
WHERE ranked.rn <= 10
ORDER BY /*GROUP_KEYS*/, ranked.rn
