"""UI pages for the model registry: the models, and one model with its versions (stage,
aliases, flavor, source run, metrics snapshot), its deployments and its audit history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from modelplane.core.errors import InvalidArgumentError, ModelplaneError
from modelplane.registry.entities import Page, RegisteredModel
from modelplane.server.deps import ClientDep, RegistryDep
from modelplane.server.ui.render import UIRoute, page, pager
from modelplane.server.ui.session import ui_session

router = APIRouter(route_class=UIRoute, include_in_schema=False,
                   default_response_class=HTMLResponse)

PAGE = 100
HISTORY = 500
STAGES = ("development", "staging", "production", "archived")


@router.get("/models")
def models(registry: RegistryDep, filter: str = "", page_token: str | None = None,
           prev: Annotated[list[str] | None, Query()] = None) -> HTMLResponse:
    error = None
    found: Page[RegisteredModel]
    try:
        found = registry.search_models(filter, max_results=PAGE, page_token=page_token or None)
    except InvalidArgumentError as exc:
        error, found = exc.message, Page([], None)
    holders: dict[str, dict[str, int]] = {}
    if found.items:  # one query for every listed model's production and staging holders
        held = registry.search_versions("stage in ('production', 'staging')",
                                        max_results=1000)
        for v in held.items:
            holders.setdefault(v.name, {})[v.stage] = v.version
    return page("models.html", "models", models=found.items, holders=holders, filter=filter,
                error=error, pages=pager({"filter": filter}, page_token,
                                         found.next_page_token, list(prev or [])))


@router.get("/models/{name}")
def model(request: Request, name: str, client: ClientDep, page_token: str | None = None,
          prev: Annotated[list[str] | None, Query()] = None, error: str = "",
          notice: str = "") -> HTMLResponse:
    registry = client.registry
    found = registry.get_model(name)
    versions = registry.list_versions(name, max_results=PAGE, page_token=page_token or None)
    history = list(reversed(registry.history(name, limit=HISTORY)))
    deployments = [d for d in client.deployments.list() if d.model == name]
    runs = {}
    for v in versions.items:
        if v.run_id and v.run_id not in runs:
            try:
                runs[v.run_id] = client.tracking.get_run(v.run_id).name
            except ModelplaneError:  # a run deleted since: show its id
                runs[v.run_id] = v.run_id[-8:]
    return page("model.html", "models", model=found, versions=versions.items, runs=runs,
                history=history, history_limit=HISTORY, deployments=deployments,
                pages=pager({}, page_token, versions.next_page_token, list(prev or [])),
                action_error=error, notice=notice, stages=STAGES, **ui_session(request))
