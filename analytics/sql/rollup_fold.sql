-- The rollup worker's fold (analytics/rollup.py): the facts recorded in
-- [folded_from, folded_to) added up per settlement day and group of one dimension set and
-- added to cost_rollup. Columns of dimensions outside the set keep their defaults.
INSERT INTO cost_rollup (dims, setl_day/*KEYS*/, visits, inpatient_visits, inpatient_days,
                         medfee_sumamt, hifp_pay, hifob_pay, hifmi_pay, maf_pay,
                         fund_pay_sumamt, acct_pay, psn_cash_pay, psn_part_amt, drug_amt,
                         material_amt, service_amt, latest_setl_time)
SELECT :dims, DATE(f.setl_time)/*FACT_KEYS*/,
       SUM(f.sign),
       SUM(CASE WHEN f.med_type = '21' THEN f.sign ELSE 0 END),
       COALESCE(SUM(CASE WHEN f.med_type = '21' THEN f.sign * f.los_days ELSE 0 END), 0),
       SUM(f.medfee_sumamt), SUM(f.hifp_pay), SUM(f.hifob_pay), SUM(f.hifmi_pay),
       SUM(f.maf_pay), SUM(f.fund_pay_sumamt), SUM(f.acct_pay), SUM(f.psn_cash_pay),
       SUM(f.psn_part_amt), SUM(f.drug_amt), SUM(f.material_amt), SUM(f.service_amt),
       MAX(f.setl_time)
FROM setl_fact f
WHERE f.recorded_at >= :folded_from
  AND f.recorded_at < :folded_to
GROUP BY DATE(f.setl_time)/*FACT_KEYS*/
ON DUPLICATE KEY UPDATE
  visits = visits + VALUES(visits),
  inpatient_visits = inpatient_visits + VALUES(inpatient_visits),
  inpatient_days = inpatient_days + VALUES(inpatient_days),
  medfee_sumamt = medfee_sumamt + VALUES(medfee_sumamt),
  hifp_pay = hifp_pay + VALUES(hifp_pay),
  hifob_pay = hifob_pay + VALUES(hifob_pay),
  hifmi_pay = hifmi_pay + VALUES(hifmi_pay),
  maf_pay = maf_pay + VALUES(maf_pay),
  fund_pay_sumamt = fund_pay_sumamt + VALUES(fund_pay_sumamt),
  acct_pay = acct_pay + VALUES(acct_pay),
  psn_cash_pay = psn_cash_pay + VALUES(psn_cash_pay),
  psn_part_amt = psn_part_amt + VALUES(psn_part_amt),
  drug_amt = drug_amt + VALUES(drug_amt),
  material_amt = material_amt + VALUES(material_amt),
  service_amt = service_amt + VALUES(service_amt),
  latest_setl_time = GREATEST(latest_setl_time, VALUES(latest_setl_time))
