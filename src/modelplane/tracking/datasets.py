"""Dataset versioning: what tracking records about a dataset (:class:`DatasetInfo`).

:func:`describe` loads any tabular input (:mod:`modelplane.data`), fingerprints it,
records its schema and profiles it.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

from modelplane.data import canonical_digest, load_table, profile, schema_of

__all__ = ["DatasetInfo", "describe"]


@dataclass(frozen=True)
class DatasetInfo:
    """What tracking records about a dataset: its fingerprint, shape, schema and profile."""

    digest: str
    name: str | None
    num_rows: int
    num_columns: int
    schema: list[dict[str, Any]]
    profile: dict[str, Any] | None
    source: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def describe(data: Any, *, name: str | None = None, with_profile: bool = True,
             bins: int = 20, top_k: int = 50) -> DatasetInfo:
    """Load ``data`` and record its digest, shape, schema, profile and source (the path or
    URL, or ``"dataframe"`` for in-memory data). A file's name defaults to its stem."""
    table, source = load_table(data)
    if name is None and source != "dataframe":
        stem = os.path.basename(source.rstrip("/"))
        name = stem.split(".")[0] or None
    return DatasetInfo(
        digest=canonical_digest(table), name=name, num_rows=table.num_rows,
        num_columns=table.num_columns, schema=schema_of(table),
        profile=profile(table, bins=bins, top_k=top_k) if with_profile else None,
        source=source)
