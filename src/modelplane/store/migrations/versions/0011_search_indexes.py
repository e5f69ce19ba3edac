"""Search that does not scan: value indexes on params and tags, and the latest-metrics
value index made covering (``run_id`` in it), so a filter or an ordering on a key walks
an index instead of every run; the history index covers (run, key, step, value), so a
long history is read in step order, or in buckets, from the index alone.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_params_key_value_run_id"), "params", ["key", "value", "run_id"])
    op.create_index(op.f("ix_run_tags_key_value_run_id"), "run_tags",
                    ["key", "value", "run_id"])
    op.create_index(op.f("ix_latest_metrics_key_value_run_id"), "latest_metrics",
                    ["key", "value", "run_id"])
    op.drop_index(op.f("ix_latest_metrics_key_value"), table_name="latest_metrics")
    op.create_index(op.f("ix_metrics_run_id_key_step_value"), "metrics",
                    ["run_id", "key", "step", "value"])
    op.drop_index(op.f("ix_metrics_run_id_key"), table_name="metrics")


def downgrade() -> None:
    op.create_index(op.f("ix_metrics_run_id_key"), "metrics", ["run_id", "key"])
    op.drop_index(op.f("ix_metrics_run_id_key_step_value"), table_name="metrics")
    op.create_index(op.f("ix_latest_metrics_key_value"), "latest_metrics", ["key", "value"])
    op.drop_index(op.f("ix_latest_metrics_key_value_run_id"), table_name="latest_metrics")
    op.drop_index(op.f("ix_run_tags_key_value_run_id"), table_name="run_tags")
    op.drop_index(op.f("ix_params_key_value_run_id"), table_name="params")
