"""Which role each route needs: one explicit table, so a new route without a declared role
is refused to everyone (and ``tests/integration/test_auth_routes.py`` fails) instead of
silently open.

Keys are ``"METHOD /path/template"`` exactly as the OpenAPI document (and the UI's
routes) spell them: without converters (``{path}``, not ``{path:path}``).
Roles: see :mod:`modelplane.auth.roles`. ``PUBLIC`` paths need no
token at all: liveness probes, the login page, the API's description and static files.
The serving layer's paths (``/predict``, ``/v2``, ``/metrics``) are checked in the
middleware by :func:`serving_role`, since they are not FastAPI routes.
"""

from __future__ import annotations

__all__ = ["MLFLOW_PREFIXES", "PUBLIC_PATHS", "PUBLIC_PREFIXES", "ROUTE_ROLES",
           "role_for", "serving_role"]

R, W, M, A = "reader", "writer", "maintainer", "admin"

PUBLIC_PATHS = frozenset({
    "/api/v1/health", "/v2/health/live", "/v2/health/ready", "/openapi.json", "/docs",
    "/docs/oauth2-redirect", "/redoc", "/login", "/favicon.ico",
})
PUBLIC_PREFIXES = ("/static/",)

_V1: dict[str, str] = {
    # registry
    "GET /models/resolve": R, "GET /models": R, "POST /models": W, "GET /models/{name}": R,
    "PATCH /models/{name}": W, "DELETE /models/{name}": A,
    "PUT /models/{name}/tags/{key}": W, "DELETE /models/{name}/tags/{key}": W,
    "PUT /models/{name}/allow-pickle": A,
    "GET /models/{name}/versions": R, "POST /models/{name}/versions": W,
    "GET /models/{name}/versions/{version}": R, "PATCH /models/{name}/versions/{version}": W,
    "DELETE /models/{name}/versions/{version}": A,
    "PUT /models/{name}/versions/{version}/tags/{key}": W,
    "DELETE /models/{name}/versions/{version}/tags/{key}": W,
    "GET /model-versions/search": R,
    "POST /models/{name}/versions/{version}/stage": M, "POST /models/{name}/rollback": M,
    "PUT /models/{name}/aliases/{alias}": M, "GET /models/{name}/aliases/{alias}": R,
    "DELETE /models/{name}/aliases/{alias}": M, "GET /models/{name}/history": R,
    # tracking
    "GET /experiments": R, "POST /experiments": W, "GET /experiments/{id_or_name}": R,
    "PATCH /experiments/{id_or_name}": W, "DELETE /experiments/{id_or_name}": A,
    "POST /experiments/{id_or_name}/restore": A,
    "GET /runs/search": R, "POST /runs/search": R, "POST /runs/fail-stale": M,
    "POST /runs/{run_id}/heartbeat": W, "POST /runs": W, "GET /runs/{run_id}": R,
    "PATCH /runs/{run_id}": W, "DELETE /runs/{run_id}": A, "POST /runs/{run_id}/restore": A,
    "POST /runs/{run_id}/log-batch": W, "POST /runs/{run_id}/metrics": W,
    "PUT /runs/{run_id}/params": W, "PUT /runs/{run_id}/tags": W,
    "DELETE /runs/{run_id}/tags/{key}": W, "GET /runs/{run_id}/metrics/{key}/history": R,
    "GET /runs/{run_id}/metrics/{key}/series": R,
    "PUT /runs/{run_id}/artifacts/{path}": W, "GET /runs/{run_id}/artifacts/{path}": R,
    "GET /runs/{run_id}/artifacts": R, "POST /runs/{run_id}/artifacts": W,
    "GET /runs/{run_id}/datasets": R, "POST /runs/{run_id}/datasets": W,
    "GET /datasets/{digest}": R,
    # features
    "POST /features/online": R, "POST /features/views/{name}/push": W,
    "GET /features/views": R, "GET /features/views/{name}": R, "GET /features/services": R,
    "GET /features/services/{name}": R, "GET /features/entities": R,
    "GET /features/entities/{name}": R,
    # monitoring
    "POST /monitoring/{model}/predictions": W, "GET /monitoring/{model}/predictions": R,
    "POST /monitoring/{model}/labels": W, "PUT /monitoring/{model}/reference": W,
    "GET /monitoring/{model}/reference": R, "DELETE /monitoring/{model}/reference": A,
    "GET /monitoring/{model}/references": R, "GET /monitoring/{model}/health": R,
    "GET /monitoring/{model}/drift": R, "GET /monitoring/{model}/performance": R,
    "GET /monitoring/{model}/report": R, "GET /monitoring/{model}/rules": R,
    "POST /monitoring/{model}/rules": M, "DELETE /monitoring/{model}/rules/{name}": M,
    "POST /monitoring/{model}/rules/evaluate": M, "GET /monitoring/{model}/alerts": R,
    # pipelines
    "GET /pipelines/runs": R, "GET /pipelines/runs/{run_id}": R,
    "GET /pipelines/runs/{run_id}/lineage": R,
    "GET /pipelines/models/{name}/versions/{version}/lineage": R,
    "GET /pipelines/artifacts/{digest}/lineage": R, "GET /pipelines/schedules": R,
    "POST /pipelines/schedules": W, "DELETE /pipelines/schedules/{name}": M,
    "GET /pipelines/triggers": R, "POST /pipelines/triggers": W,
    # deployments and gates
    "GET /deployments": R, "POST /deployments": M, "GET /deployments/{name}": R,
    "DELETE /deployments/{name}": A, "PUT /deployments/{name}/traffic": M,
    "POST /deployments/{name}/canary": M, "POST /deployments/{name}/promote": M,
    "POST /deployments/{name}/abort": M, "POST /deployments/{name}/switch": M,
    "POST /deployments/{name}/switch-back": M, "POST /deployments/{name}/tick": M,
    "GET /deployments/{name}/events": R, "GET /deployments/{name}/stats": R,
    "PUT /eval-gates/{model}": M, "GET /eval-gates/{model}": R, "DELETE /eval-gates/{model}": M,
    # blobs
    "PUT /artifacts/blobs/{digest}": W, "HEAD /artifacts/blobs/{digest}": R,
    "GET /artifacts/blobs/{digest}": R, "GET /artifacts/trees/{digest}": R,
    # identities and the audit log
    "GET /whoami": R, "GET /users": A, "POST /users": A, "DELETE /users/{name}": A,
    "GET /tokens": A, "POST /tokens": A, "DELETE /tokens/{token_id}": A, "GET /audit": A,
}

# MLflow's REST API, the same under each prefix in MLFLOW_PREFIXES.
MLFLOW_PREFIXES = ("/api/2.0/mlflow", "/api/3.0/mlflow")
_MLFLOW: dict[str, str] = {
    "POST /experiments/create": W, "GET /experiments/get": R,
    "GET /experiments/get-by-name": R, "POST /experiments/search": R,
    "GET /experiments/search": R, "POST /experiments/delete": A,
    "POST /experiments/restore": A, "POST /experiments/update": W,
    "POST /experiments/set-experiment-tag": W, "POST /experiments/delete-experiment-tag": W,
    "POST /runs/create": W, "GET /runs/get": R, "POST /runs/update": W,
    "POST /runs/delete": A, "POST /runs/restore": A, "POST /runs/log-metric": W,
    "POST /runs/log-parameter": W, "POST /runs/set-tag": W, "POST /runs/delete-tag": W,
    "POST /runs/log-batch": W, "POST /runs/log-inputs": W, "POST /runs/outputs": W,
    "POST /runs/search": R, "GET /metrics/get-history": R,
    "GET /metrics/get-history-bulk-interval": R, "GET /artifacts/list": R,
    "POST /registered-models/create": W, "GET /registered-models/get": R,
    "POST /registered-models/rename": M, "PATCH /registered-models/update": W,
    "DELETE /registered-models/delete": A, "GET /registered-models/search": R,
    "POST /registered-models/set-tag": W, "DELETE /registered-models/delete-tag": W,
    "POST /registered-models/alias": M, "DELETE /registered-models/alias": M,
    "GET /registered-models/alias": R, "POST /registered-models/get-latest-versions": R,
    "GET /registered-models/get-latest-versions": R, "POST /model-versions/create": W,
    "GET /model-versions/get": R, "PATCH /model-versions/update": W,
    "DELETE /model-versions/delete": A, "POST /model-versions/transition-stage": M,
    "GET /model-versions/search": R, "GET /model-versions/get-download-uri": R,
    "POST /model-versions/set-tag": W, "DELETE /model-versions/delete-tag": W,
    "POST /logged-models": W, "POST /logged-models/search": R,
    "GET /logged-models/{model_id}": R, "PATCH /logged-models/{model_id}": W,
    "DELETE /logged-models/{model_id}": A, "PATCH /logged-models/{model_id}/tags": W,
    "DELETE /logged-models/{model_id}/tags/{tag_key}": W,
    "POST /logged-models/{model_id}/params": W,
    "GET /logged-models/{model_id}/artifacts/directories": R,
}
_OTHER: dict[str, str] = {
    "GET /api/2.0/mlflow-artifacts/artifacts": R,
    "GET /api/2.0/mlflow-artifacts/artifacts/{path}": R,
    "PUT /api/2.0/mlflow-artifacts/artifacts/{path}": W,
    "DELETE /api/2.0/mlflow-artifacts/artifacts/{path}": A,
    "GET /api/3.0/mlflow/server-info": R,
    # MLflow paths modelplane does not serve answer 404/501; a reader may learn that.
    **{f"{m} /api/{{version}}/mlflow{kind}/{{path}}": R
       for m in ("GET", "POST", "PUT", "PATCH", "DELETE") for kind in ("", "-artifacts")},
    # the web UI (reads; its actions are declared with them in server/ui)
    "GET /": R, "GET /experiments": R, "GET /experiments/{ref}": R,
    "GET /runs/{run_id}": R, "GET /runs/{run_id}/artifacts": R,
    "GET /runs/{run_id}/artifacts/view": R, "GET /runs/{run_id}/artifacts/raw": R,
    "GET /compare": R, "GET /models": R, "GET /models/{name}": R, "GET /deployments": R,
    "GET /deployments/{name}": R, "GET /monitoring": R, "GET /models/{name}/monitoring": R,
    "GET /features": R, "GET /features/views/{name}": R, "GET /features/services/{name}": R,
    "GET /pipelines": R, "GET /pipelines/runs/{run_id}": R,
    "GET /audit": A, "POST /logout": R,
    "POST /models/{name}/versions/{version}/stage": M, "POST /models/{name}/aliases": M,
    "POST /models/{name}/aliases/{alias}/delete": M, "POST /models/{name}/rollback": M,
    "POST /deployments/{name}/{action}": M,
}


# The serving layer (checked in the middleware by serving_role; listed for the table).
_SERVING: dict[str, str] = {
    "POST /predict/{model}": "predict", "GET /v2": "predict",
    "GET /v2/models/{model_name}": "predict", "GET /v2/models/{model_name}/ready": "predict",
    "POST /v2/models/{model_name}/infer": "predict",
    "GET /v2/models/{model_name}/versions/{model_version}": "predict",
    "GET /v2/models/{model_name}/versions/{model_version}/ready": "predict",
    "POST /v2/models/{model_name}/versions/{model_version}/infer": "predict",
    "GET /metrics": R,
}


def _build() -> dict[str, str]:
    table: dict[str, str] = {}
    for key, role in _V1.items():
        method, path = key.split(" ", 1)
        table[f"{method} /api/v1{path}"] = role
    for prefix in MLFLOW_PREFIXES:
        for key, role in _MLFLOW.items():
            method, path = key.split(" ", 1)
            table[f"{method} {prefix}{path}"] = role
    table.update(_OTHER)
    table.update(_SERVING)
    return table


ROUTE_ROLES: dict[str, str] = _build()


def role_for(method: str, template: str) -> str | None:
    """The role a route needs (``HEAD`` as its ``GET``), or ``None`` when undeclared."""
    role = ROUTE_ROLES.get(f"{method} {template}")
    if role is None and method == "HEAD":
        role = ROUTE_ROLES.get(f"GET {template}")
    return role


def serving_role(path: str) -> str | None:
    """The role a serving-layer path needs, or ``None`` when it is not one."""
    if path.startswith("/predict/") or path == "/v2" or path.startswith("/v2/"):
        return "predict"
    if path == "/metrics":
        return "reader"
    return None
