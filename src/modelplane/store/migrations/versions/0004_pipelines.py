"""Tables of the pipelines (pipeline runs, step runs, artifacts, cache, schedules, leases).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pipeline_artifacts",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("type_name", sa.String(length=256), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_pipeline_artifacts")),
    )
    op.create_table(
        "pipeline_checkpoints",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("scope", sa.String(length=300), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_checkpoints")),
    )
    op.create_index(
        op.f("ix_pipeline_checkpoints_scope_id"),
        "pipeline_checkpoints",
        ["scope", "id"],
        unique=False,
    )
    op.create_table(
        "pipeline_runs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("pipeline", sa.String(length=256), nullable=False),
        sa.Column("ref", sa.Text(), server_default="", nullable=False),
        sa.Column("workdir", sa.Text(), server_default="", nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("graph", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempt", sa.Integer(), server_default="1", nullable=False),
        sa.Column("trigger", sa.Text(), server_default="", nullable=False),
        sa.Column("host", sa.String(length=256), server_default="", nullable=False),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_runs")),
    )
    op.create_index(
        op.f("ix_pipeline_runs_pipeline_created_at"),
        "pipeline_runs",
        ["pipeline", "created_at"],
        unique=False,
    )
    op.create_index(op.f("ix_pipeline_runs_status"), "pipeline_runs", ["status"], unique=False)
    op.create_table(
        "pipeline_schedules",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("pipeline", sa.String(length=256), nullable=False),
        sa.Column("ref", sa.Text(), nullable=False),
        sa.Column("workdir", sa.Text(), server_default="", nullable=False),
        sa.Column("cron", sa.String(length=128), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("next_fire_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_fired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_schedules")),
        sa.UniqueConstraint("name", name=op.f("uq_pipeline_schedules_name")),
    )
    op.create_index(
        op.f("ix_pipeline_schedules_enabled_next_fire_at"),
        "pipeline_schedules",
        ["enabled", "next_fire_at"],
        unique=False,
    )
    op.create_table(
        "pipeline_triggers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("pipeline", sa.String(length=256), nullable=False),
        sa.Column("ref", sa.Text(), nullable=False),
        sa.Column("workdir", sa.Text(), server_default="", nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("schedule_id", sa.String(length=32), nullable=True),
        sa.Column("fire_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pipeline_run_id", sa.String(length=32), nullable=True),
        sa.Column("error", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_triggers")),
        sa.UniqueConstraint(
            "schedule_id", "fire_at", name=op.f("uq_pipeline_triggers_schedule_id_fire_at")
        ),
    )
    op.create_index(
        op.f("ix_pipeline_triggers_status_created_at"),
        "pipeline_triggers",
        ["status", "created_at"],
        unique=False,
    )
    op.create_table(
        "pipeline_step_runs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("pipeline_run_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("step", sa.String(length=512), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("cache_key", sa.String(length=64), nullable=True),
        sa.Column("cache_parts", sa.JSON(), nullable=True),
        sa.Column("cache_reason", sa.Text(), server_default="", nullable=False),
        sa.Column("cached_from", sa.String(length=32), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("executor", sa.String(length=32), server_default="", nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("tracking_run_id", sa.String(length=32), nullable=True),
        sa.Column("payload_digest", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), server_default="", nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["pipeline_run_id"],
            ["pipeline_runs.id"],
            name=op.f("fk_pipeline_step_runs_pipeline_run_id_pipeline_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_step_runs")),
        sa.UniqueConstraint(
            "pipeline_run_id", "name", name=op.f("uq_pipeline_step_runs_pipeline_run_id_name")
        ),
    )
    op.create_index(
        op.f("ix_pipeline_step_runs_cache_key"), "pipeline_step_runs", ["cache_key"], unique=False
    )
    op.create_index(
        op.f("ix_pipeline_step_runs_tracking_run_id"),
        "pipeline_step_runs",
        ["tracking_run_id"],
        unique=False,
    )
    op.create_table(
        "pipeline_model_versions",
        sa.Column("model_name", sa.String(length=256), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("step_run_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["step_run_id"],
            ["pipeline_step_runs.id"],
            name=op.f("fk_pipeline_model_versions_step_run_id_pipeline_step_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("model_name", "version", name=op.f("pk_pipeline_model_versions")),
    )
    op.create_index(
        op.f("ix_pipeline_model_versions_step_run_id"),
        "pipeline_model_versions",
        ["step_run_id"],
        unique=False,
    )
    op.create_table(
        "pipeline_step_io",
        sa.Column("step_run_id", sa.String(length=32), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["digest"],
            ["pipeline_artifacts.digest"],
            name=op.f("fk_pipeline_step_io_digest_pipeline_artifacts"),
        ),
        sa.ForeignKeyConstraint(
            ["step_run_id"],
            ["pipeline_step_runs.id"],
            name=op.f("fk_pipeline_step_io_step_run_id_pipeline_step_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "step_run_id", "direction", "name", name=op.f("pk_pipeline_step_io")
        ),
    )
    op.create_index(
        op.f("ix_pipeline_step_io_digest"), "pipeline_step_io", ["digest"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_pipeline_step_io_digest"), table_name="pipeline_step_io")
    op.drop_table("pipeline_step_io")
    op.drop_index(
        op.f("ix_pipeline_model_versions_step_run_id"), table_name="pipeline_model_versions"
    )
    op.drop_table("pipeline_model_versions")
    op.drop_index(op.f("ix_pipeline_step_runs_tracking_run_id"), table_name="pipeline_step_runs")
    op.drop_index(op.f("ix_pipeline_step_runs_cache_key"), table_name="pipeline_step_runs")
    op.drop_table("pipeline_step_runs")
    op.drop_index(op.f("ix_pipeline_triggers_status_created_at"), table_name="pipeline_triggers")
    op.drop_table("pipeline_triggers")
    op.drop_index(
        op.f("ix_pipeline_schedules_enabled_next_fire_at"), table_name="pipeline_schedules"
    )
    op.drop_table("pipeline_schedules")
    op.drop_index(op.f("ix_pipeline_runs_status"), table_name="pipeline_runs")
    op.drop_index(op.f("ix_pipeline_runs_pipeline_created_at"), table_name="pipeline_runs")
    op.drop_table("pipeline_runs")
    op.drop_index(op.f("ix_pipeline_checkpoints_scope_id"), table_name="pipeline_checkpoints")
    op.drop_table("pipeline_checkpoints")
    op.drop_table("pipeline_artifacts")
