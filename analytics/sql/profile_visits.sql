-- A person's most recent visits with the settlement that stands for each (if any).
SELECT v.mdtrt_id, v.fixmedins_code, i.fixmedins_name, v.med_type, v.dept_name,
       v.begntime, v.endtime, v.main_diag_code, d.diag_name, d.chapter, v.vis_status,
       st.setl_id, st.setl_time, st.medfee_sumamt, st.hifp_pay, st.acct_pay, st.psn_cash_pay
FROM v_visit v
LEFT JOIN v_institution i ON i.fixmedins_code = v.fixmedins_code
LEFT JOIN v_diagnosis d ON d.diag_code = v.main_diag_code
LEFT JOIN v_settlement st
  ON st.mdtrt_id = v.mdtrt_id AND st.setl_type = 'normal' AND st.setl_status = 'settled'
WHERE v.psn_no = :psn_no
ORDER BY v.begntime DESC
LIMIT :limit
