"""Initial schema: installation facts.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    meta = op.create_table(
        "meta",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_meta"),
    )
    installation_id = f"{int(time.time() * 1000):012x}{os.urandom(10).hex()}"
    op.bulk_insert(
        meta,
        [
            {"key": "installation_id", "value": installation_id},
            {"key": "created_at", "value": datetime.now(UTC).isoformat()},
        ],
    )


def downgrade() -> None:
    op.drop_table("meta")
