"""Logged models (MLflow 3's ``LoggedModel``) and their files, for the MLflow REST API.

Revision ID: 0010
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
MODEL_ID = sa.String(length=40)


def upgrade() -> None:
    op.create_table(
        "logged_models",
        sa.Column("id", MODEL_ID, nullable=False),
        sa.Column("experiment_id", sa.String(length=32), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("step", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("model_type", sa.String(length=256), server_default="", nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["experiment_id"], ["experiments.id"], ondelete="CASCADE",
                                name=op.f("fk_logged_models_experiment_id_experiments")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_logged_models")),
    )
    op.create_index(op.f("ix_logged_models_experiment_id_created_at"), "logged_models",
                    ["experiment_id", "created_at"])
    op.create_index(op.f("ix_logged_models_run_id"), "logged_models", ["run_id"])
    op.create_table(
        "logged_model_files",
        sa.Column("model_id", MODEL_ID, nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["model_id"], ["logged_models.id"], ondelete="CASCADE",
                                name=op.f("fk_logged_model_files_model_id_logged_models")),
        sa.PrimaryKeyConstraint("model_id", "path", name=op.f("pk_logged_model_files")),
    )


def downgrade() -> None:
    op.drop_table("logged_model_files")
    op.drop_index(op.f("ix_logged_models_run_id"), table_name="logged_models")
    op.drop_index(op.f("ix_logged_models_experiment_id_created_at"), table_name="logged_models")
    op.drop_table("logged_models")
