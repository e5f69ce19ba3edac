"""Tables of deployments (routes, canary state, events, shared stats, leases, eval gates).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ID = sa.String(length=32)
NAME = sa.String(length=256)


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("model", NAME, nullable=False),
        sa.Column("variants", sa.JSON(), nullable=False),
        sa.Column("key_field", NAME, nullable=True),
        sa.Column("canary", sa.JSON(), nullable=True),
        sa.Column("previous", sa.JSON(), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployments")),
        sa.UniqueConstraint("name", name=op.f("uq_deployments_name")),
    )
    op.create_table(
        "deployment_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  autoincrement=True, nullable=False),
        sa.Column("deployment", NAME, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment_events")),
    )
    op.create_index(op.f("ix_deployment_events_deployment_id"), "deployment_events",
                    ["deployment", "id"])
    op.create_table(
        "deployment_stats",
        sa.Column("deployment", NAME, nullable=False),
        sa.Column("variant", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("replica", sa.String(length=32), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("errors", sa.BigInteger(), nullable=False),
        sa.Column("latency_sum", sa.Float(), nullable=False),
        sa.Column("latency_hist", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("deployment", "variant", "version", "bucket", "replica",
                                name=op.f("pk_deployment_stats")),
    )
    op.create_index(op.f("ix_deployment_stats_bucket"), "deployment_stats", ["bucket"])
    op.create_table(
        "deployment_leases",
        sa.Column("key", NAME, nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_deployment_leases")),
    )
    op.create_table(
        "deployment_eval_gates",
        sa.Column("model", NAME, nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("model", name=op.f("pk_deployment_eval_gates")),
    )


def downgrade() -> None:
    op.drop_table("deployment_eval_gates")
    op.drop_table("deployment_leases")
    op.drop_index(op.f("ix_deployment_stats_bucket"), table_name="deployment_stats")
    op.drop_table("deployment_stats")
    op.drop_index(op.f("ix_deployment_events_deployment_id"), table_name="deployment_events")
    op.drop_table("deployment_events")
    op.drop_table("deployments")
