"""UI pages for tracking: the overview, experiments, an experiment's runs (filter, sort,
pagination), a run, and runs compared side by side."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from modelplane.core.errors import InvalidArgumentError, ModelplaneError
from modelplane.core.filters import Field, parse_order_by
from modelplane.server.deps import ClientDep, TrackingDep
from modelplane.server.ui.artifacts import listing, run_files
from modelplane.server.ui.charts import PALETTE, Series, line_chart
from modelplane.server.ui.render import UIRoute, error_page, page, pager
from modelplane.tracking.entities import Run
from modelplane.tracking.history import MetricSeries
from modelplane.tracking.search import RUN_FILTER_SCHEMA
from modelplane.tracking.service import RunPage

router = APIRouter(route_class=UIRoute, include_in_schema=False,
                   default_response_class=HTMLResponse)

PAGE_SIZES = (25, 50, 100, 500)
MAX_COLUMNS = 20  # metric or param columns in the runs table
MAX_COMPARE = 50
CHART_POINTS = 1000  # a longer history is drawn as min/max per bucket of steps


@dataclass(frozen=True)
class InputError:
    """A bad filter or sort, shown under the box: the message and the text split at the
    position the parser stopped (``before``, ``at``, ``after``)."""

    field: str
    message: str
    before: str = ""
    at: str = ""
    after: str = ""

    @classmethod
    def of(cls, exc: InvalidArgumentError, texts: dict[str, str]) -> InputError:
        field = str(exc.details.get("field", ""))
        text, pos = texts.get(field), exc.details.get("position")
        if text is None or not isinstance(pos, int):
            return cls(field, exc.message)
        return cls(field, exc.message, text[:pos], text[pos:pos + 1] or " ", text[pos + 1:])


def _at_most(count: int, shown: int) -> str:
    return f"{shown}+" if count > shown else str(count)


@router.get("/")
def overview(client: ClientDep) -> HTMLResponse:
    experiments = client.tracking.list_experiments()
    recent = client.tracking.search_runs(max_results=10).runs
    models = client.registry.search_models(max_results=100)
    names = {e.id: e.name for e in experiments}
    counts = [("experiments", len(experiments), "/experiments"),
              ("models", f"{len(models.items)}{'+' if models.next_page_token else ''}",
               "/models"),
              ("deployments", len(client.deployments.list()), "/deployments"),
              ("feature views", len(client.features.list_feature_views()), "/features"),
              ("pipeline runs", _at_most(len(client.pipelines.list_runs(limit=101)), 100),
               "/pipelines")]
    return page("overview.html", "", counts=counts, recent=recent, experiment_names=names)


@router.get("/experiments")
def experiments(tracking: TrackingDep, deleted: bool = False) -> HTMLResponse:
    found = tracking.list_experiments(include_deleted=deleted)
    return page("experiments.html", "experiments", experiments=found, deleted=deleted)


def _columns(runs: list[Run], attr: str) -> list[str]:
    keys: set[str] = set()
    for run in runs:
        keys.update(getattr(run, attr))
    return sorted(keys)[:MAX_COLUMNS]


def _sort_links(order_by: str) -> tuple[str, bool]:
    """The field the runs are sorted by first, and whether descending ('' when none or
    when ``order_by`` does not parse)."""
    try:
        order = parse_order_by(order_by, RUN_FILTER_SCHEMA)
    except InvalidArgumentError:
        return "", False
    return (str(order[0][0]), order[0][1]) if order else ("", False)


@router.get("/experiments/{ref:path}")
def experiment(ref: str, tracking: TrackingDep, filter: str = "", order_by: str = "",
               page_token: str | None = None,
               prev: Annotated[list[str] | None, Query()] = None,
               per_page: int = 50) -> HTMLResponse:
    """Runs of one experiment. ``prev`` holds the tokens of the pages before this one, so
    "previous" goes back without the service's tokens having to run backwards."""
    exp = tracking.get_experiment(ref)
    error = None
    try:
        found = tracking.search_runs(filter, experiments=[exp.id], order_by=order_by,
                                     max_results=per_page, page_token=page_token or None)
    except InvalidArgumentError as exc:
        error = InputError.of(exc, {"filter": filter, "order_by": order_by})
        found = RunPage([], None)
    sorted_by, descending = _sort_links(order_by)
    metric_keys, param_keys = _columns(found.runs, "metrics"), _columns(found.runs, "params")
    columns = ([("metric", k, str(Field("metrics", k))) for k in metric_keys]
               + [("param", k, str(Field("params", k))) for k in param_keys])
    return page("experiment.html", "experiments", experiment=exp, runs=found.runs,
                pages=pager({"filter": filter, "order_by": order_by, "per_page": str(per_page)},
                            page_token, found.next_page_token, list(prev or [])),
                filter=filter, order_by=order_by, error=error,
                per_page=per_page, columns=columns,
                page_sizes=sorted({*PAGE_SIZES, per_page}) if per_page > 0 else PAGE_SIZES,
                sorted_by=sorted_by, descending=descending,
                attribute_sorts={"name": "name", "status": "status",
                                 "started (UTC)": "start_time"})


def _points(series: MetricSeries) -> list[tuple[float, float]]:
    if not series.bucketed:
        return [(step, low) for step, low, _ in series.points]
    return [(step, value) for step, low, high in series.points for value in (low, high)]


@router.get("/runs/{run_id}")
def run_detail(run_id: str, client: ClientDep) -> HTMLResponse:
    tracking, registry = client.tracking, client.registry
    run = tracking.get_run(run_id)
    exp = tracking.get_experiment(run.experiment_id)
    charts = []
    for key in sorted(run.metrics)[:MAX_COLUMNS * 2]:
        series = tracking.metric_series(run.id, key, CHART_POINTS)
        charts.append({"key": key, "count": series.count,
                       "svg": line_chart([Series(run.name, _points(series))], title=key)})
    quoted = run.id.replace("'", "''")
    versions = registry.search_versions(f"run_id = '{quoted}'", max_results=100).items
    children = tracking.search_runs(f"parent_run_id = '{quoted}'", max_results=100).runs
    parent = None
    if run.parent_run_id:
        try:
            parent = tracking.get_run(run.parent_run_id)
        except ModelplaneError:
            parent = None
    folders, files = listing(run_files(client, run.id, versions), "")
    return page("run.html", "experiments", run=run, experiment=exp, charts=charts,
                datasets=tracking.run_datasets(run.id), artifact_folders=folders,
                artifact_files=files, versions=versions, children=children, parent=parent)


@router.get("/compare")
def compare(tracking: TrackingDep,
            run: Annotated[list[str] | None, Query()] = None) -> HTMLResponse:
    """Two or more runs: params and latest metrics side by side (rows that differ are
    marked) and every metric's curves overlaid, one colour per run."""
    ids = list(dict.fromkeys(run or []))
    if len(ids) < 2:
        return error_page(422, f"select at least two runs to compare (got {len(ids)})",
                          section="experiments")
    if len(ids) > MAX_COMPARE:
        return error_page(422, f"compare at most {MAX_COMPARE} runs at a time (got "
                          f"{len(ids)})", section="experiments")
    runs = tracking.get_runs(ids)
    colours = {r.id: PALETTE[i % len(PALETTE)] for i, r in enumerate(runs)}
    param_keys = sorted({k for r in runs for k in r.params})
    metric_keys = sorted({k for r in runs for k in r.metrics})
    params = [(k, values, _differs(values))
              for k in param_keys for values in [[r.params.get(k) for r in runs]]]
    metrics = [(k, values, _differs(values))
               for k in metric_keys for values in [[r.metrics.get(k) for r in runs]]]
    charts = []
    for key in metric_keys:
        found = tracking.metric_series_many([r.id for r in runs if key in r.metrics], key,
                                            CHART_POINTS)
        series = [Series(r.name, _points(found[r.id]), colours[r.id])
                  for r in runs if r.id in found]
        charts.append({"key": key, "svg": line_chart(series, title=key)})
    experiments = {r.experiment_id: tracking.get_experiment(r.experiment_id).name
                   for r in runs}
    return page("compare.html", "experiments", runs=runs, colours=colours, params=params,
                metrics=metrics, charts=charts, experiments=experiments)


def _differs(values: list[Any]) -> bool:
    return len({repr(v) for v in values}) > 1
