"""Live sync from hospitals' own databases (HIS): sources, positions, mappings, dead letters.

Rows synced from a HIS keep their source in their keys: a visit's mdtrt_id is
`<source>-E<encounter_id>`, a fee line's feedetl_sn `C<charge_id>`, so re-applying a row is an
upsert of the same key, never a second row.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from medhtap.schema.base import AUTO_RANDOM, DATETIME6, TABLE_ARGS, Base


class SyncSource(Base):
    """One HIS database and the institution whose data it holds; `mapping` says, as data,
    which HIS tables and columns become which platform rows."""

    __tablename__ = "sync_source"
    __table_args__ = (TABLE_ARGS,)

    source_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    fixmedins_code: Mapped[str] = mapped_column(String(32))
    mapping: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DATETIME6, server_default=func.now(6))


class SyncPosition(Base):
    """Where a source's stream stands, written in the same transaction as the rows it
    produced: a restart resumes exactly after the last applied source transaction."""

    __tablename__ = "sync_position"
    __table_args__ = (TABLE_ARGS,)

    source_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    gtid: Mapped[str] = mapped_column(String(200))  # MariaDB domain-server-seq list
    snapshot_done: Mapped[bool] = mapped_column(Boolean, default=False)
    source_commit_time: Mapped[dt.datetime | None] = mapped_column(DateTime)
    applied_at: Mapped[dt.datetime] = mapped_column(DATETIME6, server_default=func.now(6))
    events: Mapped[int] = mapped_column(BigInteger, default=0)
    # A source transaction applied in pieces (migration 0024): the first part_changes of
    # its changes are in; gtid moves past it with its last piece.
    part_gtid: Mapped[str | None] = mapped_column(String(64))
    part_changes: Mapped[int] = mapped_column(BigInteger, server_default="0")


class SyncItemMap(Base):
    """Unified coding: a hospital's local item code -> the national catalog code."""

    __tablename__ = "sync_item_map"
    __table_args__ = (TABLE_ARGS,)

    source_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    local_item_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    item_code: Mapped[str] = mapped_column(String(64))


class SyncPatient(Base):
    """A HIS patient's insurance number (psn_no); nothing else of the patient is kept."""

    __tablename__ = "sync_patient"
    __table_args__ = (TABLE_ARGS,)

    source_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    patient_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    psn_no: Mapped[str | None] = mapped_column(String(32))


class SyncDeadLetter(Base):
    """A source row that could not be mapped or validated, with why and where it came from;
    `medhtap sync replay-dead` applies it once its mapping exists."""

    __tablename__ = "sync_dead_letter"
    __table_args__ = (
        Index("ix_sync_dead_letter_source_id_replayed_at", "source_id", "replayed_at"),
        TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, info=AUTO_RANDOM)
    source_id: Mapped[str] = mapped_column(String(16))
    his_table: Mapped[str] = mapped_column(String(64))
    op: Mapped[str] = mapped_column(String(8))  # insert, update, delete
    his_key: Mapped[str] = mapped_column(String(64))
    gtid: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(400))
    row_data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DATETIME6, server_default=func.now(6))
    replayed_at: Mapped[dt.datetime | None] = mapped_column(DATETIME6)


class DataQualityEvent(Base):
    """A HIS correction that was not applied because the visit is already settled."""

    __tablename__ = "data_quality_event"
    __table_args__ = (Index("ix_data_quality_event_created_at", "created_at"), TABLE_ARGS)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, info=AUTO_RANDOM)
    source_id: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(32))  # correction_after_settlement, ...
    his_table: Mapped[str] = mapped_column(String(64))
    his_key: Mapped[str] = mapped_column(String(64))
    mdtrt_id: Mapped[str | None] = mapped_column(String(40))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DATETIME6, server_default=func.now(6))
