-- Shared by the cost report queries: the settlements that stand in [from, to).
-- Only setl_type = 'normal' AND setl_status = 'settled' count: a cancelled settlement keeps
-- its row (status 'cancelled') and gains a reversal row (type 'reversal'); both are left out.
s AS (
  SELECT st.setl_id, st.mdtrt_id, st.psn_no, st.fixmedins_code, st.insutype, st.med_type,
         st.hosp_lv, st.setl_time, st.medfee_sumamt, st.hifp_pay, st.acct_pay,
         st.psn_cash_pay, st.psn_part_amt
  FROM v_settlement st
  WHERE st.setl_type = 'normal'
    AND st.setl_status = 'settled'
    AND st.setl_time >= :from
    AND st.setl_time < :to
)
