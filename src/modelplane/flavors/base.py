"""What every flavor shares: ``ModelMeta``, ``LoadedModel``, the ``Flavor`` protocol and
the ``modelplane.json`` descriptor.

A saved model is a directory holding the flavor's own files (fixed names such as
``model.pkl``, ``model.ubj``, ``model.onnx``) and ``modelplane.json``, written last, so a
directory with a descriptor is complete. The descriptor is ``ModelMeta.to_dict()`` plus
``format_version``.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

from modelplane.core.errors import (
    AlreadyExistsError,
    IntegrityCheckError,
    InvalidArgumentError,
    InvalidStateError,
    NotFoundError,
)
from modelplane.flavors.signature import Signature

if TYPE_CHECKING:
    from modelplane.flavors.inputs import InputAdapter

__all__ = [
    "DESCRIPTOR",
    "Flavor",
    "LoadedModel",
    "ModelMeta",
    "check_options",
    "example_to_json",
    "model_dir",
    "read_descriptor",
    "require",
    "write_descriptor",
]

DESCRIPTOR = "modelplane.json"
FORMAT_VERSION = 1
EXAMPLE_ROWS = 10  # the stored input example keeps at most this many rows


@dataclass
class ModelMeta:
    """What a saved model says about itself (the content of ``modelplane.json``)."""

    flavor: str
    signature: Signature | None = None
    has_proba: bool = False
    classes: list[Any] | None = None
    input_example: Any = None
    extra: dict[str, Any] = field(default_factory=dict)
    library_version: str | None = None
    pickled: bool = False  # stored as a pickle: loading it runs code (needs the opt-in)

    def to_dict(self) -> dict[str, Any]:
        return {
            "flavor": self.flavor,
            "pickled": self.pickled,
            "library_version": self.library_version,
            "signature": None if self.signature is None else self.signature.to_dict(),
            "has_proba": self.has_proba,
            "classes": self.classes,
            "input_example": self.input_example,
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelMeta:
        signature = data.get("signature")
        return cls(
            flavor=str(data["flavor"]),
            signature=None if signature is None else Signature.from_dict(signature),
            has_proba=bool(data.get("has_proba", False)),
            classes=data.get("classes"),
            input_example=data.get("input_example"),
            extra=dict(data.get("extra") or {}),
            library_version=data.get("library_version"),
            pickled=bool(data.get("pickled", False)),
        )


class LoadedModel:
    """A model ready to predict.

    ``predict(data)`` is ``prepare(data)`` (validation and conversion against the
    signature, see ``modelplane.flavors.inputs``) followed by the flavor's predict on the
    prepared input. A batching server may call ``prepare`` per request, concatenate the
    prepared inputs (numpy arrays or DataFrames) and call ``predict_prepared`` once.
    """

    def __init__(
        self,
        meta: ModelMeta,
        raw: Any,
        adapter: InputAdapter,
        predict_fn: Callable[[Any], Any],
        proba_fn: Callable[[Any], Any] | None = None,
    ) -> None:
        self.meta = meta
        self.raw = raw
        self._adapter = adapter
        self._predict = predict_fn
        self._proba = proba_fn

    @property
    def flavor(self) -> str:
        return self.meta.flavor

    @property
    def signature(self) -> Signature | None:
        return self.meta.signature

    @property
    def has_proba(self) -> bool:
        return self._proba is not None

    def prepare(self, data: Any) -> Any:
        """Validate ``data`` and convert it to what the underlying model consumes."""
        return self._adapter.prepare(data)

    def predict(self, data: Any) -> Any:
        return self._predict(self._adapter.prepare(data))

    def predict_proba(self, data: Any) -> Any:
        if self._proba is None:
            raise self._no_proba()
        return self._proba(self._adapter.prepare(data))

    def predict_prepared(self, prepared: Any) -> Any:
        return self._predict(prepared)

    def predict_proba_prepared(self, prepared: Any) -> Any:
        if self._proba is None:
            raise self._no_proba()
        return self._proba(prepared)

    def _no_proba(self) -> InvalidArgumentError:
        return InvalidArgumentError(
            f"this {self.flavor} model has no predict_proba",
            details={"field": "method", "expected": "predict", "got": "predict_proba"},
        )

    def __repr__(self) -> str:
        return f"<LoadedModel flavor={self.flavor!r} raw={type(self.raw).__name__}>"


class Flavor(Protocol):
    """What a flavor module provides (each module in this package is one)."""

    NAME: str

    def accepts(self, model: Any) -> bool:
        """Whether this flavor can save ``model``; must not import its library."""

    def save(
        self, model: Any, path: Path, input_example: Any, options: Mapping[str, Any]
    ) -> ModelMeta:
        """Write the model's files into the existing directory ``path``."""

    def load(
        self, path: Path, meta: ModelMeta, options: Mapping[str, Any], allow_pickle: bool = False
    ) -> LoadedModel:
        """Load the files written by ``save``; a flavor about to unpickle anything refuses
        unless ``allow_pickle`` (see ``modelplane.flavors.pickles``)."""


def require(module: str, extra: str) -> ModuleType:
    """Import an optional library, or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise InvalidStateError(
            f"{module} is not installed: pip install 'modelplane[{extra}]'",
            details={"field": "flavor", "expected": module, "got": "not installed"},
        ) from exc


def check_options(flavor: str, options: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise InvalidArgumentError(
            f"unknown option(s) for the {flavor} flavor: {', '.join(unknown)}",
            details={"field": unknown[0], "expected": sorted(allowed), "got": unknown},
        )


@contextmanager
def model_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Create the model directory (an existing one must be empty) for the block to fill;
    if the block fails, whatever it wrote is removed, so no half model is left behind."""
    target = Path(path)
    existed = target.exists()
    if existed and (not target.is_dir() or any(target.iterdir())):
        raise AlreadyExistsError(
            f"{target} already exists and is not an empty directory",
            details={"field": "path", "got": str(target)},
        )
    target.mkdir(parents=True, exist_ok=True)
    try:
        yield target
    except BaseException:
        if not existed:
            shutil.rmtree(target, ignore_errors=True)
        else:
            for child in target.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        raise


def write_descriptor(path: Path, meta: ModelMeta) -> None:
    body = {"format_version": FORMAT_VERSION, **meta.to_dict()}
    text = json.dumps(body, indent=2, allow_nan=False)
    (path / DESCRIPTOR).write_text(text + "\n", encoding="utf-8")


def read_descriptor(path: str | os.PathLike[str]) -> ModelMeta:
    file = Path(path) / DESCRIPTOR
    if not file.is_file():
        raise NotFoundError(
            f"no saved model at {path} ({DESCRIPTOR} is missing)",
            details={"field": "path", "got": str(path)},
        )
    try:
        return ModelMeta.from_dict(json.loads(file.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError) as exc:
        raise IntegrityCheckError(
            f"{file} is not a valid model descriptor: {exc}", details={"field": "path"}
        ) from exc


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return _json_value(value.tolist())
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if type(value).__name__ == "NAType":  # pandas.NA
        return None
    return str(value)


def example_to_json(example: Any) -> tuple[Any, str | None]:
    """The example as JSON (records, nested lists or a dict) and its kind.

    Kinds: ``dataframe``, ``ndarray``, ``tensor``, ``records``, ``record``, ``columns``.
    Non-finite floats become null; at most ``EXAMPLE_ROWS`` rows are kept.
    """
    if example is None:
        return None, None
    module = type(example).__module__
    if module.startswith("pandas") and hasattr(example, "columns"):
        return _json_value(example.head(EXAMPLE_ROWS).to_dict(orient="records")), "dataframe"
    if module == "torch":
        return _json_value(example[:EXAMPLE_ROWS].detach().cpu().tolist()), "tensor"
    if module == "numpy":
        return _json_value(example[:EXAMPLE_ROWS] if example.ndim else example), "ndarray"
    if isinstance(example, dict):
        values = list(example.values())
        if any(isinstance(v, list | tuple) or getattr(v, "ndim", 0) for v in values):
            cut = {k: v[:EXAMPLE_ROWS] for k, v in example.items()}
            return _json_value(cut), "columns"
        return _json_value(example), "record"
    if isinstance(example, list | tuple):
        rows = list(example[:EXAMPLE_ROWS])
        kind = "records" if rows and all(isinstance(r, dict) for r in rows) else "ndarray"
        return _json_value(rows), kind
    return _json_value(example), None
