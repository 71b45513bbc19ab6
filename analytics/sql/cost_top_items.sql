-- The top 10 items by amount within each group of the cost report, from the item facts
-- (v_setl_item_fact: one row per settlement, sign and item, written with the settlement,
-- carrying its setl_time and group keys; a cancel adds the rows negated with the same
-- setl_time). One pruned setl_time range, no join to fee lines: the sums count exactly the
-- settlements that stand, and SUM(sign) > 0 keeps the items some standing settlement of
-- the group has (as the fee lines of the standing settlements would give them).
WITH item_lines AS (
  SELECT /*GROUP_SELECT*/, f.item_code,
         SUM(f.det_item_fee_sumamt) AS amount, SUM(f.cnt) AS qty
  FROM v_setl_item_fact f
  WHERE f.setl_time >= :from
    AND f.setl_time < :to
  GROUP BY /*GROUP_BY*/, f.item_code
  HAVING SUM(f.sign) > 0
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
