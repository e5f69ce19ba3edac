"""Tables of the feature store (entities, feature views, services, materialization watermarks).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def _definitions(name: str, *, kind: bool) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        *([sa.Column("kind", sa.String(length=32), nullable=False)] if kind else []),
        sa.Column("schema_hash", sa.String(length=64), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
        sa.UniqueConstraint("name", "version", name=op.f(f"uq_{name}_name_version")),
    )


def upgrade() -> None:
    op.create_table(
        "feature_entities",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_feature_entities")),
    )
    _definitions("feature_views", kind=True)
    _definitions("feature_services", kind=False)
    op.create_table(
        "feature_materializations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True,
                  nullable=False),
        sa.Column("view_name", sa.String(length=128), nullable=False),
        sa.Column("view_version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("start_time", TS, nullable=True),
        sa.Column("end_time", TS, nullable=True),
        sa.Column("num_rows", sa.BigInteger(), nullable=False),
        sa.Column("profile", sa.JSON(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feature_materializations")),
    )
    op.create_index(op.f("ix_feature_materializations_view_name_view_version_id"),
                    "feature_materializations", ["view_name", "view_version", "id"], unique=False)
    op.create_table(
        "feature_watermarks",
        sa.Column("view_name", sa.String(length=128), nullable=False),
        sa.Column("view_version", sa.Integer(), nullable=False),
        sa.Column("watermark", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("view_name", "view_version", name=op.f("pk_feature_watermarks")),
    )


def downgrade() -> None:
    op.drop_table("feature_watermarks")
    op.drop_index(op.f("ix_feature_materializations_view_name_view_version_id"),
                  table_name="feature_materializations")
    op.drop_table("feature_materializations")
    op.drop_table("feature_services")
    op.drop_table("feature_views")
    op.drop_table("feature_entities")
