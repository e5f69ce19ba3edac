"""Monitoring results that combine a window with a verdict: drift reports and label
results (health and performance reports live beside their computations)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from modelplane.core.errors import InvalidArgumentError
from modelplane.monitoring.drift import DriftResult
from modelplane.monitoring.profiles import Reference

__all__ = ["DriftReport", "LabelResult", "label_rows"]


@dataclass
class DriftReport:
    """Drift of ``model`` over ``window`` for ``versions`` against ``reference``."""

    model: str
    window: str
    versions: list[int]
    reference: Reference
    result: DriftResult

    @property
    def share(self) -> float:
        return self.result.share

    def to_dict(self) -> dict[str, Any]:
        ref = self.reference
        return {"model": self.model, "window": self.window, "versions": self.versions,
                "reference": {"id": ref.id, "version": ref.version, "source": ref.source,
                              "num_rows": ref.num_rows},
                **self.result.to_dict()}


@dataclass
class LabelResult:
    """What ``log_labels`` did: labels stored, and request ids no logged prediction has
    (counted and listed, at most the first 100, never failing the batch)."""

    accepted: int
    unknown: int
    unknown_request_ids: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LoggedPrediction:
    """One row of the prediction log as read back: what the model saw and answered, when,
    how fast, from which version and variant, and the label joined to it (None until
    one is logged)."""

    request_id: str
    row_index: int
    model: str
    version: int
    time: datetime
    inputs: Any
    outputs: Any
    latency_s: float | None
    status: str
    error: str | None = None
    deployment: str | None = None
    variant: str | None = None
    cache_hit: bool = False
    label: Any = None
    labelled: bool = False

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["time"] = self.time.isoformat()
        return out


def label_rows(labels: Any) -> list[tuple[str, int, Any]]:
    """``(request id, row index, label)`` rows from the accepted label shapes; a malformed
    entry is an error naming it."""
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(labels, pd.DataFrame):
        labels = labels.to_dict(orient="records")
    if isinstance(labels, Mapping):
        labels = [{"request_id": k, "label": v} for k, v in labels.items()]
    if not isinstance(labels, list | tuple):
        raise InvalidArgumentError("labels: expected a list of {request_id, label} objects, "
                                   "a {request_id: label} dict or a DataFrame",
                                   details={"field": "labels"})
    rows = []
    for i, item in enumerate(labels):
        where = f"labels[{i}]"
        if not isinstance(item, Mapping):
            raise InvalidArgumentError(f"{where}: expected an object",
                                       details={"field": where})
        request_id, row_index = item.get("request_id"), item.get("row_index", 0)
        row_index = row_index.item() if hasattr(row_index, "item") else row_index
        if not isinstance(request_id, str) or not request_id:
            raise InvalidArgumentError(f"{where}.request_id: expected a non-empty string",
                                       details={"field": f"{where}.request_id"})
        if "label" not in item or item["label"] is None:
            raise InvalidArgumentError(f"{where}.label: missing",
                                       details={"field": f"{where}.label"})
        if isinstance(row_index, bool) or not isinstance(row_index, int) or row_index < 0:
            raise InvalidArgumentError(f"{where}.row_index: expected a non-negative integer",
                                       details={"field": f"{where}.row_index"})
        rows.append((request_id, row_index, item["label"]))
    return rows
