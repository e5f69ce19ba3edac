"""Every call in MLflow's REST API, as ``mlflow server`` 3.18.0 routes them
(``mlflow.server.handlers.get_endpoints``; ``*`` stands for one path segment). A call
modelplane does not implement answers 501 NOT_IMPLEMENTED when it is one of these, and 404
otherwise (it is no endpoint at all).
"""

from __future__ import annotations

import re

__all__ = ["is_mlflow_call"]

_CALLS = (
    "artifacts/list", "artifacts/presigned-download-url", "artifacts/presigned-upload-url",
    "datasets/*", "datasets/*/add-experiments", "datasets/*/experiment-ids",
    "datasets/*/records", "datasets/*/remove-experiments", "datasets/*/tags",
    "datasets/*/tags/*", "datasets/create", "datasets/search", "demo/delete", "demo/generate",
    "experiments/create", "experiments/delete", "experiments/delete-experiment-tag",
    "experiments/get", "experiments/get-by-name", "experiments/restore", "experiments/search",
    "experiments/set-experiment-tag", "experiments/update", "gateway/budgets/create",
    "gateway/budgets/delete", "gateway/budgets/get", "gateway/budgets/list",
    "gateway/budgets/update", "gateway/budgets/windows", "gateway/endpoints/bindings/create",
    "gateway/endpoints/bindings/delete", "gateway/endpoints/bindings/list",
    "gateway/endpoints/create", "gateway/endpoints/delete", "gateway/endpoints/delete-tag",
    "gateway/endpoints/get", "gateway/endpoints/list", "gateway/endpoints/models/attach",
    "gateway/endpoints/models/detach", "gateway/endpoints/set-tag", "gateway/endpoints/update",
    "gateway/guardrails/add-to-endpoint", "gateway/guardrails/create",
    "gateway/guardrails/delete", "gateway/guardrails/get", "gateway/guardrails/list",
    "gateway/guardrails/list-for-endpoint", "gateway/guardrails/remove-from-endpoint",
    "gateway/guardrails/update-config", "gateway/model-definitions/create",
    "gateway/model-definitions/delete", "gateway/model-definitions/get",
    "gateway/model-definitions/list", "gateway/model-definitions/update",
    "gateway/provider-config", "gateway/secrets/config", "gateway/secrets/create",
    "gateway/secrets/delete", "gateway/secrets/get", "gateway/secrets/list",
    "gateway/secrets/update", "gateway/supported-models", "gateway/supported-providers",
    "genai/evaluate/invoke", "get-online-trace-details", "issues", "issues/*", "issues/invoke",
    "issues/schedule/state", "issues/search", "jobs/*", "jobs/cancel/*", "label-schemas/create",
    "label-schemas/delete", "label-schemas/get", "label-schemas/get-by-name",
    "label-schemas/list", "label-schemas/update", "logged-models", "logged-models/*",
    "logged-models/*/artifacts/directories", "logged-models/*/params", "logged-models/*/tags",
    "logged-models/*/tags/*", "logged-models/search", "metrics/get-history",
    "metrics/get-history-bulk-interval", "model-versions/create", "model-versions/delete",
    "model-versions/delete-tag", "model-versions/get", "model-versions/get-download-uri",
    "model-versions/search", "model-versions/set-tag", "model-versions/transition-stage",
    "model-versions/update", "prompt-optimization/jobs", "prompt-optimization/jobs/*",
    "prompt-optimization/jobs/*/cancel", "prompt-optimization/jobs/search",
    "registered-models/alias", "registered-models/create", "registered-models/delete",
    "registered-models/delete-tag", "registered-models/get",
    "registered-models/get-latest-versions", "registered-models/rename",
    "registered-models/search", "registered-models/set-tag", "registered-models/update",
    "review-queues/create", "review-queues/delete", "review-queues/get",
    "review-queues/get-by-name", "review-queues/get-or-create-user", "review-queues/items/add",
    "review-queues/items/list", "review-queues/items/remove", "review-queues/items/set-status",
    "review-queues/list", "review-queues/update", "runs/create", "runs/delete",
    "runs/delete-tag", "runs/get", "runs/log-batch", "runs/log-inputs", "runs/log-metric",
    "runs/log-model", "runs/log-parameter", "runs/outputs", "runs/restore", "runs/search",
    "runs/set-tag", "runs/update", "scorer/invoke", "scorers/delete", "scorers/get",
    "scorers/list", "scorers/online-config", "scorers/online-configs", "scorers/register",
    "scorers/versions", "server-info", "traces", "traces/*", "traces/*/assessments",
    "traces/*/assessments/*", "traces/*/info", "traces/*/tags", "traces/batchGet",
    "traces/batchGetInfos", "traces/calculate-filter-correlation", "traces/delete-traces",
    "traces/get", "traces/link-prompts", "traces/link-to-run", "traces/metrics",
    "traces/search", "unified-traces", "webhooks", "webhooks/*", "webhooks/*/test",
    "workspaces", "workspaces/*",
)
_PATTERN = re.compile("|".join(re.escape(c).replace(r"\*", "[^/]+") for c in _CALLS))


def is_mlflow_call(path: str) -> bool:
    """Whether ``path`` (after ``/api/2.0/mlflow/``) names a call of MLflow's API."""
    return _PATTERN.fullmatch(path) is not None
