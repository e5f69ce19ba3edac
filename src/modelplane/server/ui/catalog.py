"""UI pages for the feature store (views, services, entities) and pipelines (runs and
their steps)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from modelplane.server.deps import ClientDep, FeatureStoreDep
from modelplane.server.ui.render import UIRoute, page

router = APIRouter(route_class=UIRoute, include_in_schema=False,
                   default_response_class=HTMLResponse)

PIPELINE_RUNS = 100


# -- features -----------------------------------------------------------------------------
@router.get("/features")
def features(store: FeatureStoreDep) -> HTMLResponse:
    views = [{"kind": v.kind, "version": v.version, **v.spec()}
             for v in store.list_feature_views()]
    services = [{"version": s.version, **s.spec()} for s in store.list_feature_services()]
    entities = [e.spec() for e in store.list_entities()]
    return page("features.html", "features", views=views, services=services,
                entities=entities)


@router.get("/features/views/{name}")
def feature_view(name: str, store: FeatureStoreDep) -> HTMLResponse:
    detail = store.describe_view(name)
    services = [s.name for s in store.list_feature_services()
                if any(f.split(":", 1)[0] == name for f in s.spec().get("features", []))]
    return page("feature_view.html", "features", view=detail, spec=detail["spec"],
                services=services)


@router.get("/features/services/{name}")
def feature_service(name: str, store: FeatureStoreDep) -> HTMLResponse:
    service = store.get_feature_service(name)
    by_view: dict[str, list[str]] = {}
    for ref in service.spec().get("features", []):
        view, _, feature = ref.partition(":")
        by_view.setdefault(view, []).append(feature)
    return page("feature_service.html", "features", service=service.spec(),
                version=service.version, by_view=by_view,
                versions=store.registry.versions(name, service=True))


# -- pipelines ----------------------------------------------------------------------------
def _ordered_steps(run: Any) -> list[Any]:
    """Steps in graph order (the order they were declared), not by name."""
    order = {n["name"]: i for i, n in enumerate(run.graph.get("nodes", []))}
    return sorted(run.steps, key=lambda s: (order.get(s.name, len(order)), s.name))


@router.get("/pipelines")
def pipelines(client: ClientDep, pipeline: str = "") -> HTMLResponse:
    runs = client.pipelines.list_runs(pipeline or None, limit=PIPELINE_RUNS)
    return page("pipelines.html", "pipelines", runs=runs, pipeline=pipeline,
                steps={r.id: _ordered_steps(r) for r in runs}, limit=PIPELINE_RUNS)


@router.get("/pipelines/runs/{run_id}")
def pipeline_run(run_id: str, client: ClientDep) -> HTMLResponse:
    run = client.pipelines.get_run(run_id)
    upstream = {n["name"]: sorted({src[0] for src in n.get("inputs", {}).values()
                                   if isinstance(src, list) and src and isinstance(src[0], str)}
                                  | set(n.get("after", [])))
                for n in run.graph.get("nodes", [])}
    return page("pipeline_run.html", "pipelines", run=run, steps=_ordered_steps(run),
                upstream=upstream)
