-- A person's spend by year and visit kind, settlements that stand only.
SELECT YEAR(setl_time) AS year, med_type, COUNT(*) AS visits,
       SUM(medfee_sumamt) AS medfee_sumamt, SUM(hifp_pay) AS hifp_pay,
       SUM(acct_pay) AS acct_pay, SUM(psn_cash_pay) AS psn_cash_pay
FROM v_settlement
WHERE psn_no = :psn_no AND setl_type = 'normal' AND setl_status = 'settled'
GROUP BY YEAR(setl_time), med_type
ORDER BY year, med_type
