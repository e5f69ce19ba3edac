"""The ``start_pipeline`` alert action (alias ``retrain``): a monitoring alert starts a
pipeline, e.g. retraining when drift is detected.

Params: ``pipeline`` (``module:attr``), ``params`` (a dict), ``run_now`` (default false:
queue a trigger for ``modelplane scheduler``; true: run it on the alert's worker thread,
which suits one-process setups and the quickstart).
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from modelplane.core.errors import InvalidArgumentError

if TYPE_CHECKING:
    from modelplane.client import Client
    from modelplane.monitoring.alerts import ActionContext

__all__ = ["register_pipeline_actions"]

_OWNERS: weakref.WeakKeyDictionary[Any, Client] = weakref.WeakKeyDictionary()


def _validate(params: dict[str, Any]) -> None:
    ref = params.get("pipeline")
    if not isinstance(ref, str) or ":" not in ref:
        raise InvalidArgumentError("pipeline: expected a 'module:attr' reference",
                                   details={"field": "pipeline"})
    if not isinstance(params.get("params", {}), dict):
        raise InvalidArgumentError("params: expected an object", details={"field": "params"})


def _start(ctx: ActionContext) -> dict[str, Any]:
    client = _OWNERS.get(ctx.service)
    if client is None:
        from modelplane.fluent import default_client

        client = default_client()
    ref, params = ctx.params["pipeline"], dict(ctx.params.get("params") or {})
    reason = f"alert {ctx.alert.rule_name}: {ctx.alert.metric} = {ctx.alert.value}"
    if not ctx.params.get("run_now"):
        trigger = client.pipelines.scheduler.trigger(ref, params, reason=reason)
        return {"queued": getattr(trigger, "id", "")}
    run = client.pipelines.run(ref, params, trigger="alert")
    if run.status != "succeeded":
        raise RuntimeError(f"pipeline run {run.id} ended {run.status}")
    return {"pipeline_run": run.id, "pipeline_status": run.status}


def register_pipeline_actions(client: Client, monitoring: Any = None) -> None:
    """Register ``start_pipeline`` and ``retrain`` (idempotent)."""
    from modelplane.monitoring.alerts import register_action

    if monitoring is not None:
        _OWNERS[monitoring] = client
    for name in ("start_pipeline", "retrain"):
        register_action(name, _start, validate=_validate, replace=True)
