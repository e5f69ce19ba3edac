"""A registered version made of an MLflow model's files, already in the artifact store:
the tree holds them under ``model/`` with a ``modelplane.json`` read from the MLmodel,
so the version loads, serves and is monitored like a native one (flavor ``mlflow``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from modelplane.artifacts.store import TREE_FORMAT, BlobStore
from modelplane.core.errors import InvalidArgumentError
from modelplane.flavors import mlflow as mlflow_flavor
from modelplane.flavors.base import DESCRIPTOR, FORMAT_VERSION
from modelplane.registry.entities import ModelVersion
from modelplane.registry.service import RegistryService
from modelplane.tracking.service import TrackingService

__all__ = ["FileEntry", "register_files"]


@dataclass(frozen=True, slots=True)
class FileEntry:
    path: str
    digest: str
    size: int


def _example(artifacts: BlobStore, files: list[FileEntry]) -> Any:
    entry = next((f for f in files if f.path == "input_example.json"), None)
    if entry is None:
        return None
    try:
        data = json.loads(artifacts.get_bytes(entry.digest))
    except ValueError:
        return None
    if isinstance(data, dict) and "columns" in data and "data" in data:  # pandas "split"
        return [dict(zip(data["columns"], row, strict=False)) for row in data["data"]][:10]
    return None


def register_files(tracking: TrackingService, registry: RegistryService, artifacts: BlobStore,
                   name: str, files: list[FileEntry], *, source: str, run_id: str | None,
                   mlflow: dict[str, Any] | None = None, tags: dict[str, str] | None = None,
                   description: str = "", actor: str = "") -> ModelVersion:
    """Register the next version of ``name`` from ``files`` (an MLflow model folder).
    ``mlflow`` is kept in ``model_meta["mlflow"]`` with the source."""
    mlmodel = next((f for f in files if f.path == mlflow_flavor.MLMODEL), None)
    if mlmodel is None:
        raise InvalidArgumentError(f"{source} holds no MLmodel file: it is not an MLflow "
                                   "model", details={"field": "source"})
    meta = mlflow_flavor.describe(None, mlflow_flavor.read_mlmodel(
        artifacts.get_bytes(mlmodel.digest)))
    meta.input_example = _example(artifacts, files)
    descriptor = json.dumps({"format_version": FORMAT_VERSION, **meta.to_dict()}).encode()
    entries = [{"path": f"model/{f.path}", "digest": f.digest, "size": f.size}
               for f in files if f.path != DESCRIPTOR]
    entries.append({"path": f"model/{DESCRIPTOR}", "digest": artifacts.put_bytes(descriptor),
                    "size": len(descriptor)})
    entries.sort(key=lambda e: str(e["path"]))
    tree = {"format": TREE_FORMAT, "files": entries}
    digest = artifacts.put_bytes(json.dumps(tree, sort_keys=True).encode())
    run = tracking.get_run(run_id) if run_id else None
    model_meta: dict[str, Any] = {
        **meta.to_dict(),
        "mlflow": {"source": source, "model_id": meta.extra.get("model_id"), **(mlflow or {})}}
    return registry.create_version(
        name, artifact_digest=digest, flavor="mlflow", size=sum(f.size for f in files),
        run_id=run.id if run else None, signature=model_meta["signature"],
        input_example=meta.input_example, metrics=dict(run.metrics) if run else {},
        model_meta=model_meta, code_commit=run.code_commit if run else None,
        code_dirty=run.code_dirty if run else None, description=description, tags=tags,
        actor=actor or (run.user if run else ""))
