"""Evaluation gates: CI/CD checks a version must pass before it enters staging or production.

A model's gates are stored with :meth:`DeploymentService.set_eval_gates`::

    client.deployments.set_eval_gates("churn", [{"metric": "roc_auc", "max_drop": 0.01}],
                                      dataset="run:eval.parquet", target="label")

Before :meth:`RegistryService.set_stage` moves a version into one of the gated stages, the
version and the stage's current holder are both scored on the evaluation dataset, and each
gate compares them: ``min``/``max`` bound the candidate's value, ``max_drop`` (how far
below the holder it may fall) and ``max_increase`` (how far above, for errors such as
rmse) compare with the holder; with no holder only the absolute bounds apply. The dataset
is ``run:PATH`` (a Parquet or CSV artifact of the candidate's own run: the evaluation set
it was trained against) or a path or fsspec URL, with the label in column ``target``.

The scores, the holder's version, the dataset's content digest and the verdict are
recorded on the candidate as tags (``gate.<stage>.result`` passed/failed,
``gate.<stage>.<metric>``, ``gate.<stage>.detail``); a pass is also written into the
reason of the registry's audit entry for the move; a failure refuses the move with a 409
naming the gate, and the stage keeps its holder.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelplane.core.errors import InvalidArgumentError, InvalidStateError, NotFoundError

if TYPE_CHECKING:
    from modelplane.deployments.service import GateSources
    from modelplane.registry.service import RegistryService

__all__ = ["check_config", "run_gates", "score"]

_BOUNDS = ("min", "max", "max_drop", "max_increase")
_STAGES = ("staging", "production")


def _metrics() -> tuple[str, ...]:
    from modelplane.monitoring.performance import CLASSIFICATION_METRICS, REGRESSION_METRICS

    return CLASSIFICATION_METRICS + REGRESSION_METRICS


def _gate(item: Any, i: int) -> dict[str, Any]:
    where = f"gates[{i}]"
    if isinstance(item, str):  # "roc_auc:max_drop=0.01"
        head, _, rest = item.partition(":")
        item = {"metric": head.strip()}
        for part in filter(None, (p.strip() for p in rest.split(","))):
            key, _, text = part.partition("=")
            item[key.strip()] = text.strip()
    if not isinstance(item, Mapping):
        raise InvalidArgumentError(f"{where}: expected METRIC:BOUND=VALUE or an object",
                                   details={"field": where})
    metric = item.get("metric")
    if metric not in _metrics():
        raise InvalidArgumentError(
            f"{where}.metric: unknown evaluation metric {metric!r}; expected one of "
            f"{', '.join(_metrics())}", details={"field": f"{where}.metric", "value": metric})
    unknown = set(item) - {"metric", *_BOUNDS}
    if unknown:
        raise InvalidArgumentError(f"{where}: unknown key {sorted(unknown)[0]!r}; expected "
                                   f"metric, {', '.join(_BOUNDS)}", details={"field": where})
    out: dict[str, Any] = {"metric": metric}
    for key in _BOUNDS:
        if item.get(key) is not None:
            try:
                value = float(item[key])
            except (TypeError, ValueError):
                value = math.nan
            if not math.isfinite(value):
                raise InvalidArgumentError(f"{where}.{key}: expected a number, got "
                                           f"{item[key]!r}", details={"field": f"{where}.{key}"})
            out[key] = value
    if len(out) == 1:
        raise InvalidArgumentError(f"{where}: gate on {metric} needs a bound: one of "
                                   f"{', '.join(_BOUNDS)}", details={"field": where})
    return out


def check_config(gates: Any, *, dataset: str, target: str, stages: Any) -> dict[str, Any]:
    """A checked gate configuration (see the module docstring)."""
    if isinstance(gates, str | Mapping):
        gates = [gates]
    if not gates:
        raise InvalidArgumentError("gates: expected at least one gate",
                                   details={"field": "gates"})
    parsed = [_gate(g, i) for i, g in enumerate(gates)]
    if not isinstance(dataset, str) or not dataset.strip() or dataset.strip() == "run:":
        raise InvalidArgumentError("dataset: expected run:PATH or a path/URL of a Parquet or "
                                   "CSV file", details={"field": "dataset"})
    if not isinstance(target, str) or not target:
        raise InvalidArgumentError("target: expected the label column's name",
                                   details={"field": "target"})
    stage_list = [stages] if isinstance(stages, str) else list(stages or [])
    bad = [s for s in stage_list if s not in _STAGES]
    if bad or not stage_list:
        raise InvalidArgumentError(f"stages: expected staging and/or production, got "
                                   f"{stage_list}", details={"field": "stages"})
    return {"gates": parsed, "dataset": dataset.strip(), "target": target,
            "stages": stage_list}


def _load_frame(sources: GateSources, dataset: str, run_id: str | None) -> tuple[Any, str]:
    from modelplane.data import canonical_digest, to_arrow

    if dataset.startswith("run:"):
        path = dataset[4:]
        if not run_id:
            raise InvalidStateError(f"evaluation gates: the version has no run, so its "
                                    f"artifact {path!r} cannot be found",
                                    details={"field": "dataset"})
        with tempfile.TemporaryDirectory(prefix="modelplane-eval-") as tmp:
            local = sources.runs.download_artifact(run_id, path, Path(tmp) / Path(path).name)
            table = to_arrow(str(local))
    else:
        table = to_arrow(dataset)
    return table.to_pandas(), canonical_digest(table)


def score(model: Any, frame: Any, target: str, metrics: list[str]) -> dict[str, float | None]:
    """The model's ``metrics`` on ``frame`` (label in column ``target``)."""
    from modelplane.monitoring.performance import compute_metrics

    if target not in frame.columns:
        raise InvalidStateError(f"evaluation gates: the dataset has no column {target!r}; "
                                f"it has {', '.join(map(str, frame.columns))}",
                                details={"field": "target"})
    X, y = frame.drop(columns=[target]), frame[target].tolist()
    pred = _plain(model.predict(X))
    outputs: list[Any] = [{"prediction": p} for p in pred]
    if getattr(model, "has_proba", False):
        classes = getattr(model.meta, "classes", None)
        proba = _plain(model.predict_proba(X))
        for out, row in zip(outputs, proba, strict=True):
            out["probabilities"] = dict(zip(classes, row, strict=True)) if classes else row
    _task, values, _used = compute_metrics(y, outputs)
    return {m: values.get(m) for m in metrics}


def _plain(values: Any) -> list[Any]:
    tolist = getattr(values, "tolist", None)
    return list(tolist() if callable(tolist) else values)


def _verdict(gate: dict[str, Any], value: float | None, holder: float | None) -> str | None:
    """None when the gate passes, else why not."""
    metric = gate["metric"]
    if value is None:
        return f"{metric} could not be computed on the evaluation dataset"
    if gate.get("min") is not None and value < gate["min"]:
        return f"{metric} {value:.4g} is below the minimum {gate['min']:g}"
    if gate.get("max") is not None and value > gate["max"]:
        return f"{metric} {value:.4g} is above the maximum {gate['max']:g}"
    if holder is not None and gate.get("max_drop") is not None and (
            holder - value > gate["max_drop"] + 1e-12):
        return (f"{metric} {value:.4g} drops by {holder - value:.4g} from the holder's "
                f"{holder:.4g} (allowed {gate['max_drop']:g})")
    if holder is not None and gate.get("max_increase") is not None and (
            value - holder > gate["max_increase"] + 1e-12):
        return (f"{metric} {value:.4g} rises by {value - holder:.4g} from the holder's "
                f"{holder:.4g} (allowed {gate['max_increase']:g})")
    return None


def run_gates(registry: RegistryService, sources: GateSources, config: dict[str, Any],
              model: str, version: int, stage: str) -> str:
    """Score the candidate and the holder of ``stage``; record; raise on a failure."""
    candidate = registry.get_version(model, version)
    try:
        holder = registry.get_latest_version(model, stage=stage)
    except NotFoundError:
        holder = None
    if holder is not None and holder.version == candidate.version:
        return ""
    frame, digest = _load_frame(sources, config["dataset"], candidate.run_id)
    metrics = sorted({g["metric"] for g in config["gates"]})
    mine = score(sources.models.load(candidate.uri), frame, config["target"], metrics)
    theirs = (score(sources.models.load(holder.uri), frame, config["target"], metrics)
              if holder is not None else {})
    failures = [why for g in config["gates"]
                if (why := _verdict(g, mine[g["metric"]], theirs.get(g["metric"])))]
    passed = not failures
    shown = "; ".join(
        f"{m} {_fmt(mine[m])}" + (f" vs {_fmt(theirs.get(m))} (v{holder.version})"
                                   if holder is not None else "") for m in metrics)
    detail = {"passed": passed, "stage": stage, "dataset": config["dataset"],
              "dataset_digest": digest, "rows": len(frame), "candidate": mine,
              "holder_version": holder.version if holder else None, "holder": theirs,
              "failures": failures}
    prefix = f"gate.{stage}"
    registry.set_version_tag(model, version, f"{prefix}.result",
                             "passed" if passed else "failed")
    registry.set_version_tag(model, version, f"{prefix}.detail", json.dumps(detail))
    for m in metrics:
        registry.set_version_tag(model, version, f"{prefix}.{m}", _fmt(mine[m]))
    if not passed:
        raise InvalidStateError(
            f"evaluation gates refused version {version} of {model!r} for {stage}: "
            f"{'; '.join(failures)}", details={"field": "stage", "gates": detail})
    return f"evaluation gates passed on dataset {digest[:12]}: {shown}"


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.6g}"
