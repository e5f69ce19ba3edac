"""The ``start_pipeline`` alert action (alias ``retrain``): a monitoring alert starts a
pipeline, e.g. retraining when drift is detected.

Params: ``pipeline`` (``module:attr``), ``params`` (a dict), ``run_now`` (default false:
queue a trigger for ``modelplane scheduler``; true: run it on the alert's worker thread,
which suits one-process setups and the quickstart). :func:`register_pipeline_actions`
binds the action to one pipeline service, on one monitoring service's action registry
(the composition root calls it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from modelplane.core.errors import InvalidArgumentError

if TYPE_CHECKING:
    from modelplane.monitoring.actions import ActionContext, ActionRegistry
    from modelplane.pipelines.service import PipelineService

__all__ = ["register_pipeline_actions"]


def _validate(params: dict[str, Any]) -> None:
    ref = params.get("pipeline")
    if not isinstance(ref, str) or ":" not in ref:
        raise InvalidArgumentError("pipeline: expected a 'module:attr' reference",
                                   details={"field": "pipeline"})
    if not isinstance(params.get("params", {}), dict):
        raise InvalidArgumentError("params: expected an object", details={"field": "params"})


def _start(pipelines: PipelineService, ctx: ActionContext) -> dict[str, Any]:
    ref, params = ctx.params["pipeline"], dict(ctx.params.get("params") or {})
    reason = f"alert {ctx.alert.rule_name}: {ctx.alert.metric} = {ctx.alert.value}"
    if not ctx.params.get("run_now"):
        trigger = pipelines.scheduler.trigger(ref, params, reason=reason)
        return {"queued": trigger.id}
    run = pipelines.run(ref, params, trigger="alert")
    if run.status != "succeeded":
        raise RuntimeError(f"pipeline run {run.id} ended {run.status}")
    return {"pipeline_run": run.id, "pipeline_status": run.status}


def register_pipeline_actions(actions: ActionRegistry,
                              pipelines: Callable[[], PipelineService]) -> None:
    """Register ``start_pipeline`` and ``retrain`` on ``actions``, running pipelines with
    ``pipelines()`` (built on first use)."""
    for name in ("start_pipeline", "retrain"):
        actions.register(name, lambda ctx: _start(pipelines(), ctx), validate=_validate,
                         replace=True)
