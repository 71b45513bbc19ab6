"""TiFlash columnar replicas for the tables analysts read, when the cluster has TiFlash

On a cluster without TiFlash (the local unistore server) this step is logged as skipped and
analytics run on TiKV; applying the migration later on a cluster with TiFlash adds them.
Re-run after adding TiFlash nodes: `medhtap db migrate` is a no-op, so use
`medhtap db downgrade 0007 && medhtap db migrate`.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

from alembic import op

from medhtap.migrations.helpers import log, tiflash_stores

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ANALYTIC_TABLES = [
    "institution",
    "catalog_item",
    "diagnosis",
    "insured_person",
    "visit",
    "fee_detail",
    "settlement",
    "person_year_accumulator",
    "risk_alert",
]


def upgrade() -> None:
    stores = tiflash_stores()
    if stores == 0:
        log.warning("TiFlash replicas skipped: the cluster has no TiFlash store")
        return
    replicas = min(2, stores)
    for table in ANALYTIC_TABLES:
        op.execute(f"ALTER TABLE {table} SET TIFLASH REPLICA {replicas}")
    log.info("TiFlash replicas: %d for %s", replicas, ", ".join(ANALYTIC_TABLES))


def downgrade() -> None:
    if tiflash_stores() == 0:
        return
    for table in ANALYTIC_TABLES:
        op.execute(f"ALTER TABLE {table} SET TIFLASH REPLICA 0")
