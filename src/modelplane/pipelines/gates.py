"""Model gates: continuous delivery for models at the end of a pipeline.

``register(model, name, eval_data=test, gates=[Gate("auc")])`` adds a step that scores
the candidate and the current production version of ``name`` on the same stored
evaluation dataset (the ``eval_data`` artifact). Only when every gate passes is the
candidate registered as a new version (the very artifact the pipeline stored) and moved
to staging; the scores, the dataset digest and the verdict are recorded on the version
as tags and in its description. A rejected candidate is not registered; the step still
succeeds and returns the report (``fail_on_reject=True`` makes it fail instead). A
candidate that is the very artifact an earlier version was registered from (a rerun with
the same data, code and params, its steps cached) registers nothing, whatever the gates
say (there is nothing new to gate, so it never fails the step either): the report's
``decision`` is ``registered``, ``rejected`` or ``unchanged`` (``unchanged_from``: that
version).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from modelplane.core.errors import InvalidArgumentError, InvalidStateError, NotFoundError
from modelplane.pipelines.dsl import Step, StepOutput

if TYPE_CHECKING:
    from modelplane.pipelines.services import StepServices

__all__ = ["METRICS", "MODEL_DIGEST_TAG", "Gate", "register"]

#: the tag holding the pipeline artifact a version was registered from: a rerun that
#: produces the same artifact (same data, code and params) registers nothing
MODEL_DIGEST_TAG = "pipeline_model_digest"


def _accuracy(y: Any, pred: Any, proba: Any) -> float:
    import numpy as np

    return float(np.mean(np.asarray(pred) == np.asarray(y)))


def _auc(y: Any, pred: Any, proba: Any) -> float:
    """ROC AUC of the positive-class score (Mann-Whitney U, ties averaged)."""
    import numpy as np

    y = np.asarray(y)
    score = np.asarray(proba if proba is not None else pred, dtype=float)
    if score.ndim == 2:
        score = score[:, -1]
    classes = np.unique(y)
    if len(classes) != 2:
        raise InvalidArgumentError("auc needs exactly two classes in the evaluation labels")
    positive = y == classes[-1]
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score), dtype=float)
    sorted_scores = score[order]
    i = 0
    while i < len(score):  # average ranks over ties
        j = i
        while j + 1 < len(score) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _rmse(y: Any, pred: Any, proba: Any) -> float:
    import numpy as np

    return float(np.sqrt(np.mean((np.asarray(pred, dtype=float) - np.asarray(y, float)) ** 2)))


def _mae(y: Any, pred: Any, proba: Any) -> float:
    import numpy as np

    return float(np.mean(np.abs(np.asarray(pred, dtype=float) - np.asarray(y, float))))


#: name -> (function(y_true, predictions, probabilities), higher is better)
METRICS: dict[str, tuple[Callable[[Any, Any, Any], float], bool]] = {
    "accuracy": (_accuracy, True), "auc": (_auc, True), "rmse": (_rmse, False),
    "mae": (_mae, False),
}


@dataclass(frozen=True)
class Gate:
    """Pass when the candidate's ``metric`` beats production's (strictly) by at least
    ``min_delta`` in the metric's better direction (a negative ``min_delta`` tolerates
    that much worse) and, when set, reaches ``min_value``."""

    metric: str
    min_delta: float = 0.0
    min_value: float | None = None

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise InvalidArgumentError(f"unknown gate metric {self.metric!r}; expected one of "
                                       f"{', '.join(METRICS)}", details={"field": "metric"})

    def check(self, candidate: float, production: float | None) -> tuple[bool, str]:
        higher = METRICS[self.metric][1]
        if self.min_value is not None and (candidate < self.min_value if higher
                                           else candidate > self.min_value):
            return False, f"{self.metric} {candidate:.6g} misses the floor {self.min_value:g}"
        if production is None:
            return True, f"{self.metric} {candidate:.6g}; no production version to beat"
        delta = candidate - production if higher else production - candidate
        passed = delta >= self.min_delta and (delta > 0 or self.min_delta < 0)
        if passed and delta > 0:
            return True, (f"{self.metric} {candidate:.6g} beats production {production:.6g} "
                          f"by {delta:.4g}")
        if passed:  # equal or worse, but within the tolerance a negative min_delta allows
            how = "equals" if delta == 0 else f"is {-delta:.4g} {'below' if higher else 'above'}"
            return True, (f"{self.metric} {candidate:.6g} {how} production {production:.6g}: "
                          f"not better, within tolerance {-self.min_delta:g} of it")
        return False, (f"{self.metric} {candidate:.6g} does not beat production "
                       f"{production:.6g} (min delta {self.min_delta:g})")


def _score(model: Any, X: Any, y: Any, metrics: list[str]) -> dict[str, float]:
    predict = getattr(model, "predict", None)
    if predict is None:
        raise InvalidArgumentError(f"the model ({type(model).__name__}) has no predict")
    pred = predict(X)
    proba = None
    if any(m == "auc" for m in metrics) and hasattr(model, "predict_proba"):
        try:
            proba = model.predict_proba(X)
        except Exception:  # LoadedModel without proba raises; fall back to predictions
            proba = None
    return {m: METRICS[m][0](y, pred, proba) for m in metrics}


def _register_fn(model: Any, eval_data: Any, name: str, target: str = "target",
                 gates: list[dict[str, Any]] | None = None, stage: str = "staging",
                 fail_on_reject: bool = False) -> dict[str, Any]:
    """The gate step: score, compare with production, register + stage on a pass."""
    from modelplane.pipelines.executors.base import current

    services = current.services
    specs = [Gate(**g) for g in (gates or [])]
    if target not in getattr(eval_data, "columns", []):
        raise InvalidArgumentError(f"register: the evaluation data has no column {target!r}",
                                   details={"field": "target"})
    X, y = eval_data.drop(columns=[target]), eval_data[target]
    metrics = sorted({g.metric for g in specs} or {"accuracy"})
    candidate = _score(model, X, y, metrics)
    production_version, production = None, None
    try:
        prod = services.registry.get_latest_version(name, stage="production")
        production_version = prod.version
        production = _score(services.models.load(prod.uri), X, y, metrics)
    except NotFoundError:
        pass
    verdicts = [g.check(candidate[g.metric], None if production is None
                        else production[g.metric]) for g in specs]
    passed = all(ok for ok, _ in verdicts)
    report: dict[str, Any] = {
        "passed": passed, "candidate": candidate, "production": production,
        "production_version": production_version, "reasons": [r for _, r in verdicts],
        "eval_dataset": _input_digest("eval_data"), "version": None,
        "decision": "registered" if passed else "rejected", "unchanged_from": None}
    run = current.run if current.task is not None else None
    if run is not None:
        run.log_metrics({f"candidate_{k}": v for k, v in candidate.items()})
        run.log_dataset(eval_data, name=f"{name}-eval", role="eval")
    same = _registered_as(services, name, _input_digest("model"))
    if same is not None:  # same data, code and params (a cached train step): nothing new
        report.update(decision="unchanged", unchanged_from=same)
        return report
    if not passed:
        if fail_on_reject:
            raise InvalidStateError(f"gate rejected the candidate for {name}: "
                                    f"{'; '.join(report['reasons'])}")
        return report
    report["version"] = _register(services, model, name, report, stage, run,
                                  _example(eval_data, target))
    return report


def _registered_as(services: StepServices, name: str, digest: str | None) -> int | None:
    """The version of ``name`` already registered from the model artifact ``digest``."""
    if digest is None:
        return None
    found = services.registry.search_versions(
        f"name = '{name}' and tags.{MODEL_DIGEST_TAG} = '{digest}'", max_results=1).items
    return found[0].version if found else None


def _input_digest(name: str) -> str | None:
    from modelplane.pipelines.executors.base import current

    task = current.task
    ref = task.inputs.get(name) if task else None
    return ref.digest if ref else None


def _register(services: StepServices, model: Any, name: str, report: dict[str, Any],
              stage: str, run: Any, example: Any = None) -> int:
    from modelplane.pipelines.executors.base import current

    task = current.task
    ref = task.inputs.get("model") if task else None
    tags = {"gate": "passed", MODEL_DIGEST_TAG: ref.digest if ref else "",
            "pipeline": task.pipeline if task else "",
            "pipeline_run_id": task.pipeline_run_id if task else "",
            "pipeline_step": task.node if task else "",
            **{f"gate.{k}": f"{v:.6g}" for k, v in report["candidate"].items()}}
    if report["production_version"] is not None:
        tags["gate.baseline_version"] = str(report["production_version"])
    description = f"gate passed on eval dataset {str(report['eval_dataset'])[:12]}: " + \
        "; ".join(report["reasons"])
    if ref is not None and ref.kind == "model" and ref.meta["model_meta"].get("input_example"):
        meta = ref.meta["model_meta"]
        version = services.registry.create_version(
            name, artifact_digest=ref.digest, flavor=ref.meta["flavor"], size=ref.size,
            run_id=run.id if run else None, signature=meta.get("signature"),
            input_example=meta.get("input_example"), metrics=report["candidate"],
            model_meta=meta, description=description, tags=tags)
    else:
        version = services.model_logger.log_model(run.id if run else None, model, name,
                                                  input_example=example,
                                                  description=description, tags=tags)
    services.registry.set_stage(name, version.version, stage,
                                reason="pipeline gate passed: " + "; ".join(report["reasons"]))
    if task is not None:
        services.run_store.link_model_version(task.step_run_id, name, version.version)
    return int(version.version)


def _example(eval_data: Any, target: str) -> Any:
    """Five rows of the features (the served model's input example: warm-up, signature)."""
    drop = getattr(eval_data, "drop", None)
    if callable(drop) and target in getattr(eval_data, "columns", ()):
        return drop(columns=[target]).head(5)
    return None


_register_step = Step(_register_fn, name="register", cache=False)


def register(model: StepOutput, name: str, *, eval_data: StepOutput,
             gates: list[Gate] | None = None, target: str = "target", stage: str = "staging",
             fail_on_reject: bool = False) -> StepOutput:
    """Inside a pipeline: a step that registers ``model`` as a new version of ``name`` and
    moves it to ``stage`` only if it passes ``gates`` on ``eval_data`` (a DataFrame with
    the label in column ``target``) against the production version. Returns the report
    (``passed``, scores, reasons, ``version``)."""
    if not isinstance(model, StepOutput) or not isinstance(eval_data, StepOutput):
        raise InvalidArgumentError("register() takes step outputs (model, eval_data) inside a "
                                   "@pipeline function")
    specs = [g if isinstance(g, Gate) else Gate(**g) for g in (gates or [Gate("accuracy")])]
    output: StepOutput = _register_step(model, eval_data, name=name, target=target,
                                        gates=[asdict(g) for g in specs], stage=stage,
                                        fail_on_reject=fail_on_reject)
    return output
