-- Every main diagnosis the person was ever seen for (chronic-condition flags).
SELECT v.main_diag_code, COUNT(*) AS visits, MIN(v.begntime) AS first_seen,
       MAX(v.begntime) AS last_seen
FROM v_visit v
WHERE v.psn_no = :psn_no
GROUP BY v.main_diag_code
