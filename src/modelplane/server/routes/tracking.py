"""``/api/v1/experiments`` and ``/api/v1/runs``: experiment tracking over HTTP.

Handlers parse, call :class:`~modelplane.tracking.service.TrackingService` and return a
schema; errors travel as the modelplane envelope (404 naming the unknown run or
experiment, 409 for a param conflict, 422 naming the bad field or filter position).
Artifacts and datasets live in :mod:`modelplane.server.routes.run_artifacts`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from modelplane.core.errors import NotFoundError
from modelplane.server.deps import TrackingDep
from modelplane.server.routes import run_artifacts
from modelplane.server.schemas.tracking import (
    ExperimentCreate,
    ExperimentOut,
    ExperimentUpdate,
    LogBatchIn,
    MetricOut,
    MetricSeriesOut,
    MetricsIn,
    RunCreate,
    RunOut,
    RunPageOut,
    RunSearchIn,
    RunUpdate,
    ScalarMap,
)
from modelplane.tracking.service import RunOrigin, RunPage, TrackingService

router = APIRouter(tags=["tracking"])

_NO_CONTENT: dict[str, Any] = {"status_code": status.HTTP_204_NO_CONTENT,
                               "response_class": Response}


# -- experiments -----------------------------------------------------------------------
@router.get("/experiments", response_model=list[ExperimentOut])
def list_experiments(tracking: TrackingDep, include_deleted: bool = False
                     ) -> list[ExperimentOut]:
    return [ExperimentOut.of(e) for e in tracking.list_experiments(
        include_deleted=include_deleted)]


@router.post("/experiments", response_model=ExperimentOut, status_code=201)
def create_experiment(body: ExperimentCreate, tracking: TrackingDep) -> ExperimentOut:
    return ExperimentOut.of(tracking.create_experiment(body.name, body.description, body.tags))


@router.get("/experiments/{id_or_name:path}", response_model=ExperimentOut)
def get_experiment(id_or_name: str, tracking: TrackingDep) -> ExperimentOut:
    return ExperimentOut.of(tracking.get_experiment(id_or_name))


@router.patch("/experiments/{id_or_name:path}", response_model=ExperimentOut)
def update_experiment(id_or_name: str, body: ExperimentUpdate, tracking: TrackingDep
                      ) -> ExperimentOut:
    return ExperimentOut.of(tracking.update_experiment(
        id_or_name, name=body.name, description=body.description, tags=body.tags))


@router.delete("/experiments/{id_or_name:path}", response_model=ExperimentOut)
def delete_experiment(id_or_name: str, tracking: TrackingDep) -> ExperimentOut:
    """Soft delete: hidden from lists and searches until restored."""
    return ExperimentOut.of(tracking.delete_experiment(id_or_name))


@router.post("/experiments/{id_or_name:path}/restore", response_model=ExperimentOut)
def restore_experiment(id_or_name: str, tracking: TrackingDep) -> ExperimentOut:
    return ExperimentOut.of(tracking.restore_experiment(id_or_name))


# -- search (before /runs/{run_id}, which would match "search") --------------------------
def _page(page: RunPage) -> RunPageOut:
    return RunPageOut(runs=[RunOut.of(r) for r in page.runs],
                      next_page_token=page.next_page_token)


@router.get("/runs/search", response_model=RunPageOut)
def search_runs(tracking: TrackingDep, filter: str = "",
                experiment: Annotated[list[str] | None, Query()] = None,
                order_by: str = "", max_results: int = 1000, page_token: str | None = None,
                include_deleted: bool = False) -> RunPageOut:
    """Runs matching ``filter`` (e.g. ``metrics.auc > 0.9 and (params.C = '1' or
    tags.team = 'a')``) in the ``experiment`` names or ids given (repeatable)."""
    return _page(tracking.search_runs(filter, experiments=experiment, order_by=order_by,
                                      max_results=max_results, page_token=page_token,
                                      include_deleted=include_deleted))


@router.post("/runs/search", response_model=RunPageOut)
def search_runs_post(body: RunSearchIn, tracking: TrackingDep) -> RunPageOut:
    """The same search with the fields in a JSON body (for long filters)."""
    return _page(tracking.search_runs(body.filter, experiments=body.experiments,
                                      order_by=body.order_by, max_results=body.max_results,
                                      page_token=body.page_token,
                                      include_deleted=body.include_deleted))


@router.post("/runs/fail-stale", response_model=list[RunOut])
def fail_stale_runs(tracking: TrackingDep) -> list[RunOut]:
    """Mark failed the running runs on the server's host whose process is gone."""
    return [RunOut.of(r) for r in tracking.fail_stale_runs()]


# -- runs ------------------------------------------------------------------------------
@router.post("/runs/{run_id}/heartbeat", **_NO_CONTENT)
def heartbeat(run_id: str, tracking: TrackingDep) -> Response:
    """The run's process is alive (a run whose heartbeat stops is marked failed)."""
    tracking.heartbeat([run_id])
    return Response(status_code=204)


@router.post("/runs", response_model=RunOut, status_code=201)
def create_run(body: RunCreate, tracking: TrackingDep) -> RunOut:
    origin = RunOrigin(user=body.user, host=body.host, pid=body.pid,
                       code_commit=body.code_commit, code_dirty=body.code_dirty)
    return RunOut.of(tracking.start_run(
        body.experiment, name=body.name, params=body.params, tags=body.tags,
        parent_run_id=body.parent_run_id, source=body.source, origin=origin))


@router.get("/runs/{run_id}", response_model=RunOut)
def get_run(run_id: str, tracking: TrackingDep) -> RunOut:
    return RunOut.of(tracking.get_run(run_id))


@router.patch("/runs/{run_id}", response_model=RunOut)
def update_run(run_id: str, body: RunUpdate, tracking: TrackingDep) -> RunOut:
    """Rename, end (``finished``, ``failed``, ``killed``) or reopen (``running``) a run."""
    run = tracking.get_run(run_id)
    if body.name is not None:
        run = tracking.rename_run(run_id, body.name)
    if body.status == "running":
        run = tracking.set_status(run_id, "running")
    elif body.status is not None:
        run = tracking.end_run(run_id, body.status)
    return RunOut.of(run)


@router.delete("/runs/{run_id}", response_model=RunOut)
def delete_run(run_id: str, tracking: TrackingDep) -> RunOut:
    """Soft delete: hidden from searches until restored."""
    return RunOut.of(tracking.delete_run(run_id))


@router.post("/runs/{run_id}/restore", response_model=RunOut)
def restore_run(run_id: str, tracking: TrackingDep) -> RunOut:
    return RunOut.of(tracking.restore_run(run_id))


# -- logging ---------------------------------------------------------------------------
def _log(tracking: TrackingService, run_id: str, body: LogBatchIn) -> None:
    if not (body.metrics or body.params or body.tags):
        tracking.get_run(run_id)  # nothing to write: still 404 an unknown run
        return
    tracking.log_batch(run_id, [m.as_tuple() for m in body.metrics], body.params, body.tags)


@router.post("/runs/{run_id}/log-batch", **_NO_CONTENT)
def log_batch(run_id: str, body: LogBatchIn, tracking: TrackingDep) -> None:
    """Metrics, params and tags in one transaction: all or nothing. A param already set
    to another value is a 409 and nothing of the batch is written."""
    _log(tracking, run_id, body)


@router.post("/runs/{run_id}/metrics", **_NO_CONTENT)
def log_metrics(run_id: str, body: MetricsIn, tracking: TrackingDep) -> None:
    """One metric object (``{"key", "value", "step", "timestamp"}``) or a list of them."""
    _log(tracking, run_id, LogBatchIn(metrics=body.root))


@router.put("/runs/{run_id}/params", **_NO_CONTENT)
def log_params(run_id: str, body: ScalarMap, tracking: TrackingDep) -> None:
    """Add params; one already set to another value is a 409 (params are immutable)."""
    _log(tracking, run_id, LogBatchIn(params=body))


@router.put("/runs/{run_id}/tags", **_NO_CONTENT)
def set_tags(run_id: str, body: ScalarMap, tracking: TrackingDep) -> None:
    """Set (add or overwrite) the tags given; other tags are kept."""
    _log(tracking, run_id, LogBatchIn(tags=body))


@router.delete("/runs/{run_id}/tags/{key:path}", **_NO_CONTENT)
def delete_tag(run_id: str, key: str, tracking: TrackingDep) -> None:
    tracking.get_run(run_id)
    tracking.delete_tag(run_id, key)


@router.get("/runs/{run_id}/metrics/{key:path}/history", response_model=list[MetricOut])
def metric_history(run_id: str, key: str, tracking: TrackingDep, from_step: int = 0,
                   limit: int | None = None) -> list[MetricOut]:
    """Every point logged for ``key``, by step then time; with ``limit``, a page of them
    from ``from_step`` (a long history is exported page by page)."""
    if limit is not None:
        tracking.get_run(run_id)  # 404 for an unknown run
        return [MetricOut.of(m) for m in tracking.metric_page(run_id, key, from_step, limit)]
    history = tracking.metric_history(run_id, key)
    if not history:
        known = sorted(tracking.get_run(run_id).metrics)  # 404 for an unknown run
        raise NotFoundError(
            f"run {run_id} has no metric {key!r}"
            + (f"; it has {', '.join(known)}" if known else "; it has no metrics"),
            details={"run_id": run_id, "key": key, "available": known})
    return [MetricOut.of(m) for m in history]


@router.get("/runs/{run_id}/metrics/{key:path}/series", response_model=MetricSeriesOut)
def metric_series(run_id: str, key: str, tracking: TrackingDep,
                  max_points: int = 1000) -> MetricSeriesOut:
    """At most about ``max_points`` points of ``key``: raw, or min/max per step bucket."""
    tracking.get_run(run_id)  # 404 for an unknown run
    series = tracking.metric_series(run_id, key, max_points)
    return MetricSeriesOut(key=series.key, count=series.count, bucketed=series.bucketed,
                           points=[[s, _num(lo), _num(hi)] for s, lo, hi in series.points])


def _num(value: float) -> float | None:
    return None if value != value else value  # NaN is null in JSON


router.include_router(run_artifacts.router)
