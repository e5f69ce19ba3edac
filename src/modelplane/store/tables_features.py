"""Tables of the feature store (entities, feature views, services, materialization watermarks), on the shared :data:`~modelplane.store.tables.metadata`."""

from __future__ import annotations

from modelplane.store.tables import metadata

__all__ = ["metadata"]
