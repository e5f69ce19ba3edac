"""Typed values between steps, stored in the artifact store by digest.

==========  ==================================================  ============================
kind        values                                              stored as
==========  ==================================================  ============================
json        None, bool, int, float, str, lists and str-keyed    canonical JSON
            dicts of those
dataframe   pandas DataFrame                                    Parquet (pyarrow)
arrow       pyarrow Table                                       Parquet
ndarray     numpy array (non-object dtype)                      ``.npy``
model       scikit-learn, XGBoost, LightGBM, ONNX models        the flavor's directory tree
                                                                (loadable by the registry)
pickle      anything else                                       cloudpickle
==========  ==================================================  ============================

A ``model`` artifact is laid out exactly as ``Client.log_model`` lays out a registered
version (``model/`` inside the tree), so registering it needs no copy.
"""

from __future__ import annotations

import io
import json
import math
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelplane.core.errors import InvalidArgumentError

if TYPE_CHECKING:
    from modelplane.artifacts.store import ArtifactStore

__all__ = ["ArtifactRef", "load_value", "save_value"]

_MODEL_FLAVORS = ("onnx", "xgboost", "lightgbm", "sklearn")


@dataclass(frozen=True)
class ArtifactRef:
    digest: str
    kind: str
    type_name: str
    size: int
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArtifactRef:
        return cls(data["digest"], data["kind"], data["type_name"], int(data["size"]),
                   dict(data.get("meta") or {}))


def _type_name(value: Any) -> str:
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}"[:256]


def _is_json(value: Any, depth: int = 0) -> bool:
    if depth > 50:
        return False
    if value is None or isinstance(value, bool | str):
        return True
    if type(value) is int:
        return True
    if type(value) is float:
        return math.isfinite(value)
    if type(value) is list:
        return all(_is_json(v, depth + 1) for v in value)
    if type(value) is dict:
        return all(type(k) is str and _is_json(v, depth + 1) for k, v in value.items())
    return False


def kind_of(value: Any) -> str:
    if _is_json(value):
        return "json"
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(value, pandas.DataFrame):
        return "dataframe"
    pyarrow = sys.modules.get("pyarrow")
    if pyarrow is not None and isinstance(value, pyarrow.Table):
        return "arrow"
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, numpy.ndarray) and value.dtype != object:
        return "ndarray"
    if _model_flavor(value) is not None:
        return "model"
    return "pickle"


def _model_flavor(value: Any) -> str | None:
    from modelplane.flavors import _flavor

    for name in _MODEL_FLAVORS:
        if _flavor(name).accepts(value):
            return name
    return None


def save_value(store: ArtifactStore, value: Any) -> ArtifactRef:
    """Serialise ``value`` by its kind into ``store``; the reference names it."""
    kind = kind_of(value)
    meta: dict[str, Any] = {}
    if kind == "json":
        data = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
    elif kind == "dataframe":
        meta = {"rows": len(value), "columns": [str(c) for c in value.columns][:200]}
        buffer = io.BytesIO()
        value.to_parquet(buffer)
        data = buffer.getvalue()
    elif kind == "arrow":
        import pyarrow.parquet as pq

        meta = {"rows": value.num_rows, "columns": value.column_names[:200]}
        buffer = io.BytesIO()
        pq.write_table(value, buffer)
        data = buffer.getvalue()
    elif kind == "ndarray":
        import numpy as np

        meta = {"shape": list(value.shape), "dtype": str(value.dtype)}
        buffer = io.BytesIO()
        np.save(buffer, value, allow_pickle=False)
        data = buffer.getvalue()
    elif kind == "model":
        return _save_model(store, value)
    else:
        import cloudpickle

        try:
            data = cloudpickle.dumps(value)
        except Exception as exc:
            raise InvalidArgumentError(
                f"cannot store a {type(value).__name__}: it is not JSON, a DataFrame, an "
                f"array or a model, and cloudpickle refused it ({exc})",
                details={"got": _type_name(value)}) from exc
    digest = store.put_bytes(data)
    return ArtifactRef(digest, kind, _type_name(value), len(data), meta)


def _save_model(store: ArtifactStore, value: Any) -> ArtifactRef:
    from modelplane import flavors

    with tempfile.TemporaryDirectory(prefix="modelplane-step-") as tmp:
        meta = flavors.save_model(value, Path(tmp) / "model", flavor=_model_flavor(value))
        digest = store.put_dir(tmp)
        size = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
    return ArtifactRef(digest, "model", _type_name(value), size,
                       {"flavor": meta.flavor, "model_meta": meta.to_dict()})


def load_value(store: ArtifactStore, ref: ArtifactRef) -> Any:
    """The value ``ref`` names, read back (and verified) from ``store``."""
    if ref.kind == "model":
        return _load_model(store, ref.digest).raw
    data = store.get_bytes(ref.digest)
    if ref.kind == "json":
        return json.loads(data)
    if ref.kind == "dataframe":
        import pandas as pd

        return pd.read_parquet(io.BytesIO(data))
    if ref.kind == "arrow":
        import pyarrow.parquet as pq

        return pq.read_table(io.BytesIO(data))
    if ref.kind == "ndarray":
        import numpy as np

        return np.load(io.BytesIO(data), allow_pickle=False)
    if ref.kind == "pickle":
        import cloudpickle

        return cloudpickle.loads(data)
    raise InvalidArgumentError(f"unknown artifact kind {ref.kind!r}",
                               details={"digest": ref.digest})


def _load_model(store: ArtifactStore, digest: str) -> Any:
    from modelplane import flavors

    with tempfile.TemporaryDirectory(prefix="modelplane-step-") as tmp:
        store.get_dir(digest, tmp)
        # a step output is read back by the pipeline that wrote it (other values are
        # cloudpickled outright): the same trust, so its own pickles load
        return flavors.load_model(Path(tmp) / "model", allow_pickle=True)


def exists(store: ArtifactStore, ref: ArtifactRef) -> bool:
    """Whether every blob of ``ref`` is still in the store (a tree: each file too)."""
    if not store.exists(ref.digest):
        return False
    if ref.kind != "model":
        return True
    try:
        return all(store.exists(e["digest"]) for e in store.read_tree(ref.digest))
    except Exception:
        return False
