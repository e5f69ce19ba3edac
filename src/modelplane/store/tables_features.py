"""Tables of the feature store, on the shared ``tables.metadata``.

- ``feature_entities``: one row per entity (updated in place).
- ``feature_views``: batch and on-demand views; a new row (version) per schema hash, older
  versions kept readable; other changes (source, TTL, tags) update the newest version.
- ``feature_services``: a new version when the list of features changes.
- ``project`` and ``removed_at`` (on those three): the feature repo that last applied a
  definition, and when ``apply`` pruned it (its repo no longer declares it; set on every
  row of the name). Removed rows stay, so pinned versions remain readable.
- ``feature_materializations``: every materialization or push of a view version (window,
  rows written, the profile of the values written).
- ``feature_watermarks``: how far ``materialize_incremental`` has gone, per view version.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, String, Table, UniqueConstraint

from modelplane.store.tables import ID, TS, BigId, metadata

__all__ = [
    "feature_entities",
    "feature_materializations",
    "feature_services",
    "feature_views",
    "feature_watermarks",
    "metadata",
]

feature_entities = Table(
    "feature_entities",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("spec", JSON, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("project", String(128), nullable=True),
    Column("removed_at", TS, nullable=True),
)

feature_views = Table(
    "feature_views",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("schema_hash", String(64), nullable=False),
    Column("spec", JSON, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("project", String(128), nullable=True),
    Column("removed_at", TS, nullable=True),
    UniqueConstraint("name", "version"),
)

feature_services = Table(
    "feature_services",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("schema_hash", String(64), nullable=False),
    Column("spec", JSON, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("project", String(128), nullable=True),
    Column("removed_at", TS, nullable=True),
    UniqueConstraint("name", "version"),
)

feature_materializations = Table(
    "feature_materializations",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("view_name", String(128), nullable=False),
    Column("view_version", Integer, nullable=False),
    Column("kind", String(16), nullable=False),  # materialize | push
    Column("start_time", TS, nullable=True),
    Column("end_time", TS, nullable=True),
    Column("num_rows", BigInteger, nullable=False),
    Column("profile", JSON, nullable=True),
    Column("created_at", TS, nullable=False),
    Index(None, "view_name", "view_version", "id"),
)

feature_watermarks = Table(
    "feature_watermarks",
    metadata,
    Column("view_name", String(128), primary_key=True),
    Column("view_version", Integer, primary_key=True),
    Column("watermark", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
)
