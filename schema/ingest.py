"""Bulk import of history: where each imported file stands."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from medhtap.schema.base import DATETIME6, TABLE_ARGS, Base


class IngestCheckpoint(Base):
    """One import of one file into one table, written in the same transaction as each
    batch of rows it covers, so an interrupted import resumes exactly after that batch.
    The file is known by its content: the same bytes under another name are the same
    import; changed bytes are a new one (and the natural keys keep rows single).

    Batches load on two connections (lanes) at once but commit in file order, each lane
    updating only its own row: the row with the highest offset is where the file stands,
    and the counts add up over the lanes."""

    __tablename__ = "ingest_checkpoint"
    __table_args__ = (TABLE_ARGS,)

    content_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    target_table: Mapped[str] = mapped_column(String(64), primary_key=True)
    lane: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    file_name: Mapped[str] = mapped_column(String(512))
    file_size: Mapped[int] = mapped_column(BigInteger)
    byte_offset: Mapped[int] = mapped_column(BigInteger)  # CSV bytes / Parquet rows consumed
    line_no: Mapped[int] = mapped_column(BigInteger)  # last line (row) consumed
    rows_loaded: Mapped[int] = mapped_column(BigInteger)
    rows_present: Mapped[int] = mapped_column(BigInteger)  # natural key already there
    rows_rejected: Mapped[int] = mapped_column(BigInteger)
    reject_offset: Mapped[int] = mapped_column(BigInteger)  # reject file length at commit
    done: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[dt.datetime] = mapped_column(DATETIME6)
