"""MLflow's tracking API (experiments, runs, metrics, inputs, outputs) on modelplane's
:class:`~modelplane.tracking.service.TrackingService`.

Roles (issue 15): GET calls and the ``search`` POSTs need ``reader``; creating, updating
and logging need ``writer``; deleting and restoring experiments and runs need ``admin``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Query

from modelplane.core.errors import InvalidArgumentError
from modelplane.core.timeutil import utcnow
from modelplane.server.mlflow import filters
from modelplane.server.mlflow.context import DEFAULT_ID, MlflowContext, Target
from modelplane.server.mlflow.convert import (
    STATUS_FROM_MLFLOW,
    experiment_json,
    metric_json,
    ms,
    run_artifact_uri,
    run_info,
    run_json,
)
from modelplane.server.mlflow.deps import ContextDep, from_ms
from modelplane.server.mlflow.errors import MlflowRoute
from modelplane.server.mlflow.schemas import (
    DeleteTagIn,
    ExperimentCreateIn,
    ExperimentIdIn,
    ExperimentTagIn,
    ExperimentUpdateIn,
    LogInputsIn,
    LogMetricIn,
    LogOutputsIn,
    LogParamIn,
    MlflowLogBatchIn,
    MlflowMetricIn,
    RunCreateIn,
    RunIdIn,
    RunUpdateIn,
    SearchExperimentsIn,
    SearchRunsIn,
    SetTagIn,
)
from modelplane.tracking.entities import DatasetRecord, Run
from modelplane.tracking.service import RunOrigin

__all__ = ["router"]

router = APIRouter(route_class=MlflowRoute, tags=["mlflow"])
Json = dict[str, Any]
_NAME_TAG = "mlflow.runName"


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        return max(0, int(base64.urlsafe_b64decode(token.encode()).decode()))
    except ValueError:
        raise InvalidArgumentError("Invalid page token", details={"field": "page_token"}) \
            from None


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode()).decode()


def _view(view: str) -> tuple[bool, str | None]:
    """``(include_deleted, only lifecycle)`` for an MLflow ``ViewType``."""
    return {"ACTIVE_ONLY": (False, None), "1": (False, None), "DELETED_ONLY": (True, "deleted"),
            "2": (True, "deleted"), "ALL": (True, None), "3": (True, None)}.get(
        str(view).upper(), (False, None))


# -- experiments -----------------------------------------------------------------------
@router.post("/experiments/create")
def create_experiment(body: ExperimentCreateIn, ctx: ContextDep) -> Json:
    tags = {t.key: t.value for t in body.tags}
    note = tags.pop("mlflow.note.content", "")
    exp = ctx.tracking.create_experiment(body.name, note, tags)
    return {"experiment_id": exp.id}


@router.get("/experiments/get")
def get_experiment(experiment_id: str, ctx: ContextDep) -> Json:
    return {"experiment": experiment_json(ctx.experiment(experiment_id))}


@router.get("/experiments/get-by-name")
def get_experiment_by_name(experiment_name: str, ctx: ContextDep) -> Json:
    return {"experiment": experiment_json(ctx.tracking.get_experiment(experiment_name))}


def _search_experiments(body: SearchExperimentsIn, ctx: MlflowContext) -> Json:
    include_deleted, only = _view(body.view_type)
    match = filters.experiment_matches(body.filter)
    found = [e for e in ctx.tracking.list_experiments(include_deleted=include_deleted)
             if (only is None or e.lifecycle == only) and match(e)]
    for key, descending in reversed(filters.experiment_sort_key(body.order_by)):
        found.sort(key=lambda e, k=key: filters.experiment_attribute(e, k, e.id),  # type: ignore[misc]
                   reverse=descending)
    start = _offset(body.page_token)
    page = found[start:start + max(1, body.max_results)]
    out: Json = {"experiments": [experiment_json(e) for e in page]}
    if start + len(page) < len(found):
        out["next_page_token"] = _token(start + len(page))
    return out


@router.post("/experiments/search")
def search_experiments(body: SearchExperimentsIn, ctx: ContextDep) -> Json:
    return _search_experiments(body, ctx)


@router.get("/experiments/search")
def search_experiments_get(ctx: ContextDep, max_results: int = 1000,
                           page_token: str | None = None, filter: str | None = None,
                           order_by: Annotated[list[str] | None, Query()] = None,
                           view_type: str = "ACTIVE_ONLY") -> Json:
    body = SearchExperimentsIn(max_results=max_results, page_token=page_token, filter=filter,
                               order_by=order_by or [], view_type=view_type)
    return _search_experiments(body, ctx)


@router.post("/experiments/delete")
def delete_experiment(body: ExperimentIdIn, ctx: ContextDep) -> Json:
    ctx.tracking.delete_experiment(ctx.experiment(body.experiment_id).id)
    return {}


@router.post("/experiments/restore")
def restore_experiment(body: ExperimentIdIn, ctx: ContextDep) -> Json:
    ctx.tracking.restore_experiment(ctx.experiment(body.experiment_id).id)
    return {}


@router.post("/experiments/update")
def update_experiment(body: ExperimentUpdateIn, ctx: ContextDep) -> Json:
    ctx.tracking.update_experiment(ctx.experiment(body.experiment_id).id, name=body.new_name)
    return {}


@router.post("/experiments/set-experiment-tag")
def set_experiment_tag(body: ExperimentTagIn, ctx: ContextDep) -> Json:
    exp = ctx.experiment(body.experiment_id)
    if body.key == "mlflow.note.content":
        ctx.tracking.update_experiment(exp.id, description=body.value)
    else:
        ctx.tracking.update_experiment(exp.id, tags={**exp.tags, body.key: body.value})
    return {}


@router.post("/experiments/delete-experiment-tag")
def delete_experiment_tag(body: ExperimentTagIn, ctx: ContextDep) -> Json:
    exp = ctx.experiment(body.experiment_id)
    ctx.tracking.update_experiment(exp.id, tags={k: v for k, v in exp.tags.items()
                                                 if k != body.key})
    return {}


# -- runs ------------------------------------------------------------------------------
@router.post("/runs/create")
def create_run(body: RunCreateIn, ctx: ContextDep) -> Json:
    exp = ctx.experiment(body.experiment_id or DEFAULT_ID)
    tags = {t.key: t.value for t in body.tags}
    name = body.run_name or tags.pop(_NAME_TAG, None) or None
    tags.pop(_NAME_TAG, None)
    origin = RunOrigin(user=(body.user_id or tags.get("mlflow.user", ""))[:128],
                       code_commit=tags.get("mlflow.source.git.commit"))
    run = ctx.tracking.start_run(exp.id, name=name, tags=tags, origin=origin,
                                 source=tags.get("mlflow.source.name", ""),
                                 parent_run_id=tags.get("mlflow.parentRunId"),
                                 start_time=from_ms(body.start_time))
    return {"run": run_json(run)}


def _run_json(ctx: MlflowContext, run: Run) -> Json:
    return run_json(run, latest=ctx.tracking.latest_metrics([run.id])[run.id],
                    datasets=ctx.tracking.run_datasets(run.id),
                    outputs=ctx.logged.search(run_id=run.id))


@router.get("/runs/get")
def get_run(ctx: ContextDep, run_id: str | None = None, run_uuid: str | None = None) -> Json:
    return {"run": _run_json(ctx, ctx.tracking.get_run(run_id or run_uuid or ""))}


@router.post("/runs/update")
def update_run(body: RunUpdateIn, ctx: ContextDep) -> Json:
    run = ctx.tracking.get_run(body.id)
    if body.run_name:
        run = ctx.tracking.rename_run(run.id, body.run_name)
    if body.status:
        status = STATUS_FROM_MLFLOW.get(str(body.status).upper())
        if status is None:
            raise InvalidArgumentError(f"Invalid value {body.status!r} for parameter 'status'",
                                       details={"field": "status"})
        if status == "running":
            run = ctx.tracking.set_status(run.id, status)
        else:
            run = ctx.tracking.end_run(run.id, status, end_time=from_ms(body.end_time))
    return {"run_info": run_info(run)}


@router.post("/runs/delete")
def delete_run(body: RunIdIn, ctx: ContextDep) -> Json:
    ctx.tracking.delete_run(body.id)
    return {}


@router.post("/runs/restore")
def restore_run(body: RunIdIn, ctx: ContextDep) -> Json:
    ctx.tracking.restore_run(body.id)
    return {}


@router.post("/runs/log-metric")
def log_metric(body: LogMetricIn, ctx: ContextDep) -> Json:
    ctx.tracking.log_batch(body.id, [(body.key, body.value, body.step,
                                      from_ms(body.timestamp) or utcnow())])
    return {}


@router.post("/runs/log-parameter")
def log_param(body: LogParamIn, ctx: ContextDep) -> Json:
    ctx.tracking.log_params(body.id, {body.key: body.value})
    return {}


@router.post("/runs/set-tag")
def set_tag(body: SetTagIn, ctx: ContextDep) -> Json:
    if body.key == _NAME_TAG:
        ctx.tracking.rename_run(body.id, body.value)
    else:
        ctx.tracking.set_tags(body.id, {body.key: body.value})
    return {}


@router.post("/runs/delete-tag")
def delete_tag(body: DeleteTagIn, ctx: ContextDep) -> Json:
    ctx.tracking.get_run(body.id)
    ctx.tracking.delete_tag(body.id, body.key)
    return {}


@router.post("/runs/log-batch")
def log_batch(body: MlflowLogBatchIn, ctx: ContextDep) -> Json:
    now = utcnow()
    metrics = [(m.key, m.value, m.step, from_ms(m.timestamp) or now)
               for m in _new_points(ctx, body.id, body.metrics)]
    tags = {t.key: t.value for t in body.tags}
    if _NAME_TAG in tags:
        ctx.tracking.rename_run(body.id, tags.pop(_NAME_TAG))
    ctx.tracking.log_batch(body.id, metrics, {p.key: p.value for p in body.params}, tags)
    return {}


def _new_points(ctx: MlflowContext, run_id: str, metrics: list[MlflowMetricIn]
                ) -> list[MlflowMetricIn]:
    """``metrics`` less the points a run already holds that are sent again to link them
    to a logged model (MLflow 3's ``log_model`` does that; MLflow's store keeps a point
    once)."""
    linked = {m.key for m in metrics if m.model_id}
    if not linked:
        return metrics
    held = {(p.key, p.step, ms(p.timestamp), p.value) for key in linked
            for p in ctx.tracking.metric_history(run_id, key)}
    return [m for m in metrics if not m.model_id
            or (m.key, m.step, m.timestamp, m.value) not in held]


@router.post("/runs/log-inputs")
def log_inputs(body: LogInputsIn, ctx: ContextDep) -> Json:
    ctx.tracking.get_run(body.id)
    for item in body.datasets:
        ds = item.dataset
        role = next((t.value for t in item.tags if t.key == "mlflow.data.context"), "") or "input"
        record = DatasetRecord(
            digest=hashlib.sha256(json.dumps([ds.name, ds.digest, ds.source]).encode())
            .hexdigest(), name=ds.name, source=ds.source[:4096], num_rows=_rows(ds.profile),
            num_columns=len(_columns(ds.schema_)), schema=_columns(ds.schema_),
            profile={"mlflow": {"digest": ds.digest, "source_type": ds.source_type,
                                "source": ds.source, "schema": ds.schema_,
                                "profile": ds.profile}}, created_at=utcnow())
        ctx.tracking.link_dataset_record(body.id, record, role)
    for model in body.models:
        ctx.logged.get(model.model_id)
    return {}


def _rows(profile: str) -> int:
    try:
        return int(json.loads(profile).get("num_rows", 0))
    except (ValueError, TypeError, AttributeError):
        return 0


def _columns(schema: str) -> list[dict[str, Any]]:
    try:
        specs = json.loads(schema).get("mlflow_colspec") or []
        return [{"name": str(s.get("name")), "dtype": str(s.get("type"))} for s in specs]
    except (ValueError, TypeError, AttributeError):
        return []


@router.post("/runs/outputs")
def log_outputs(body: LogOutputsIn, ctx: ContextDep) -> Json:
    run = ctx.tracking.get_run(body.id)
    for model in body.models:
        ctx.logged.update(model.model_id, run_id=run.id, step=model.step)
    return {}


@router.post("/runs/search")
def search_runs(body: SearchRunsIn, ctx: ContextDep) -> Json:
    include_deleted, only = _view(body.run_view_type)
    text = filters.run_filter(body.filter)
    if only is not None:
        text = f"lifecycle = '{only}'" + (f" and ({text})" if text else "")
    experiments = [ctx.experiment(e).id for e in body.experiment_ids] or None
    page = ctx.tracking.search_runs(text, experiments=experiments,
                                    order_by=filters.run_order(body.order_by),
                                    max_results=max(1, min(body.max_results, 50_000)),
                                    page_token=body.page_token or None,
                                    include_deleted=include_deleted)
    latest = ctx.tracking.latest_metrics(r.id for r in page.runs)
    out: Json = {"runs": [run_json(r, latest=latest[r.id]) for r in page.runs]}
    if page.next_page_token:
        out["next_page_token"] = page.next_page_token
    return out


# -- metrics and artifacts -------------------------------------------------------------
@router.get("/metrics/get-history")
def metric_history(metric_key: str, ctx: ContextDep, run_id: str | None = None,
                   run_uuid: str | None = None, page_token: str | None = None,
                   max_results: int | None = None) -> Json:
    rid = run_id or run_uuid or ""
    points = ctx.tracking.metric_history(rid, metric_key)
    if not points:
        ctx.tracking.get_run(rid)
    start = _offset(page_token)
    end = len(points) if not max_results else start + max_results
    out: Json = {"metrics": [metric_json(m) for m in points[start:end]]}
    if end < len(points):
        out["next_page_token"] = _token(end)
    return out


@router.get("/metrics/get-history-bulk-interval")
def metric_history_bulk(metric_key: str, ctx: ContextDep,
                        run_ids: Annotated[list[str], Query()],
                        start_step: int | None = None, end_step: int | None = None,
                        max_results: int = 320) -> Json:
    """Each run's history of ``metric_key`` between the steps, thinned evenly to at most
    ``max_results`` points per run (the first and last always kept)."""
    out = []
    for rid in run_ids:
        points = [m for m in ctx.tracking.metric_history(rid, metric_key)
                  if (start_step is None or m.step >= start_step)
                  and (end_step is None or m.step <= end_step)]
        if len(points) > max_results > 1:
            stride = (len(points) - 1) / (max_results - 1)
            points = [points[round(i * stride)] for i in range(max_results)]
        out += [{**metric_json(m), "run_id": rid} for m in points]
    return {"metrics": out}


@router.get("/artifacts/list")
def list_artifacts(ctx: ContextDep, run_id: str | None = None, run_uuid: str | None = None,
                   path: str | None = None) -> Json:
    run = ctx.tracking.get_run(run_id or run_uuid or "")
    from modelplane.server.mlflow.artifacts import listing

    rel = (path or "").strip("/")
    files = listing(ctx.files(Target("run", run.id, "")), rel)
    return {"root_uri": run_artifact_uri(run),
            "files": [{**f, "path": f"{rel}/{f['path']}" if rel else f["path"]} for f in files]}

