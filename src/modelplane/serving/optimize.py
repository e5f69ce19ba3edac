"""Inference optimization: dynamic int8 quantization of a version's ONNX graph, registered
as a new version with its accuracy delta on the stored evaluation dataset.

1. The source ONNX graph: the version itself (onnx flavor), a conversion of its
   scikit-learn model made now (skl2onnx with standard operators, so linear weights are
   quantizable; checked against the model on the input example), an export of its
   TorchScript model (checked likewise), or its stored ONNX form (logged with
   ``onnx=True``) for other flavors. See :mod:`~modelplane.serving.quantize`.
2. ``onnxruntime.quantization.quantize_dynamic`` with int8 weights: the weights of
   MatMul, Gemm, attention and convolution nodes become int8 and activations are
   quantized on the fly. A graph with none of them (tree ensembles) is refused.
3. Evaluation on the *stored* evaluation dataset of the source version's run: a dataset
   the run logged under a role in ``EVAL_ROLES`` whose data is still readable where it was
   logged from, or among the run's artifacts, *and* still has the content digest the run
   recorded. ``eval_data`` (a path or a table) replaces it explicitly. The target column
   is ``target``, or else the one column the model does not take as input.
   The int8 model is also checked against the float model itself: ``agreement`` is the
   share of equal labels (classifiers) or 1 - the relative RMS difference of outputs. When
   the metric is worse by more than ``max_drop`` (accuracy lower by more than it; rmse
   higher by more than that fraction), nothing is registered.
4. Registration as the next version of the same model (flavor ``onnx``), with metrics
   ``{m: quantized, m_source: source, m_delta: quantized - source, agreement}`` (``m``
   is accuracy for classifiers, rmse for regressors), tags ``optimized_from`` and
   ``quantization``, and ``model_meta["optimization"]`` holding the details.
"""

from __future__ import annotations

import tempfile
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
MAX_DROP = 0.02
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
    agreement: float = 1.0


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
    from modelplane.serving.quantize import torch_to_onnx

    root = models.fetch(source.artifact_digest)
    native = root / "model"
    meta = read_descriptor(native)
    target = workdir / "converted"
    if meta.flavor == "onnx":
        return native, _example(meta)
    if meta.flavor == "sklearn":
        example = _example(meta)
        loaded = flavors.load_model(native, allow_pickle=models.pickle_allowed(source))
        flavors.convert_sklearn_to_onnx(loaded.raw, example, target,
                                        standard_ops=True)
        return target, example
    if meta.flavor == "torch":
        return target, torch_to_onnx(native, meta, target, source.uri)
    if "onnx" in source.model_meta.get("formats", []):
        return root / "onnx", _example(read_descriptor(root / "onnx"))
    raise InvalidArgumentError(
        f"{source.uri} is a {meta.flavor} model with no ONNX form; quantization needs an "
        "ONNX graph (register an ONNX version, or a scikit-learn or PyTorch model)",
        details={"field": "flavor", "expected": ["onnx", "sklearn", "torch"],
                 "got": meta.flavor})


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
    if target is None and "target" in names:
        target = "target"
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


def _outputs(model: LoadedModel, x: Any, n: int, classifier: bool) -> np.ndarray:
    """Labels (classifiers: the model's, or the argmax of its scores) or values."""
    out = np.asarray(model.predict(x)).reshape(n, -1)
    if classifier and out.shape[1] > 1:
        return np.argmax(out, axis=1)
    return out[:, 0]


def _score(predictions: np.ndarray, y: Any, classifier: bool) -> float:
    if classifier:
        return float(np.mean(predictions.astype(object) == np.asarray(y).astype(object)))
    return float(np.sqrt(np.mean((predictions.astype(float) - np.asarray(y, float)) ** 2)))


def _is_classifier(model: LoadedModel, x: Any, y: Any) -> bool:
    """Classes in the model's metadata, or several scores per row and integer labels."""
    if model.meta.classes is not None:
        return True
    width = np.asarray(model.predict(x)).reshape(len(y), -1).shape[1]
    labels = np.asarray(y)
    return width > 1 and labels.dtype.kind in "biu"


def _check_drop(metric: str, before: float, after: float, max_drop: float, uri: str) -> None:
    worse = before - after if metric == "accuracy" else (after - before) / (before or 1.0)
    if worse > max_drop:
        allowed = f"{max_drop:g}" if metric == "accuracy" else f"{max_drop:.0%}"
        raise InvalidStateError(
            f"int8 {metric} {after:.4f} is worse than the float model's {before:.4f} by more "
            f"than max_drop ({allowed}); {uri} was not quantized into a new version",
            details={"field": "max_drop", "source_value": before, "value": after})


def optimize_model(name: str, version: int | str, *, registry: RegistryService,
                   runs: TrackingService, models: ModelSource, blobs: BlobStore,
                   quantize: str = "int8", eval_data: Any = None, target: str | None = None,
                   description: str = "", max_drop: float = MAX_DROP) -> OptimizeResult:
    """Quantize version ``version`` of ``name`` and register the result (see above).

    ``registry`` reads the source and registers the result, ``runs`` finds the source
    run's evaluation dataset, ``models`` fetches the verified source files and ``blobs``
    stores the new tree."""
    from modelplane import flavors
    from modelplane.data import to_arrow
    from modelplane.flavors import onnx as onnx_flavor
    from modelplane.flavors.base import model_dir, read_descriptor, write_descriptor
    from modelplane.serving.quantize import agreement, quantize_int8

    if quantize not in QUANTIZE:
        raise InvalidArgumentError(f"quantize: expected {', '.join(QUANTIZE)}, got {quantize!r}",
                                   details={"field": "quantize", "expected": list(QUANTIZE)})
    source = registry.get_version(name, version)
    with tempfile.TemporaryDirectory(prefix="modelplane-optimize-") as tmp:
        work = Path(tmp)
        graph, example = _source_graph(models, source, work)
        graph_meta = read_descriptor(graph)
        data = quantize_int8(graph / "model.onnx", work / "quantized.onnx", source.uri)
        with model_dir(work / "tree" / "model") as target_dir:
            meta = onnx_flavor.save_bytes(
                data, target_dir, example, classes=graph_meta.classes,
                squeeze=bool(graph_meta.extra.get("squeeze")),
                source=f"int8 dynamic quantization of {source.uri}")
            write_descriptor(target_dir, meta)
        table, described = ((to_arrow(eval_data), "given") if eval_data is not None
                            else _stored_eval(runs, source, work))
        original = flavors.load_model(models.fetch(source.artifact_digest) / "model",
                                      allow_pickle=models.pickle_allowed(source))
        quantized = flavors.load_model(target_dir)
        x, y = _split(table, original, target)
        classifier = _is_classifier(original, x, y)
        metric = "accuracy" if classifier else "rmse"
        float_out = _outputs(original, x, len(y), classifier)
        int8_out = _outputs(quantized, x, len(y), classifier)
        before, after = _score(float_out, y, classifier), _score(int8_out, y, classifier)
        agree = agreement(float_out, int8_out, labels=classifier)
        _check_drop(metric, before, after, max_drop, source.uri)
        size = len(data)
        source_size = (graph / "model.onnx").stat().st_size
        optimization = {"quantize": quantize, "source": source.uri, "metric": metric,
                        "source_value": before, "value": after, "delta": after - before,
                        "eval_dataset": described, "eval_rows": len(y), "agreement": agree,
                        "onnx_bytes": size, "source_onnx_bytes": source_size}
        digest = blobs.put_dir(work / "tree")
    new = registry.create_version(
        name, artifact_digest=digest, flavor="onnx", size=size, run_id=source.run_id,
        signature=meta.signature.to_dict() if meta.signature else None,
        input_example=meta.input_example,
        metrics={metric: after, f"{metric}_source": before, f"{metric}_delta": after - before,
                 "agreement": agree},
        datasets=source.datasets, model_meta={**meta.to_dict(), "optimization": optimization},
        code_commit=source.code_commit, code_dirty=source.code_dirty,
        description=description or f"int8 dynamic quantization of version {source.version}",
        tags={"optimized_from": f"{source.name}:{source.version}", "quantization": quantize})
    return OptimizeResult(version=new, source=source, metric=metric, source_value=before,
                          value=after, delta=after - before, eval_rows=len(y),
                          eval_dataset=described, size_bytes=size,
                          source_size_bytes=source_size, agreement=agree)

