"""Every table of the metadata database, on one ``MetaData``.

Each capability defines its tables in its own module on :data:`tables.metadata`
(``tables`` holds the catalogue's); importing this module imports them all, which is
what Alembic's autogenerate and the migrations-agree test need.
"""

from __future__ import annotations

from modelplane.store import (
    tables,
    tables_auth,
    tables_deployments,
    tables_features,
    tables_logged_models,
    tables_monitoring,
    tables_pipelines,
)
from modelplane.store.tables import metadata

__all__ = [
    "metadata", "tables", "tables_auth", "tables_deployments", "tables_features",
    "tables_logged_models",
    "tables_monitoring",
    "tables_pipelines",
]
