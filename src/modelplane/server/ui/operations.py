"""UI pages for models in production: deployments (variants, traffic, canary, events,
per-variant figures and their requests, errors and latency over time) and monitoring
(health and its charts over time, drift per feature with a reference-vs-current histogram,
labelled performance, alert rules and alerts)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from modelplane.core.errors import InvalidArgumentError, ModelplaneError, NotFoundError
from modelplane.monitoring.drift import ColumnDrift
from modelplane.server.deps import ClientDep, DeploymentsDep, MonitoringDep
from modelplane.server.ui.activity import deployment_charts, monitoring_charts
from modelplane.server.ui.charts import Bar, bar_chart
from modelplane.server.ui.render import UIRoute, page
from modelplane.server.ui.session import ui_session

router = APIRouter(route_class=UIRoute, include_in_schema=False,
                   default_response_class=HTMLResponse)

EVENTS = 100
ALERTS = 50
RECENT = 20  # rows of the prediction log on a model's monitoring page
STATS_WINDOW = "5m"
MAX_VERSION = 2**31 - 1
WINDOWS = ("15m", "1h", "6h", "24h", "7d", "1000p")
ACTIVITY_WINDOWS = ("15m", "1h", "6h", "24h", "7d")


# -- deployments --------------------------------------------------------------------------
def _versions(service: Any, d: Any) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for v in d.variants:
        try:
            out[v.name] = service.resolve_one(d, v)
        except ModelplaneError:  # a stage or alias that names no version any more
            out[v.name] = None
    return out


@router.get("/deployments")
def deployments(service: DeploymentsDep) -> HTMLResponse:
    found = service.list()
    return page("deployments.html", "deployments", deployments=found,
                versions={d.name: _versions(service, d) for d in found})


@router.get("/deployments/{name}")
def deployment(request: Request, name: str, service: DeploymentsDep, window: str = "1h",
               error: str = "", notice: str = "") -> HTMLResponse:
    d = service.get(name)
    stats = {k: v.to_dict() for k, v in service.stats(name, STATS_WINDOW).items()}
    events = list(reversed(service.events(name, limit=EVENTS)))
    charts = deployment_charts(*service.stats_over_time(name, window))
    return page("deployment.html", "deployments", d=d, versions=_versions(service, d),
                stats=stats, stats_window=STATS_WINDOW, events=events, event_limit=EVENTS,
                charts=charts, window=window, windows=ACTIVITY_WINDOWS, action_error=error,
                notice=notice, **ui_session(request))


# -- monitoring ---------------------------------------------------------------------------
@router.get("/monitoring")
def monitoring_overview(client: ClientDep, window: str = "1h") -> HTMLResponse:
    """Every registered model (first 100) with its health over ``window``."""
    models = client.registry.search_models(max_results=100).items
    rows, error = [], None
    for m in models:
        try:
            rows.append((m, client.monitoring.health(m.name, window).overall))
        except InvalidArgumentError as exc:
            error = exc.message
            break
        except OverflowError:  # see model_monitoring
            error = f"window: {window!r} reaches too far back"
            break
    return page("monitoring_overview.html", "monitoring", rows=rows, window=window,
                windows=WINDOWS, error=error, models=models)


@dataclass
class DriftView:
    """What the drift section shows: the summary, the bars, and one column's histogram."""

    report: Any
    bars: Markup
    column: ColumnDrift | None
    histogram: Markup | None
    unknown_feature: str = ""


def _column_name(c: ColumnDrift) -> str:
    return c.column if c.role == "feature" else f"prediction:{c.column}"


def _drift_view(report: Any, feature: str, query: dict[str, str]) -> DriftView:
    from modelplane.monitoring.report import svg_histogram

    columns = report.result.columns
    bars = [Bar(label=_column_name(c), value=c.effect_size, flagged=c.drifted,
                threshold=c.threshold,
                note=f"; {c.effect}; {c.test} p={c.p_value:.3g}" if c.p_value is not None
                else f"; {c.effect}",
                href="?" + urlencode({**query, "feature": _column_name(c)}) + "#histogram",
                extra={"effect": c.effect, "drifted": "true" if c.drifted else "false"})
            for c in columns]
    by_name = {_column_name(c): c for c in columns}
    chosen = by_name.get(feature) if feature else None
    unknown = feature if feature and chosen is None else ""
    if chosen is None:
        chosen = next((c for c in columns if c.drifted), columns[0] if columns else None)
    hist = chosen.histogram if chosen is not None else {}
    svg = (Markup(svg_histogram(hist["labels"], hist["reference"], hist["current"],
                                 width=560, height=180))
           if hist and hist.get("labels") else None)
    return DriftView(report, bar_chart(bars), chosen, svg, unknown)


@router.get("/models/{name}/monitoring")
def model_monitoring(name: str, client: ClientDep, monitoring: MonitoringDep,
                     window: str = "1h", version: str = "", feature: str = "") -> HTMLResponse:
    """Health, drift and performance of ``name`` over ``window``. A window or version
    that does not parse is shown under the form; a model without a reference profile
    shows how to set one."""
    model = client.registry.get_model(name)
    query = {"window": window, **({"version": version} if version else {})}
    errors: dict[str, str] = {}
    number: int | None = None
    if version.strip():
        text = version.strip()
        number = int(text) if text.isascii() and text.isdigit() else -1
        if not 0 <= number <= MAX_VERSION:
            errors["version"] = f"version: expected a version number, got {version!r}"
    health = drift = performance = None
    recent: list[Any] = []
    charts: list[dict[str, Any]] = []
    drift_error = ""
    if not errors:
        try:
            health = monitoring.health(name, window, number)
            charts = monitoring_charts(monitoring.health_over_time(name, window, number))
            performance = monitoring.performance(name, window, number)
            recent = monitoring.prediction_log(name, window, version=number, limit=RECENT)
        except InvalidArgumentError as exc:
            errors[str(exc.details.get("field", "window"))] = exc.message
        except OverflowError:  # a window reaching past year 1 (the service does not check)
            errors["window"] = f"window: {window!r} reaches too far back"
    if not errors:
        try:
            drift = _drift_view(monitoring.drift(name, window, number), feature, query)
        except (NotFoundError, InvalidArgumentError) as exc:
            drift_error = exc.message
    return page("monitoring.html", "monitoring", model=model, window=window, version=version,
                windows=WINDOWS, errors=errors, health=health, drift=drift,
                drift_error=drift_error, performance=performance, recent=recent,
                charts=charts,
                rules=monitoring.list_rules(name), alerts=monitoring.alerts(name, limit=ALERTS))
