"""Tables of monitoring (prediction log, drift counts, labels, alert rules and history).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ID = sa.String(length=32)
NAME = sa.String(length=256)


def upgrade() -> None:
    op.create_table(
        "monitoring_predictions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  autoincrement=True, nullable=False),
        sa.Column("model", NAME, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deployment", NAME, nullable=True),
        sa.Column("variant", sa.String(length=128), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=False),
        sa.Column("row_index", sa.Integer(), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=True),
        sa.Column("outputs", sa.JSON(), nullable=True),
        sa.Column("latency_s", sa.Float(), nullable=True),
        sa.Column("cache_hit", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_predictions")),
    )
    op.create_index(op.f("ix_monitoring_predictions_model_request_id_row_index"),
                    "monitoring_predictions", ["model", "request_id", "row_index"])
    op.create_index(op.f("ix_monitoring_predictions_model_ts"), "monitoring_predictions",
                    ["model", "ts"])
    op.create_table(
        "monitoring_labels",
        sa.Column("model", NAME, nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=False),
        sa.Column("row_index", sa.Integer(), nullable=False),
        sa.Column("label", sa.JSON(), nullable=False),
        sa.Column("prediction_ts", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("model", "request_id", "row_index",
                                name=op.f("pk_monitoring_labels")),
    )
    op.create_index(op.f("ix_monitoring_labels_model_prediction_ts"), "monitoring_labels",
                    ["model", "prediction_ts"])
    op.create_table(
        "monitoring_references",
        sa.Column("id", ID, nullable=False),
        sa.Column("model", NAME, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("predictions", sa.JSON(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_references")),
        sa.UniqueConstraint("model", "version",
                            name=op.f("uq_monitoring_references_model_version")),
    )
    op.create_table(
        "monitoring_stats",
        sa.Column("model", NAME, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("errors", sa.BigInteger(), nullable=False),
        sa.Column("cache_hits", sa.BigInteger(), nullable=False),
        sa.Column("dropped", sa.BigInteger(), nullable=False),
        sa.Column("latency_sum", sa.Float(), nullable=False),
        sa.Column("latency_hist", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("model", "version", "bucket", name=op.f("pk_monitoring_stats")),
    )
    op.create_index(op.f("ix_monitoring_stats_bucket"), "monitoring_stats", ["bucket"])
    op.create_table(
        "monitoring_counts",
        sa.Column("reference_id", ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("model", NAME, nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("slots", sa.LargeBinary(), nullable=False),
        sa.Column("sums", sa.LargeBinary(), nullable=False),
        sa.Column("extremes", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("reference_id", "version", "bucket",
                                name=op.f("pk_monitoring_counts")),
    )
    op.create_index(op.f("ix_monitoring_counts_bucket"), "monitoring_counts", ["bucket"])
    op.create_table(
        "monitoring_rules",
        sa.Column("id", ID, nullable=False),
        sa.Column("model", NAME, nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("metric", NAME, nullable=False),
        sa.Column("op", sa.String(length=2), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("window_spec", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("cooldown_s", sa.Float(), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("last_fired_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_rules")),
        sa.UniqueConstraint("model", "name", name=op.f("uq_monitoring_rules_model_name")),
    )
    op.create_table(
        "monitoring_alerts",
        sa.Column("id", ID, nullable=False),
        sa.Column("rule_id", ID, nullable=False),
        sa.Column("model", NAME, nullable=False),
        sa.Column("rule_name", NAME, nullable=False),
        sa.Column("metric", NAME, nullable=False),
        sa.Column("op", sa.String(length=2), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("window_spec", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("fired_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_alerts")),
    )
    op.create_index(op.f("ix_monitoring_alerts_model_fired_at"), "monitoring_alerts",
                    ["model", "fired_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_monitoring_alerts_model_fired_at"), table_name="monitoring_alerts")
    op.drop_table("monitoring_alerts")
    op.drop_table("monitoring_rules")
    op.drop_index(op.f("ix_monitoring_counts_bucket"), table_name="monitoring_counts")
    op.drop_table("monitoring_counts")
    op.drop_index(op.f("ix_monitoring_stats_bucket"), table_name="monitoring_stats")
    op.drop_table("monitoring_stats")
    op.drop_table("monitoring_references")
    op.drop_index(op.f("ix_monitoring_labels_model_prediction_ts"),
                  table_name="monitoring_labels")
    op.drop_table("monitoring_labels")
    op.drop_index(op.f("ix_monitoring_predictions_model_ts"),
                  table_name="monitoring_predictions")
    op.drop_index(op.f("ix_monitoring_predictions_model_request_id_row_index"),
                  table_name="monitoring_predictions")
    op.drop_table("monitoring_predictions")
