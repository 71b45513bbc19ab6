-- The top 10 items by amount within each group of the cost report. Groups come from the
-- facts; item amounts from the fee lines of the period (the only line-level part).
WITH standing AS (
  -- A settled fee line always belongs to a settlement that stands (a cancel turns its
  -- lines back to 'active' without setl_id), so the +1 facts are enough to join on.
  -- Grouped (one row per settlement anyway) so that the join below cannot become an index
  -- join into setl_fact's primary key: with the fee lines' count underestimated (column
  -- statistics not loaded yet) TiDB chose one, which probed every monthly partition per
  -- settlement: 78 s instead of a hash join at 100k visits.
  SELECT /*GROUP_SELECT*/, f.setl_id
  FROM v_setl_fact f
  WHERE f.sign = 1
    AND f.setl_time >= :from
    AND f.setl_time < :to
  GROUP BY f.setl_id, /*GROUP_BY*/
),
item_amounts AS (
  -- per settlement and item, from a fee_ocur_time range (monthly partitions pruned; lines
  -- are read from "fee_from", one year before "from") and joined on setl_id, which has no
  -- index on fee_detail: a hash join. A per-settlement lookup into a table partitioned by
  -- month probes every partition and was 20x slower.
  SELECT fd.setl_id, fd.item_code,
         SUM(fd.det_item_fee_sumamt) AS amount, SUM(fd.cnt) AS qty
  FROM v_fee_detail fd
  WHERE fd.fee_status = 'settled'
    AND fd.fee_ocur_time >= :fee_from
    AND fd.fee_ocur_time < :to
  GROUP BY fd.setl_id, fd.item_code
),
item_lines AS (
  SELECT /*GROUP_KEYS*/, a.item_code, SUM(a.amount) AS amount, SUM(a.qty) AS qty
  FROM standing
  JOIN item_amounts a ON a.setl_id = standing.setl_id
  GROUP BY /*GROUP_KEYS*/, a.item_code
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
