"""Tabular data helpers every capability may use: load any table as Arrow, fingerprint
it, profile it.

- :func:`~modelplane.data.tables.to_arrow`: pandas, Arrow, Arrow streams, dicts, numpy,
  or a path/fsspec URL of Parquet, CSV/TSV or JSON lines.
- :func:`~modelplane.data.digest.canonical_digest`: sha256 of a table's canonical form.
- :func:`~modelplane.data.profile.profile`: per-column summaries, the drift reference.

numpy, pyarrow and pandas are imported inside functions: ``import modelplane`` stays light.
"""

from __future__ import annotations

from modelplane.data.digest import canonical_digest
from modelplane.data.profile import QUANTILES, profile
from modelplane.data.tables import load_table, schema_of, to_arrow

__all__ = ["QUANTILES", "canonical_digest", "load_table", "profile", "schema_of", "to_arrow"]
