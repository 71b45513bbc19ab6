"""Many HIS rows at once, by SQL in MariaDB itself: the sync benchmark's and tests' source.

Patients 5%, encounters 15% (every seventh inpatient, every 97th cancelled), one main
diagnosis each, charge lines the rest; every patient insured (`psn` numbers in turn), every
charge priced with a mapped local item code. Into an empty HIS (ids are counted from the
first ones); a few seconds for 1M rows (the sequence engine).
"""

from __future__ import annotations

from medhtap.platform.hisdb import HisSettings
from medhtap.services.his.simulate import local_items, seed_local_items


def fill_his(his: HisSettings, rows: int, psn: list[str]) -> dict[str, int]:
    """N HIS rows by SQL in MariaDB itself (the sequence engine), in a few seconds."""
    seed_local_items(his)
    n_pat, n_enc = rows * 5 // 100, rows * 15 // 100
    n_chg = rows - n_pat - 2 * n_enc
    with his.connect(database=his.database) as conn, conn.cursor() as cur:
        cur.execute("SET SESSION sql_log_bin = 1")
        cur.execute("CREATE TABLE IF NOT EXISTS bench_psn (i INT PRIMARY KEY, psn VARCHAR(32))")
        cur.execute(
            "CREATE TABLE IF NOT EXISTS bench_item (i INT PRIMARY KEY, code VARCHAR(32),"
            " price DECIMAL(16,4))"
        )
        cur.execute("TRUNCATE bench_psn")
        cur.execute("TRUNCATE bench_item")
        cur.executemany("INSERT INTO bench_psn VALUES (%s, %s)", list(enumerate(psn)))
        mapped = [(loc, p) for loc, nat, _, p in local_items(his.name) if nat]
        cur.executemany(
            "INSERT INTO bench_item VALUES (%s, %s, %s)",
            [(i, loc, p) for i, (loc, p) in enumerate(mapped)],
        )
        cur.execute(
            "INSERT INTO patient (mrn, name, id_card_no, gender, birth_date, insurance_no)"
            " SELECT CONCAT('BM', s.seq), '王伟', '110105197001010011', '1', '1970-01-01',"
            f" b.psn FROM seq_1_to_{n_pat} s JOIN bench_psn b ON b.i = s.seq % {len(psn)}"
        )
        cur.execute("SELECT MIN(patient_id) FROM patient WHERE mrn LIKE 'BM%'")
        p0 = int(cur.fetchone()[0])  # type: ignore[index]
        cur.execute(
            "INSERT INTO encounter (patient_id, encounter_type, dept_code, start_time, status)"
            f" SELECT {p0} + s.seq % {n_pat}, IF(s.seq % 7 = 0, 'I', 'O'), 'IM',"
            " NOW(6) - INTERVAL s.seq SECOND, IF(s.seq % 97 = 0, 'cancelled', 'active')"
            f" FROM seq_1_to_{n_enc} s"
        )
        cur.execute("SELECT MIN(encounter_id) FROM encounter")
        e0 = int(cur.fetchone()[0])  # type: ignore[index]
        cur.execute(
            "INSERT INTO encounter_diagnosis (encounter_id, icd10_code, is_main)"
            f" SELECT {e0} + s.seq - 1, 'E11.9', 1 FROM seq_1_to_{n_enc} s"
        )
        cur.execute(
            "INSERT INTO charge_item (encounter_id, local_item_code, item_name, quantity,"
            " unit_price, amount, charged_at)"
            f" SELECT {e0} + s.seq % {n_enc}, b.code, 'item', 1 + s.seq % 3, b.price,"
            " ROUND((1 + s.seq % 3) * b.price, 2), NOW(6) - INTERVAL s.seq SECOND"
            f" FROM seq_1_to_{n_chg} s JOIN bench_item b ON b.i = s.seq % {len(mapped)}"
        )
    return {"patients": n_pat, "encounters": n_enc, "diagnoses": n_enc, "charges": n_chg}
