"""Reference profiles: the fixed bins every later count and drift score is measured on.

A reference is two profiles in the format of :func:`modelplane.tracking.datasets.profile`:
one of the model's input features and (optionally) one of its predictions. It comes from
the training dataset logged with the version (the catalogue already stores that profile,
20 quantile bins and the 50 most frequent categories), or is built here from a DataFrame,
by default with 100 quantile bins and up to 1,000 categories per column, fine enough for
the binned KS statistic to be within 1% of the exact one.

A :class:`Layout` turns the profiles into slots of one flat count vector:

- numeric column with edges ``e[0] .. e[B]``: ``[below e[0], bin 1 .. bin B, above e[B],
  missing]``; bin ``i`` holds ``e[i-1] <= x < e[i]``, the last bin also ``x == e[B]``
  (the profile's convention); missing is null, NaN or infinite;
- categorical column with reference categories ``c1 .. cK``: ``[c1 .. cK, other, missing]``;
  ``other`` holds every value not among the listed categories, so unseen categories are
  counted, not dropped; booleans are categories ``True`` and ``False``.

Datetime and other columns are not monitored for drift.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from modelplane.core.errors import InvalidArgumentError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["PREDICTION_COLUMN", "ColumnLayout", "Layout", "Reference", "build_profile",
           "restrict_to_signature"]

#: The column name of a scalar model output.
PREDICTION_COLUMN = "prediction"
DEFAULT_BINS = 100
DEFAULT_TOP_K = 1000


@dataclass(frozen=True)
class ColumnLayout:
    """One monitored column: where its slots start in the count vector and its bins."""

    name: str
    role: str  # "feature" or "prediction"
    kind: str  # "numeric" or "categorical"
    offset: int
    size: int
    edges: tuple[float, ...] = ()
    categories: tuple[Any, ...] = ()
    reference: tuple[int, ...] = ()  # the reference's counts in this column's slots
    std: float | None = None
    numeric_index: int = -1  # position among numeric columns (sums and extremes)

    @property
    def key(self) -> str:
        return self.name if self.role == "feature" else f"{PREDICTION_COLUMN}:{self.name}"

    @property
    def bins(self) -> int:
        return len(self.edges) - 1


@dataclass
class Layout:
    """The slots of every monitored column of a reference, features first."""

    columns: list[ColumnLayout]
    size: int
    numeric_count: int
    feature_names: tuple[str, ...]

    @classmethod
    def from_profiles(cls, features: dict[str, Any],
                      predictions: dict[str, Any] | None = None) -> Layout:
        columns: list[ColumnLayout] = []
        offset = numeric = 0
        names: list[str] = []
        for role, profile in (("feature", features), ("prediction", predictions or {})):
            for col in profile.get("columns", []):
                built = _column(col, role, offset, numeric)
                if role == "feature":
                    names.append(str(col["name"]))
                if built is None:
                    continue
                columns.append(built)
                offset += built.size
                numeric += built.kind == "numeric"
        return cls(columns=columns, size=offset, numeric_count=numeric,
                   feature_names=tuple(names))

    @cached_property
    def by_key(self) -> dict[str, ColumnLayout]:
        return {c.key: c for c in self.columns}

    @cached_property
    def features(self) -> list[ColumnLayout]:
        return [c for c in self.columns if c.role == "feature"]

    @cached_property
    def predictions(self) -> list[ColumnLayout]:
        return [c for c in self.columns if c.role == "prediction"]

    def reference_vector(self) -> np.ndarray:
        import numpy as np

        out = np.zeros(self.size, np.int64)
        for c in self.columns:
            out[c.offset: c.offset + c.size] = c.reference
        return out


def _column(col: dict[str, Any], role: str, offset: int, numeric: int) -> ColumnLayout | None:
    kind, name = col.get("kind"), str(col["name"])
    missing = int(col.get("null_count") or 0) + int(col.get("non_finite_count") or 0)
    if kind == "numeric":
        edges = tuple(float(e) for e in col.get("bin_edges") or [] if e is not None)
        if len(edges) < 2:
            return None
        counts = [int(c) for c in col["bin_counts"]]
        ref = (0, *counts, 0, missing)
        return ColumnLayout(name=name, role=role, kind="numeric", offset=offset, size=len(ref),
                            edges=edges, reference=ref, std=col.get("std"),
                            numeric_index=numeric)
    if kind == "categorical":
        freq = col.get("frequencies") or {}
        cats = tuple(freq)
        ref = (*(int(v) for v in freq.values()), int(col.get("other_count") or 0), missing)
    elif kind == "boolean":
        cats = (True, False)
        ref = (int(col.get("true_count") or 0), int(col.get("false_count") or 0), 0, missing)
    else:
        return None
    return ColumnLayout(name=name, role=role, kind="categorical", offset=offset,
                        size=len(ref), categories=cats, reference=ref)


def build_profile(data: Any, *, bins: int = DEFAULT_BINS, top_k: int = DEFAULT_TOP_K,
                  field: str = "data") -> dict[str, Any]:
    """The profile of ``data`` (anything :func:`~modelplane.tracking.datasets.to_arrow`
    takes; a 1-D array or a Series is the single column ``prediction``)."""
    import numpy as np

    from modelplane.data import profile, to_arrow

    if isinstance(data, list | tuple):
        data = np.asarray(data)
    if isinstance(data, np.ndarray) and data.ndim == 1:
        data = {PREDICTION_COLUMN: data}
    series = getattr(data, "to_frame", None)
    if callable(series) and getattr(data, "ndim", 2) == 1:
        data = data.to_frame(name=data.name if data.name is not None else PREDICTION_COLUMN)
    table = to_arrow(data)
    if table.num_rows == 0:
        raise InvalidArgumentError(f"{field}: a reference needs at least one row",
                                   details={"field": field})
    return profile(table, bins=bins, top_k=top_k)


@dataclass(frozen=True)
class Reference:
    """The reference of one model (``version`` 0: every version without its own)."""

    id: str
    model: str
    version: int
    source: str
    features: dict[str, Any]
    predictions: dict[str, Any] | None
    created_at: datetime
    layout: Layout = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "layout", Layout.from_profiles(self.features, self.predictions))

    @property
    def num_rows(self) -> int:
        return int(self.features.get("num_rows") or 0)

    def fingerprint(self) -> str:
        body = json.dumps([self.features, self.predictions], sort_keys=True, default=str)
        return hashlib.sha256(body.encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "model": self.model, "version": self.version,
                "source": self.source, "num_rows": self.num_rows,
                "features": [c.name for c in self.layout.features],
                "predictions": [c.name for c in self.layout.predictions],
                "created_at": self.created_at}


def restrict_to_signature(profile: dict[str, Any], signature: dict[str, Any] | None
                          ) -> dict[str, Any]:
    """The profile's columns that the signature names as inputs (all when it names none;
    the first N for a single ``[-1, N]`` tensor input)."""
    inputs = (signature or {}).get("inputs") or []
    columns = profile.get("columns", [])
    names = {i.get("name") for i in inputs if i.get("shape") is None}
    if names and names & {c["name"] for c in columns}:
        return {**profile, "columns": [c for c in columns if c["name"] in names]}
    if len(inputs) == 1 and len(inputs[0].get("shape") or []) == 2:
        width = int(inputs[0]["shape"][1])
        if 0 < width < len(columns):
            return {**profile, "columns": columns[:width]}
    return profile
