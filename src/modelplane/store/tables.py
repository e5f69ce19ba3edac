"""Table definitions of the metadata database (SQLAlchemy Core).

Each capability owns its tables and refers to other capabilities' records by id only
(no foreign keys across capabilities). Alembic migrations in ``migrations/versions``
create exactly these tables (a test compares the two on SQLite and PostgreSQL).

Invariants that matter under concurrency are held here, not in Python:
- version numbers: ``registered_models.next_version`` is bumped with UPDATE ... RETURNING
  inside the write transaction, and ``uq(model_id, version)`` backs it;
- one holder per exclusive stage: a partial unique index on (model_id, stage) where the
  stage is staging or production;
- one version per alias: the alias is the primary key with the model id.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeDecorator

__all__ = ["metadata"]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

class UtcDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that always returns aware UTC datetimes, parsing SQLite's
    stored text with ``datetime.fromisoformat`` (C speed) instead of a regular expression:
    listing 1,000 runs parses 2,000 of them."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        if dialect.name == "sqlite":
            def parse(value: Any) -> datetime | None:
                if value is None:
                    return None
                parsed = datetime.fromisoformat(value)
                return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed
            return parse

        def to_utc(value: Any) -> datetime | None:
            if value is None or value.tzinfo is UTC:
                return value  # type: ignore[no-any-return]
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return to_utc


ID = String(32)
TS = UtcDateTime()
BigId = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrement needs INTEGER

#: Facts about this installation (installation id, creation time).
meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# -- tracking ----------------------------------------------------------------------------

experiments = Table(
    "experiments",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("description", Text, nullable=False, server_default=""),
    Column("tags", JSON, nullable=False),
    Column("lifecycle", String(16), nullable=False, server_default="active"),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", ID, primary_key=True),
    Column("experiment_id", ID, ForeignKey("experiments.id", ondelete="CASCADE"),
           nullable=False),
    Column("parent_run_id", ID, ForeignKey("runs.id", ondelete="SET NULL"), nullable=True),
    Column("name", String(256), nullable=False),
    Column("status", String(16), nullable=False),
    Column("lifecycle", String(16), nullable=False, server_default="active"),
    Column("start_time", TS, nullable=False),
    Column("end_time", TS, nullable=True),
    Column("user", String(128), nullable=False, server_default=""),
    Column("host", String(256), nullable=False, server_default=""),
    Column("pid", Integer, nullable=True),
    Column("source", Text, nullable=False, server_default=""),
    Column("code_commit", String(64), nullable=True),
    Column("code_dirty", Boolean, nullable=True),
    Column("heartbeat_at", TS, nullable=True),  # refreshed while the run's process lives
    Index(None, "experiment_id", "start_time"),
    Index(None, "status"),
)

params = Table(
    "params",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(256), primary_key=True),
    Column("value", Text, nullable=False),
    Index(None, "key", "value", "run_id"),  # search by and sort on a param's value
)

run_tags = Table(
    "run_tags",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(256), primary_key=True),
    Column("value", Text, nullable=False),
    Index(None, "key", "value", "run_id"),
)

#: Every logged value: the full history. Timestamps are epoch milliseconds (cheap to
#: write in bulk on every backend; the API returns aware UTC datetimes).
metrics = Table(
    "metrics",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("run_id", ID, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(256), nullable=False),
    Column("value", Float, nullable=True),  # NULL is NaN (SQLite stores NaN as NULL)
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),  # epoch milliseconds
    # covering: a history reads by step, a long one in buckets, never touching the table
    Index(None, "run_id", "key", "step", "value"),
)

#: The latest value per (run, key): what search filters and sorts on.
latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(256), primary_key=True),
    Column("value", Float, nullable=True),  # NULL is NaN
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),  # epoch milliseconds
    Index(None, "key", "value", "run_id"),  # covering: search walks it in value order
)

run_artifacts = Table(
    "run_artifacts",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("is_dir", Boolean, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_at", TS, nullable=False),
)

#: A dataset version, stored once per content digest.
datasets = Table(
    "datasets",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("name", String(256), nullable=False),
    Column("source", Text, nullable=False, server_default=""),
    Column("num_rows", BigInteger, nullable=False),
    Column("num_columns", Integer, nullable=False),
    Column("schema", JSON, nullable=False),
    Column("profile", JSON, nullable=False),
    Column("created_at", TS, nullable=False),
)

run_datasets = Table(
    "run_datasets",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("dataset_digest", String(64), ForeignKey("datasets.digest"), primary_key=True),
    Column("role", String(64), primary_key=True),
    Column("name", String(256), nullable=False),
    Column("created_at", TS, nullable=False),
)

# -- registry ----------------------------------------------------------------------------

registered_models = Table(
    "registered_models",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("description", Text, nullable=False, server_default=""),
    Column("next_version", Integer, nullable=False, server_default="1"),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
)

model_tags = Table(
    "model_tags",
    metadata,
    Column("model_id", ID, ForeignKey("registered_models.id", ondelete="CASCADE"),
           primary_key=True),
    Column("key", String(256), primary_key=True),
    Column("value", Text, nullable=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("model_id", ID, ForeignKey("registered_models.id", ondelete="CASCADE"),
           nullable=False),
    Column("version", Integer, nullable=False),
    Column("stage", String(16), nullable=False, server_default="development"),
    Column("description", Text, nullable=False, server_default=""),
    Column("run_id", ID, nullable=True),  # tracking's run, by id only
    Column("artifact_digest", String(64), nullable=False),
    Column("flavor", String(32), nullable=False),
    Column("size", BigInteger, nullable=False, server_default="0"),
    Column("signature", JSON, nullable=True),
    Column("input_example", JSON, nullable=True),
    Column("metrics", JSON, nullable=False),
    Column("datasets", JSON, nullable=False),
    Column("model_meta", JSON, nullable=False),
    Column("code_commit", String(64), nullable=True),
    Column("code_dirty", Boolean, nullable=True),
    Column("created_by", String(128), nullable=False, server_default=""),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    UniqueConstraint("model_id", "version"),
    Index(
        "uq_model_versions_exclusive_stage",
        "model_id",
        "stage",
        unique=True,
        sqlite_where=text("stage IN ('staging', 'production')"),
        postgresql_where=text("stage IN ('staging', 'production')"),
    ),
    Index(None, "run_id"),
)

model_version_tags = Table(
    "model_version_tags",
    metadata,
    Column("version_id", ID, ForeignKey("model_versions.id", ondelete="CASCADE"),
           primary_key=True),
    Column("key", String(256), primary_key=True),
    Column("value", Text, nullable=False),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("model_id", ID, ForeignKey("registered_models.id", ondelete="CASCADE"),
           primary_key=True),
    Column("alias", String(128), primary_key=True),
    Column("version_id", ID, ForeignKey("model_versions.id", ondelete="CASCADE"),
           nullable=False),
)

#: Append-only: every version creation, stage move and alias change, in order.
registry_audit = Table(
    "registry_audit",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("model_id", ID, nullable=False),
    Column("model_name", String(256), nullable=False),
    Column("version", Integer, nullable=True),
    Column("action", String(32), nullable=False),
    Column("field", String(128), nullable=True),
    Column("from_value", String(256), nullable=True),
    Column("to_value", String(256), nullable=True),
    Column("displaced_version", Integer, nullable=True),
    Column("actor", String(128), nullable=False, server_default=""),
    Column("reason", Text, nullable=False, server_default=""),
    Column("at", TS, nullable=False),
    Index(None, "model_id", "id"),
)
