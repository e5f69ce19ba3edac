"""Tables of monitoring, on the shared ``tables.metadata``.

- ``monitoring_predictions``: the prediction log (one row per predicted row; ``ts`` in
  epoch milliseconds, cheap to bulk-insert and to range-scan). Version 0 means "not a
  registry version" (a model served by path).
- ``monitoring_labels``: ground truth joined by (model, request id, row index); the
  prediction's time is copied so windows and retention need no join.
- ``monitoring_references``: the reference profile per (model, version); version 0 is the
  model-wide default for versions without their own.
- ``monitoring_stats``: per (model, version, time bucket) request counts, errors, cache
  hits, dropped log records and a sparse log-spaced latency histogram (health windows sum
  buckets instead of rescanning the log).
- ``monitoring_counts``: per (reference, version, time bucket) the binned counts of every
  reference column, as little-endian int64/float64 vectors (drift windows sum buckets).
- ``monitoring_rules`` / ``monitoring_alerts``: alert rules and the history of firings
  (kept when a rule is deleted, so no foreign key).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from modelplane.store.tables import ID, TS, BigId, metadata

__all__ = [
    "metadata",
    "monitoring_alerts",
    "monitoring_counts",
    "monitoring_labels",
    "monitoring_predictions",
    "monitoring_references",
    "monitoring_rules",
    "monitoring_stats",
]

NAME = String(256)

monitoring_predictions = Table(
    "monitoring_predictions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("model", NAME, nullable=False),
    Column("version", Integer, nullable=False),
    Column("deployment", NAME, nullable=True),
    Column("variant", String(128), nullable=True),
    Column("request_id", String(128), nullable=False),
    Column("row_index", Integer, nullable=False),
    Column("ts", BigInteger, nullable=False),  # epoch milliseconds
    Column("inputs", JSON, nullable=True),
    Column("outputs", JSON, nullable=True),
    Column("latency_s", Float, nullable=True),
    Column("cache_hit", Boolean, nullable=False),
    Column("status", String(16), nullable=False),
    Column("error", Text, nullable=True),
    Index(None, "model", "ts"),
    Index(None, "model", "request_id", "row_index"),
)

monitoring_labels = Table(
    "monitoring_labels",
    metadata,
    Column("model", NAME, primary_key=True),
    Column("request_id", String(128), primary_key=True),
    Column("row_index", Integer, primary_key=True),
    Column("label", JSON, nullable=False),
    Column("prediction_ts", BigInteger, nullable=False),  # epoch ms, copied from the log
    Column("created_at", BigInteger, nullable=False),  # epoch ms
    Index(None, "model", "prediction_ts"),
)

monitoring_references = Table(
    "monitoring_references",
    metadata,
    Column("id", ID, primary_key=True),
    Column("model", NAME, nullable=False),
    Column("version", Integer, nullable=False),  # 0: every version without its own
    Column("source", Text, nullable=False),
    Column("features", JSON, nullable=False),
    Column("predictions", JSON, nullable=True),
    Column("created_at", TS, nullable=False),
    UniqueConstraint("model", "version"),
)

monitoring_stats = Table(
    "monitoring_stats",
    metadata,
    Column("model", NAME, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("bucket", BigInteger, primary_key=True),  # epoch ms of the bucket's start
    Column("n", BigInteger, nullable=False),
    Column("errors", BigInteger, nullable=False),
    Column("cache_hits", BigInteger, nullable=False),
    Column("dropped", BigInteger, nullable=False),
    Column("latency_sum", Float, nullable=False),
    Column("latency_hist", JSON, nullable=False),
    Index(None, "bucket"),
)

monitoring_counts = Table(
    "monitoring_counts",
    metadata,
    Column("reference_id", ID, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("bucket", BigInteger, primary_key=True),
    Column("model", NAME, nullable=False),
    Column("n", BigInteger, nullable=False),
    Column("slots", LargeBinary, nullable=False),
    Column("sums", LargeBinary, nullable=False),
    Column("extremes", LargeBinary, nullable=False),
    Index(None, "bucket"),
)

monitoring_rules = Table(
    "monitoring_rules",
    metadata,
    Column("id", ID, primary_key=True),
    Column("model", NAME, nullable=False),
    Column("name", NAME, nullable=False),
    Column("metric", NAME, nullable=False),
    Column("op", String(2), nullable=False),
    Column("threshold", Float, nullable=False),
    Column("window_spec", String(128), nullable=False),
    Column("version", Integer, nullable=True),
    Column("cooldown_s", Float, nullable=False),
    Column("actions", JSON, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("last_fired_at", TS, nullable=True),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    UniqueConstraint("model", "name"),
)

monitoring_alerts = Table(
    "monitoring_alerts",
    metadata,
    Column("id", ID, primary_key=True),
    Column("rule_id", ID, nullable=False),
    Column("model", NAME, nullable=False),
    Column("rule_name", NAME, nullable=False),
    Column("metric", NAME, nullable=False),
    Column("op", String(2), nullable=False),
    Column("threshold", Float, nullable=False),
    Column("value", Float, nullable=True),
    Column("window_spec", String(128), nullable=False),
    Column("version", Integer, nullable=True),
    Column("status", String(16), nullable=False),
    Column("actions", JSON, nullable=False),
    Column("fired_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Index(None, "model", "fired_at"),
)
