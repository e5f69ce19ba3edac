"""Tables of deployments, on the shared ``tables.metadata``.

- ``deployments``: one row per deployment: its model, variants (JSON), the canary in
  progress or last finished (JSON), the variants before the last switch, and a revision
  bumped by every change (writes lock the row, so changes never interleave).
- ``deployment_events``: the append-only history of changes and canary decisions.
- ``deployment_stats``: per (deployment, variant, version, one-second bucket, replica)
  request counts, errors, latency sum and a sparse latency histogram; each replica
  replaces its own row, and a canary's analysis sums the rows of every replica.
- ``deployment_leases``: short leases, so that one replica acts on a canary at a time.
- ``deployment_eval_gates``: per registered model, the evaluation gates a version must
  pass before it enters staging or production.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from modelplane.store.tables import ID, TS, BigId, metadata

__all__ = [
    "deployment_eval_gates",
    "deployment_events",
    "deployment_leases",
    "deployment_stats",
    "deployments",
    "metadata",
]

NAME = String(256)

deployments = Table(
    "deployments",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", NAME, nullable=False, unique=True),
    Column("model", NAME, nullable=False),
    Column("variants", JSON, nullable=False),
    Column("key_field", NAME, nullable=True),
    Column("canary", JSON, nullable=True),
    Column("previous", JSON, nullable=True),
    Column("revision", Integer, nullable=False),
    Column("description", Text, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
)

deployment_events = Table(
    "deployment_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("deployment", NAME, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("reason", Text, nullable=False),
    Column("detail", JSON, nullable=False),
    Column("at", TS, nullable=False),
    Index(None, "deployment", "id"),
)

deployment_stats = Table(
    "deployment_stats",
    metadata,
    Column("deployment", NAME, primary_key=True),
    Column("variant", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("bucket", BigInteger, primary_key=True),  # epoch seconds
    Column("replica", String(32), primary_key=True),
    Column("n", BigInteger, nullable=False),
    Column("errors", BigInteger, nullable=False),
    Column("latency_sum", Float, nullable=False),
    Column("latency_hist", JSON, nullable=False),
    Index(None, "bucket"),
)

deployment_leases = Table(
    "deployment_leases",
    metadata,
    Column("key", NAME, primary_key=True),
    Column("holder", String(64), nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
)

deployment_eval_gates = Table(
    "deployment_eval_gates",
    metadata,
    Column("model", NAME, primary_key=True),
    Column("config", JSON, nullable=False),
    Column("updated_at", TS, nullable=False),
)
