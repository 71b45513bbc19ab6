-- A hospital information system (HIS) as Chinese hospitals run it, in English names:
-- patients, encounters (outpatient and inpatient), diagnoses, and charge lines priced with
-- the hospital's LOCAL item codes (not the national catalog's: "unified coding" maps them).
-- Every table has updated_at so the HIS's own reports can find changes; sync reads the binlog.

CREATE TABLE IF NOT EXISTS patient (
  patient_id      BIGINT AUTO_INCREMENT PRIMARY KEY,
  mrn             VARCHAR(32)  NOT NULL,            -- medical record number, per hospital
  name            VARCHAR(64)  NOT NULL,
  id_card_no      VARCHAR(18)  NOT NULL,
  gender          CHAR(1)      NOT NULL,            -- 1 male, 2 female
  birth_date      DATE         NOT NULL,
  insurance_no    VARCHAR(64)  NULL,                -- the insured person's psn_no, if insured
  phone           VARCHAR(20)  NULL,
  created_at      DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at      DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  UNIQUE KEY uq_patient_mrn (mrn)
);

CREATE TABLE IF NOT EXISTS encounter (
  encounter_id    BIGINT AUTO_INCREMENT PRIMARY KEY,
  patient_id      BIGINT       NOT NULL,
  encounter_type  CHAR(1)      NOT NULL,            -- O outpatient, I inpatient
  dept_code       VARCHAR(16)  NOT NULL,
  doctor_code     VARCHAR(16)  NULL,
  start_time      DATETIME(6)  NOT NULL,            -- registration / admission
  end_time        DATETIME(6)  NULL,                -- discharge
  status          VARCHAR(12)  NOT NULL DEFAULT 'active',  -- active, discharged, cancelled
  created_at      DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at      DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  KEY ix_encounter_patient (patient_id),
  CONSTRAINT fk_encounter_patient FOREIGN KEY (patient_id) REFERENCES patient (patient_id)
);

CREATE TABLE IF NOT EXISTS encounter_diagnosis (
  diagnosis_id    BIGINT AUTO_INCREMENT PRIMARY KEY,
  encounter_id    BIGINT       NOT NULL,
  icd10_code      VARCHAR(16)  NOT NULL,
  is_main         TINYINT(1)   NOT NULL DEFAULT 0,
  diagnosed_at    DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  KEY ix_diag_encounter (encounter_id),
  CONSTRAINT fk_diag_encounter FOREIGN KEY (encounter_id) REFERENCES encounter (encounter_id)
);

CREATE TABLE IF NOT EXISTS charge_item (
  charge_id       BIGINT AUTO_INCREMENT PRIMARY KEY,
  encounter_id    BIGINT        NOT NULL,
  local_item_code VARCHAR(32)   NOT NULL,           -- the hospital's own code
  item_name       VARCHAR(200)  NOT NULL,
  quantity        DECIMAL(16,4) NOT NULL,
  unit_price      DECIMAL(16,4) NOT NULL,
  amount          DECIMAL(16,2) NOT NULL,
  charged_at      DATETIME(6)   NOT NULL,
  created_at      DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at      DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  KEY ix_charge_encounter (encounter_id),
  CONSTRAINT fk_charge_encounter FOREIGN KEY (encounter_id) REFERENCES encounter (encounter_id)
);

-- The hospital's local price list; local codes are what charge lines carry.
CREATE TABLE IF NOT EXISTS local_item (
  local_item_code VARCHAR(32)   PRIMARY KEY,
  item_name       VARCHAR(200)  NOT NULL,
  unit_price      DECIMAL(16,4) NOT NULL
)
