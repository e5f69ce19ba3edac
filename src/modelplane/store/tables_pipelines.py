"""Tables of the pipelines (pipeline runs, step runs, artifacts, cache, schedules, leases), on the shared :data:`~modelplane.store.tables.metadata`."""

from __future__ import annotations

from modelplane.store.tables import metadata

__all__ = ["metadata"]
