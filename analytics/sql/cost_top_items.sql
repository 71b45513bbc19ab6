-- The top 10 items by amount within each group of the cost report. Groups come from the
-- facts; item amounts from the fee lines of the period (the only line-level part).
-- One hash join of the period's standing settlements (their group keys) with the period's
-- settled lines, then one aggregation per group and item. A settled fee line always
-- belongs to a settlement that stands (a cancel turns its lines back to 'active' without
-- setl_id), and the standing facts are one row per settlement. The lines are read from a
-- fee_ocur_time range ("fee_from", a year before "from": a line may occur long before its
-- stay is settled), which prunes the monthly partitions. The settlement key is joined as
-- an expression (CONCAT(setl_id, '')) on purpose: with statistics not loaded yet TiDB chose
-- an index join into setl_fact's primary key, which probes every monthly partition per
-- line (a minute at 160k visits), and join hints do not reach tables inside views.
WITH standing AS (
  SELECT /*GROUP_SELECT*/, CONCAT(f.setl_id, '') AS setl_id
  FROM v_setl_fact f
  WHERE f.standing = 1
    AND f.setl_time >= :from
    AND f.setl_time < :to
),
settled_lines AS (
  SELECT fd.setl_id, fd.item_code, fd.det_item_fee_sumamt, fd.cnt
  FROM v_fee_detail fd
  WHERE fd.fee_status = 'settled'
    AND fd.fee_ocur_time >= :fee_from
    AND fd.fee_ocur_time < :to
),
item_lines AS (
  SELECT /*GROUP_KEYS*/, l.item_code,
         SUM(l.det_item_fee_sumamt) AS amount, SUM(l.cnt) AS qty
  FROM standing
  JOIN settled_lines l ON l.setl_id = standing.setl_id
  GROUP BY /*GROUP_KEYS*/, l.item_code
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
