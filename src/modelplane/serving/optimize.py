"""Inference optimization: dynamic int8 quantization of a version's ONNX graph, registered
as a new version with its accuracy delta on the stored evaluation dataset.

1. The source ONNX graph: the version itself (onnx flavor), its stored ONNX form (logged
   with ``onnx=True``), or a conversion of its scikit-learn model made now (skl2onnx,
   checked against the model on the input example).
2. ``onnxruntime.quantization.quantize_dynamic`` with int8 weights: the weights of
   MatMul, Gemm, attention and convolution nodes become int8 and activations are
   quantized on the fly. Tree ensembles hold no such weights and come out unchanged.
3. Evaluation on the *stored* evaluation dataset of the source version's run: a dataset
   the run logged under a role in ``EVAL_ROLES`` whose data is still readable where it was
   logged from, or among the run's artifacts, *and* still has the content digest the run
   recorded. ``eval_data`` (a path or a table) replaces it explicitly. The target column
   is ``target``, or else the one column the model does not take as input.
4. Registration as the next version of the same model (flavor ``onnx``), with metrics
   ``{m: quantized, m_source: source, m_delta: quantized - source}`` (``m`` is accuracy
   for classifiers, rmse for regressors), tags ``optimized_from`` and ``quantization``,
   and ``model_meta["optimization"]`` holding the details.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from modelplane.core.errors import InvalidArgumentError, InvalidStateError

if TYPE_CHECKING:
    import pyarrow as pa

    from modelplane.artifacts.store import BlobStore
    from modelplane.flavors import LoadedModel
    from modelplane.flavors.base import ModelMeta
    from modelplane.registry.entities import ModelVersion
    from modelplane.registry.models import ModelSource
    from modelplane.registry.service import RegistryService
    from modelplane.tracking.service import TrackingService

__all__ = ["EVAL_ROLES", "OptimizeResult", "optimize_model"]

EVAL_ROLES = ("eval", "evaluation", "test", "validation", "valid")
QUANTIZE = ("int8",)
_TABLE_FILES = (".parquet", ".pq", ".csv")


@dataclass(frozen=True)
class OptimizeResult:
    """The new version and how it compares with its source on the evaluation data."""

    version: ModelVersion
    source: ModelVersion
    metric: str
    source_value: float
    value: float
    delta: float
    eval_rows: int
    eval_dataset: str
    size_bytes: int
    source_size_bytes: int


def _example(meta: ModelMeta) -> Any:
    example = meta.input_example
    if example is None:
        raise InvalidStateError("the version has no input example to type its ONNX graph",
                                details={"field": "input_example"})
    if meta.extra.get("input_kind") in ("dataframe", "records", "record"):
        import pandas as pd

        rows = example if isinstance(example, list) else [example]
        return pd.DataFrame(rows)
    return np.asarray(example)


def _source_graph(models: ModelSource, source: ModelVersion, workdir: Path
                  ) -> tuple[Path, Any]:
    """The source's ONNX model directory and the example used to type it."""
    from modelplane import flavors
    from modelplane.flavors.base import read_descriptor

    root = models.fetch(source.artifact_digest)
    native = root / "model"
    meta = read_descriptor(native)
    if meta.flavor == "onnx":
        return native, _example(meta)
    if "onnx" in source.model_meta.get("formats", []):
        return root / "onnx", _example(read_descriptor(root / "onnx"))
    if meta.flavor != "sklearn":
        raise InvalidArgumentError(
            f"{source.uri} is a {meta.flavor} model with no ONNX form; quantization needs "
            "an ONNX graph (register an ONNX version, or log scikit-learn models)",
            details={"field": "flavor", "expected": ["onnx", "sklearn"], "got": meta.flavor})
    example = _example(meta)
    target = workdir / "converted"
    flavors.convert_sklearn_to_onnx(flavors.load_model(native).raw, example, target)
    return target, example


@contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """onnxruntime's quantizer logs advice on the root logger (which would also install a
    handler on it); keep that out of the user's logs."""
    root = logging.getLogger()
    hush = logging.NullHandler()
    drop = logging.Filter("\x00")  # matches no logger name: drops every record
    root.addFilter(drop)
    added = not root.handlers
    if added:
        root.addHandler(hush)
    try:
        yield
    finally:
        root.removeFilter(drop)
        if added:
            root.removeHandler(hush)


def _quantize(graph: Path, out: Path) -> bytes:
    from modelplane.flavors.base import require

    require("onnxruntime", "onnx")
    from onnxruntime.quantization import QuantType, quantize_dynamic

    try:
        with _quiet_root_logger():
            quantize_dynamic(str(graph / "model.onnx"), str(out), weight_type=QuantType.QInt8)
    except Exception as exc:  # onnxruntime raises many kinds for graphs it cannot handle
        raise InvalidStateError(f"int8 quantization failed: {exc}",
                                details={"field": "quantize"}) from exc
    return out.read_bytes()


def _read_table(location: str, digest: str) -> pa.Table | None:
    from modelplane.data import canonical_digest, to_arrow

    try:
        table = to_arrow(location)
    except Exception:  # moved, deleted or unreadable: not this one
        return None
    return table if canonical_digest(table) == digest else None


def _stored_eval(runs: TrackingService, source: ModelVersion, workdir: Path
                 ) -> tuple[pa.Table, str]:
    hint = "log one with run.log_dataset(path, role='eval') or pass eval_data (--eval-data)"
    if source.run_id is None:
        raise InvalidStateError(f"{source.uri} has no run, so no stored evaluation dataset; "
                                f"{hint}", details={"field": "eval_data"})
    records = [r for r in runs.run_datasets(source.run_id) if r.role in EVAL_ROLES]
    if not records:
        raise InvalidStateError(f"the run of {source.uri} logged no evaluation dataset (role "
                                f"{', '.join(EVAL_ROLES)}); {hint}",
                                details={"field": "eval_data"})
    artifacts = [a for a in runs.list_artifacts(source.run_id)
                 if not a.is_dir and a.path.lower().endswith(_TABLE_FILES)]
    for record in records:
        places = [record.source] if record.source not in ("", "dataframe") else []
        for artifact in artifacts:
            local = workdir / "eval" / artifact.path
            runs.download_artifact(source.run_id, artifact.path, local)
            places.append(str(local))
        for place in places:
            table = _read_table(place, record.digest)
            if table is not None:
                return table, f"{record.name} ({record.role}, {record.digest[:12]})"
    raise InvalidStateError(
        f"the evaluation data of {source.uri} ({records[0].name}) is no longer where it was "
        f"logged from and no run artifact holds it unchanged; {hint}",
        details={"field": "eval_data"})


def _split(table: pa.Table, model: LoadedModel, target: str | None) -> tuple[Any, Any]:
    names = [n for n in table.column_names if not n.startswith("__index_level_")]
    inputs = model.signature.input_names if model.signature is not None else []
    if target is None:
        others = [n for n in names if n not in inputs]
        if len(others) != 1:
            raise InvalidArgumentError(
                "cannot tell the target column: pass target (--target); columns the model "
                f"does not take: {', '.join(others) or 'none'}", details={"field": "target"})
        target = others[0]
    if target not in names:
        raise InvalidArgumentError(f"target: the evaluation data has no column {target!r}",
                                   details={"field": "target", "got": target})
    features = {n: table.column(n).to_numpy() for n in names if n != target}
    if model.signature is not None and model.signature.is_tensor:
        return np.column_stack(list(features.values())), table.column(target).to_numpy()
    return features, table.column(target).to_numpy()


def _score(model: LoadedModel, x: Any, y: Any, classifier: bool) -> float:
    predictions = np.asarray(model.predict(x)).reshape(len(y), -1)[:, 0]
    if classifier:
        return float(np.mean(predictions.astype(object) == np.asarray(y).astype(object)))
    return float(np.sqrt(np.mean((predictions.astype(float) - np.asarray(y, float)) ** 2)))


def optimize_model(name: str, version: int | str, *, registry: RegistryService,
                   runs: TrackingService, models: ModelSource, blobs: BlobStore,
                   quantize: str = "int8", eval_data: Any = None, target: str | None = None,
                   description: str = "") -> OptimizeResult:
    """Quantize version ``version`` of ``name`` and register the result (see above).

    ``registry`` reads the source and registers the result, ``runs`` finds the source
    run's evaluation dataset, ``models`` fetches the verified source files and ``blobs``
    stores the new tree."""
    from modelplane import flavors
    from modelplane.data import to_arrow
    from modelplane.flavors import onnx as onnx_flavor
    from modelplane.flavors.base import model_dir, read_descriptor, write_descriptor

    if quantize not in QUANTIZE:
        raise InvalidArgumentError(f"quantize: expected {', '.join(QUANTIZE)}, got {quantize!r}",
                                   details={"field": "quantize", "expected": list(QUANTIZE)})
    source = registry.get_version(name, version)
    with tempfile.TemporaryDirectory(prefix="modelplane-optimize-") as tmp:
        work = Path(tmp)
        graph, example = _source_graph(models, source, work)
        graph_meta = read_descriptor(graph)
        data = _quantize(graph, work / "quantized.onnx")
        with model_dir(work / "tree" / "model") as target_dir:
            meta = onnx_flavor.save_bytes(
                data, target_dir, example, classes=graph_meta.classes,
                squeeze=bool(graph_meta.extra.get("squeeze")),
                source=f"int8 dynamic quantization of {source.uri}")
            write_descriptor(target_dir, meta)
        table, described = ((to_arrow(eval_data), "given") if eval_data is not None
                            else _stored_eval(runs, source, work))
        original = flavors.load_model(models.fetch(source.artifact_digest) / "model")
        quantized = flavors.load_model(target_dir)
        x, y = _split(table, original, target)
        classifier = original.meta.classes is not None
        metric = "accuracy" if classifier else "rmse"
        before, after = _score(original, x, y, classifier), _score(quantized, x, y, classifier)
        size = len(data)
        source_size = (graph / "model.onnx").stat().st_size
        optimization = {"quantize": quantize, "source": source.uri, "metric": metric,
                        "source_value": before, "value": after, "delta": after - before,
                        "eval_dataset": described, "eval_rows": len(y),
                        "onnx_bytes": size, "source_onnx_bytes": source_size}
        digest = blobs.put_dir(work / "tree")
    new = registry.create_version(
        name, artifact_digest=digest, flavor="onnx", size=size, run_id=source.run_id,
        signature=meta.signature.to_dict() if meta.signature else None,
        input_example=meta.input_example,
        metrics={metric: after, f"{metric}_source": before, f"{metric}_delta": after - before},
        datasets=source.datasets, model_meta={**meta.to_dict(), "optimization": optimization},
        code_commit=source.code_commit, code_dirty=source.code_dirty,
        description=description or f"int8 dynamic quantization of version {source.version}",
        tags={"optimized_from": f"{source.name}:{source.version}", "quantization": quantize})
    return OptimizeResult(version=new, source=source, metric=metric, source_value=before,
                          value=after, delta=after - before, eval_rows=len(y),
                          eval_dataset=described, size_bytes=size,
                          source_size_bytes=source_size)

