"""Feature definitions can be removed: ``removed_at`` and ``project`` on entities, views and
services.

``apply`` with pruning marks the definitions a repo (a project) no longer declares as
removed instead of deleting them, so the versions a model or a training set used stay
readable; ``project`` records which repo owns a definition, so pruning one repo never
removes another's.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TABLES = ("feature_entities", "feature_views", "feature_services")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("project", sa.String(length=128), nullable=True))
            batch.add_column(sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("removed_at")
            batch.drop_column("project")
