"""Tables of the pipelines capability, on the shared ``tables.metadata``."""

from __future__ import annotations

from modelplane.store.tables import metadata

__all__ = ["metadata"]
