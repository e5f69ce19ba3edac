"""Run heartbeats: ``heartbeat_at`` on runs.

An ``ActiveRun`` refreshes it while its process lives; a run still ``running`` whose
heartbeat is older than ``MODELPLANE_RUN_STALE_SECONDS`` is marked failed (by the server
and by client processes), so a killed trainer does not leave its run running forever.

Revision ID: 0009
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("heartbeat_at")
