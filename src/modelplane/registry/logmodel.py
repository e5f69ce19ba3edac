"""``log_model``: a model object becomes a registered version (flavor -> artifact store ->
registry), linked to the run that trained it.

The registry does not know tracking's tables: what it needs of a run (its metrics,
datasets and code version) comes through the small :class:`RunSource` protocol, which the
tracking service satisfies.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from modelplane.registry.entities import ModelVersion
    from modelplane.registry.service import RegistryService

__all__ = ["ModelLogger", "RunSource"]


class _Run(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def metrics(self) -> Any: ...
    @property
    def code_commit(self) -> str | None: ...
    @property
    def code_dirty(self) -> bool | None: ...
    @property
    def user(self) -> str: ...


class _Dataset(Protocol):
    @property
    def digest(self) -> str: ...
    @property
    def name(self) -> str | None: ...
    @property
    def role(self) -> str | None: ...


class RunSource(Protocol):
    """What logging a model reads of the run that trained it."""

    def get_run(self, run_id: str) -> _Run: ...

    def run_datasets(self, run_id: str) -> Sequence[_Dataset]: ...


class _TreeWriter(Protocol):
    def put_dir(self, path: str | os.PathLike[str]) -> str: ...


class ModelLogger:
    """Saves models with their flavor and registers them (see the module docstring)."""

    def __init__(self, registry: RegistryService, blobs: _TreeWriter,
                 runs: RunSource | None = None) -> None:
        self.registry = registry
        self.blobs = blobs
        self.runs = runs

    def log_model(self, run_id: str | None, model: Any, name: str, *,
                  input_example: Any = None, flavor: str | None = None, onnx: bool = False,
                  description: str = "", tags: dict[str, str] | None = None,
                  stage: str | None = None, alias: str | None = None) -> ModelVersion:
        """Save ``model`` with its flavor, store it by digest and register a new version
        of ``name`` that records the run, its metrics, datasets and code version.

        ``onnx=True`` also converts a scikit-learn model with skl2onnx (checked to give
        the same predictions on the example) and stores it beside the original: load it
        with ``load_model(uri, format="onnx")``.
        """
        from modelplane import flavors

        run = self.runs.get_run(run_id) if run_id and self.runs is not None else None
        with tempfile.TemporaryDirectory(prefix="modelplane-model-") as tmp:
            meta = flavors.save_model(model, Path(tmp) / "model", input_example=input_example,
                                      flavor=flavor)
            extra: dict[str, Any] = {}
            if onnx:
                flavors.convert_sklearn_to_onnx(model, input_example, Path(tmp) / "onnx")
                extra["formats"] = ["onnx"]
            digest = self.blobs.put_dir(tmp)
            size = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
        datasets = []
        if run is not None and self.runs is not None:
            datasets = [{"digest": d.digest, "name": d.name, "role": d.role}
                        for d in self.runs.run_datasets(run.id)]
        model_meta = {**meta.to_dict(), **extra}
        version = self.registry.create_version(
            name, artifact_digest=digest, flavor=meta.flavor, size=size,
            run_id=run.id if run else None, signature=model_meta.get("signature"),
            input_example=model_meta.get("input_example"),
            metrics=dict(run.metrics) if run else {}, datasets=datasets,
            model_meta=model_meta, code_commit=run.code_commit if run else None,
            code_dirty=run.code_dirty if run else None, description=description, tags=tags,
            actor=run.user if run else "")
        if stage:
            version = self.registry.set_stage(name, version.version, stage)
        if alias:
            self.registry.set_alias(name, alias, version.version)
        return version
