"""Tables of the pipelines capability, on the shared ``tables.metadata``.

- ``pipeline_runs`` / ``pipeline_step_runs``: one row per run and per step of it; a step
  run's ``cache_key`` indexes the cache, ``cache_parts`` explains a miss.
- ``pipeline_artifacts`` / ``pipeline_step_io``: typed values by digest and which step
  read or wrote them (lineage in both directions).
- ``pipeline_model_versions``: the registry versions a step registered (by name and number).
- ``pipeline_checkpoints``: distributed steps' checkpoints (blobs by digest), newest last.
- ``pipeline_schedules`` / ``pipeline_triggers``: cron schedules and the queue of firings.
  ``uq(schedule_id, fire_at)`` makes each occurrence fire once however many schedulers
  run; a claimed trigger holds a lease (``holder``, ``lease_until``) that another
  scheduler may take over once it has expired.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from modelplane.store.tables import ID, TS, BigId, metadata

__all__ = [
    "metadata",
    "pipeline_artifacts",
    "pipeline_checkpoints",
    "pipeline_model_versions",
    "pipeline_runs",
    "pipeline_schedules",
    "pipeline_step_io",
    "pipeline_step_runs",
    "pipeline_triggers",
]

DIGEST = String(64)

pipeline_runs = Table(
    "pipeline_runs",
    metadata,
    Column("id", ID, primary_key=True),
    Column("pipeline", String(256), nullable=False),
    Column("ref", Text, nullable=False, server_default=""),
    Column("workdir", Text, nullable=False, server_default=""),
    Column("params", JSON, nullable=False),
    Column("graph", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempt", Integer, nullable=False, server_default="1"),
    Column("trigger", Text, nullable=False, server_default=""),
    Column("host", String(256), nullable=False, server_default=""),
    Column("pid", Integer, nullable=True),
    Column("error", Text, nullable=False, server_default=""),
    Column("created_at", TS, nullable=False),
    Column("ended_at", TS, nullable=True),
    Index(None, "pipeline", "created_at"),
    Index(None, "status"),
)

pipeline_step_runs = Table(
    "pipeline_step_runs",
    metadata,
    Column("id", ID, primary_key=True),
    Column("pipeline_run_id", ID, ForeignKey("pipeline_runs.id", ondelete="CASCADE"),
           nullable=False),
    Column("name", String(256), nullable=False),
    Column("step", String(512), nullable=False),  # module:qualname of the function
    Column("status", String(16), nullable=False),
    Column("cache_key", DIGEST, nullable=True),
    Column("cache_parts", JSON, nullable=True),
    Column("cache_reason", Text, nullable=False, server_default=""),
    Column("cached_from", ID, nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("executor", String(32), nullable=False, server_default=""),
    Column("params", JSON, nullable=False),
    Column("tracking_run_id", ID, nullable=True),  # tracking's run, by id only
    Column("payload_digest", DIGEST, nullable=True),
    Column("error", Text, nullable=False, server_default=""),
    Column("started_at", TS, nullable=True),
    Column("ended_at", TS, nullable=True),
    UniqueConstraint("pipeline_run_id", "name"),
    Index(None, "cache_key"),
    Index(None, "tracking_run_id"),
)

pipeline_artifacts = Table(
    "pipeline_artifacts",
    metadata,
    Column("digest", DIGEST, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("type_name", String(256), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("meta", JSON, nullable=False),
    Column("created_at", TS, nullable=False),
)

pipeline_step_io = Table(
    "pipeline_step_io",
    metadata,
    Column("step_run_id", ID, ForeignKey("pipeline_step_runs.id", ondelete="CASCADE"),
           primary_key=True),
    Column("direction", String(3), primary_key=True),  # "in" or "out"
    Column("name", String(256), primary_key=True),
    Column("digest", DIGEST, ForeignKey("pipeline_artifacts.digest"), nullable=False),
    Index(None, "digest"),
)

pipeline_model_versions = Table(
    "pipeline_model_versions",
    metadata,
    Column("model_name", String(256), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("step_run_id", ID, ForeignKey("pipeline_step_runs.id", ondelete="CASCADE"),
           nullable=False),
    Index(None, "step_run_id"),
)

pipeline_checkpoints = Table(
    "pipeline_checkpoints",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("scope", String(300), nullable=False),  # pipeline run id / step name
    Column("digest", DIGEST, nullable=False),
    Column("meta", JSON, nullable=False),
    Column("created_at", TS, nullable=False),
    Index(None, "scope", "id"),
)

pipeline_schedules = Table(
    "pipeline_schedules",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("pipeline", String(256), nullable=False),
    Column("ref", Text, nullable=False),
    Column("workdir", Text, nullable=False, server_default=""),
    Column("cron", String(128), nullable=False),
    Column("params", JSON, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("next_fire_at", TS, nullable=False),
    Column("last_fired_at", TS, nullable=True),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Index(None, "enabled", "next_fire_at"),
)

pipeline_triggers = Table(
    "pipeline_triggers",
    metadata,
    Column("id", ID, primary_key=True),
    Column("pipeline", String(256), nullable=False),
    Column("ref", Text, nullable=False),
    Column("workdir", Text, nullable=False, server_default=""),
    Column("params", JSON, nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    Column("source", String(16), nullable=False),  # schedule, event
    Column("schedule_id", ID, nullable=True),
    Column("fire_at", TS, nullable=True),
    Column("status", String(16), nullable=False),  # pending, claimed, done, failed
    Column("holder", String(128), nullable=True),
    Column("lease_until", TS, nullable=True),
    Column("pipeline_run_id", ID, nullable=True),
    Column("error", Text, nullable=False, server_default=""),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    UniqueConstraint("schedule_id", "fire_at"),
    Index(None, "status", "created_at"),
)
