"""The OpenAPI document (``/openapi.json``), as clients generated from it need it.

FastAPI describes the routes it owns, but declares its own validation error
(``{"detail": [...]}``) that this server never sends, and knows nothing of the serving
routes, which are a pure-ASGI layer in front of it. :func:`install_openapi` builds the
document once, on first request, and fixes both:

- every error response declared has the shape the server sends: the API envelope
  ``ErrorResponse`` (``{"error": {code, message, details}}``) under ``/api/v1`` and
  ``/predict``, ``MlflowError`` (``{"error_code", "message"}``) under MLflow's
  ``/api/2.0/mlflow``, ``OipError`` (``{"error": "..."}``, a not-ready answer adding
  ``name`` and ``ready``) under ``/v2``. Each operation
  declares the 4xx it can answer: 422 where it takes input, 404 where the path names
  something, 409 where it writes, 401/403 (auth) and 413 (body limit) everywhere they
  apply; and 500 (a bug, naming the request id);
- ``/predict/{model}``, the Open Inference Protocol routes and ``/metrics`` are
  described (``modelplane serve`` publishes the same document for what it serves).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["install_openapi"]

_ERROR = {"$ref": "#/components/schemas/ErrorResponse"}
_MLFLOW = {"$ref": "#/components/schemas/MlflowError"}
_OIP = {"$ref": "#/components/schemas/OipError"}
_WRITES = ("post", "put", "patch", "delete")

_REASONS = {
    400: "Bad request (a body that is not JSON, a bad parameter)",
    401: "No or invalid credentials",
    403: "The caller's role does not allow this",
    404: "Not found (named in the message)",
    405: "Method not allowed",
    409: "Conflict with the current state",
    413: "Body over the server's limit",
    422: "Invalid input: the field, what was expected and what came",
    500: "Internal error or a model that raised, naming the request id",
    501: "An MLflow call this server does not implement",
    503: "Not ready (a model still loading, a backend down)",
}

_SCHEMAS: dict[str, Any] = {
    "ErrorBody": {
        "title": "ErrorBody", "type": "object", "required": ["code", "message", "details"],
        "properties": {
            "code": {"type": "string", "title": "Code",
                     "description": "Machine-readable: not_found, invalid_argument, ..."},
            "message": {"type": "string", "title": "Message"},
            "details": {"type": "object", "title": "Details", "additionalProperties": True,
                        "description": "field, expected, got, errors, request_id, ..."},
        },
    },
    "ErrorResponse": {
        "title": "ErrorResponse", "type": "object", "required": ["error"],
        "properties": {"error": {"$ref": "#/components/schemas/ErrorBody"}},
    },
    "MlflowError": {
        "title": "MlflowError", "type": "object", "required": ["error_code", "message"],
        "properties": {"error_code": {"type": "string", "title": "Error Code"},
                       "message": {"type": "string", "title": "Message"}},
    },
    "OipError": {
        "title": "OipError", "type": "object", "required": ["error"],
        "properties": {"error": {"type": "string", "title": "Error"},
                       "name": {"type": "string", "title": "Name"},
                       "ready": {"type": "boolean", "title": "Ready"}},
    },
    "PredictRecord": {
        "title": "PredictRecord", "type": "object", "additionalProperties": True,
        "description": "One record: feature name -> value",
    },
    "PredictResponse": {
        "title": "PredictResponse", "type": "object",
        "required": ["model", "version", "predictions"],
        "properties": {
            "model": {"type": "string", "title": "Model"},
            "version": {"type": "integer", "title": "Version"},
            "deployment": {"type": "string", "title": "Deployment"},
            "variant": {"type": "string", "title": "Variant"},
            "predictions": {"type": "array", "title": "Predictions", "items": {}},
            "probabilities": {"type": "array", "title": "Probabilities", "items": {}},
            "classes": {"type": "array", "title": "Classes", "items": {}},
            "features": {"type": "array", "title": "Features", "items": {"type": "object"}},
        },
    },
    "OipTensor": {
        "title": "OipTensor", "type": "object", "required": ["name", "shape", "datatype"],
        "properties": {
            "name": {"type": "string", "title": "Name"},
            "shape": {"type": "array", "title": "Shape", "items": {"type": "integer"}},
            "datatype": {"type": "string", "title": "Datatype", "enum": [
                "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32",
                "INT64", "FP16", "FP32", "FP64", "BYTES"]},
            "parameters": {"type": "object", "title": "Parameters"},
            "data": {"type": "array", "title": "Data", "items": {}},
        },
    },
    "OipTensorMetadata": {
        "title": "OipTensorMetadata", "type": "object",
        "required": ["name", "datatype", "shape"],
        "properties": {"name": {"type": "string", "title": "Name"},
                       "datatype": {"type": "string", "title": "Datatype"},
                       "shape": {"type": "array", "title": "Shape",
                                 "items": {"type": "integer"}}},
    },
    "OipInferenceRequest": {
        "title": "OipInferenceRequest", "type": "object", "required": ["inputs"],
        "properties": {
            "id": {"title": "Id", "anyOf": [{"type": "string"}, {"type": "number"}]},
            "parameters": {"type": "object", "title": "Parameters"},
            "inputs": {"type": "array", "title": "Inputs",
                       "items": {"$ref": "#/components/schemas/OipTensor"}},
            "outputs": {"type": "array", "title": "Outputs", "items": {
                "type": "object", "required": ["name"],
                "properties": {"name": {"type": "string"},
                               "parameters": {"type": "object"}}}},
        },
    },
    "OipInferenceResponse": {
        "title": "OipInferenceResponse", "type": "object",
        "required": ["model_name", "outputs"],
        "properties": {
            "model_name": {"type": "string", "title": "Model Name"},
            "model_version": {"type": "string", "title": "Model Version"},
            "id": {"title": "Id", "anyOf": [{"type": "string"}, {"type": "number"}]},
            "outputs": {"type": "array", "title": "Outputs",
                        "items": {"$ref": "#/components/schemas/OipTensor"}},
        },
    },
    "OipModelMetadata": {
        "title": "OipModelMetadata", "type": "object",
        "required": ["name", "platform", "inputs", "outputs"],
        "properties": {
            "name": {"type": "string", "title": "Name"},
            "versions": {"type": "array", "title": "Versions", "items": {"type": "string"}},
            "platform": {"type": "string", "title": "Platform"},
            "inputs": {"type": "array", "title": "Inputs",
                       "items": {"$ref": "#/components/schemas/OipTensorMetadata"}},
            "outputs": {"type": "array", "title": "Outputs",
                        "items": {"$ref": "#/components/schemas/OipTensorMetadata"}},
        },
    },
    "OipServerMetadata": {
        "title": "OipServerMetadata", "type": "object",
        "required": ["name", "version", "extensions"],
        "properties": {"name": {"type": "string", "title": "Name"},
                       "version": {"type": "string", "title": "Version"},
                       "extensions": {"type": "array", "title": "Extensions",
                                      "items": {"type": "string"}}},
    },
    "OipReady": {
        "title": "OipReady", "type": "object", "required": ["ready"],
        "properties": {"name": {"type": "string", "title": "Name"},
                       "ready": {"type": "boolean", "title": "Ready"},
                       "error": {"type": "string", "title": "Error"}},
    },
    "OipLive": {
        "title": "OipLive", "type": "object", "required": ["live"],
        "properties": {"live": {"type": "boolean", "title": "Live"}},
    },
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(schema: dict[str, Any], codes: list[int]) -> dict[str, Any]:
    return {str(c): _json(schema, _REASONS[c]) for c in sorted(set(codes))}


def _is_mlflow(path: str) -> bool:
    return path.startswith(("/api/2.0/mlflow", "/api/3.0/mlflow", "/ajax-api/"))


def _declared_errors(path: str, method: str, operation: dict[str, Any]) -> list[int]:
    """The error statuses a catalogue or MLflow operation can answer (module docstring)."""
    codes = [401, 403, 500]
    params = operation.get("parameters", [])
    if _is_mlflow(path):
        codes += [400, 404, 501]  # MLflow names missing parameters and objects in a 400/404
    if any(p.get("in") == "path" for p in params):
        codes.append(404)
    if params or "requestBody" in operation:
        codes += [400, 422]
    if method in _WRITES:
        codes += [409, 413]
    return codes


def _fix_operations(schema: dict[str, Any]) -> None:
    for path, operations in schema.get("paths", {}).items():
        error = _MLFLOW if _is_mlflow(path) else _ERROR
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)  # FastAPI's {"detail": [...]}: never sent
            for code, response in _errors(error, _declared_errors(path, method, operation)
                                          ).items():
                responses.setdefault(code, response)
    components = schema.get("components", {}).get("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)


def _op(operation_id: str, summary: str, responses: dict[str, Any], *,
        params: tuple[str, ...] | list[str] = (),
        body: dict[str, Any] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"tags": ["serving"], "summary": summary,
                          "operationId": operation_id, "responses": responses}
    if params:
        op["parameters"] = [{"name": p, "in": "path", "required": True,
                             "schema": {"type": "string", "title": p}} for p in params]
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": body}}}
    return op


def _serving_paths() -> dict[str, Any]:
    ref = "#/components/schemas/"
    record = {"$ref": ref + "PredictRecord"}
    predict = _op("predict", "Predict one record or a list of records", {
        "200": _json({"$ref": ref + "PredictResponse"}, "Predictions"),
        **_errors(_ERROR, [400, 401, 403, 404, 405, 413, 422, 500, 503])},
        params=["model"], body={"anyOf": [record, {"type": "array", "items": record}]})
    paths: dict[str, Any] = {"/predict/{model}": {"post": predict}}
    paths["/v2"] = {"get": _op("oip_server_metadata", "OIP server metadata", {
        "200": _json({"$ref": ref + "OipServerMetadata"}, "Server metadata"),
        **_errors(_OIP, [405])})}
    paths["/v2/health/live"] = {"get": _op("oip_server_live", "OIP liveness", {
        "200": _json({"$ref": ref + "OipLive"}, "Live"), **_errors(_OIP, [405])})}
    paths["/v2/health/ready"] = {"get": _op("oip_server_ready", "OIP readiness", {
        "200": _json({"$ref": ref + "OipReady"}, "Every served model is ready"),
        "400": _json(_OIP, "Not ready yet (ready: false, and why)"),
        **_errors(_OIP, [405])})}
    for prefix, params, suffix in (("/v2/models/{model_name}", ["model_name"], ""),
                                   ("/v2/models/{model_name}/versions/{model_version}",
                                    ["model_name", "model_version"], "_version")):
        paths[prefix] = {"get": _op(f"oip_model_metadata{suffix}", "OIP model metadata", {
            "200": _json({"$ref": ref + "OipModelMetadata"}, "Inputs and outputs"),
            **_errors(_OIP, [400, 404, 405, 503])}, params=params)}
        paths[prefix + "/ready"] = {"get": _op(f"oip_model_ready{suffix}", "OIP model "
                                               "readiness", {
            "200": _json({"$ref": ref + "OipReady"}, "Ready"),
            "400": _json(_OIP, "Not ready yet (name, ready: false, and why), or a bad "
                         "version"),
            **_errors(_OIP, [404, 405])}, params=params)}
        paths[prefix + "/infer"] = {"post": _op(f"oip_infer{suffix}", "OIP inference", {
            "200": _json({"$ref": ref + "OipInferenceResponse"}, "Outputs (JSON, or JSON "
                         "then binary tensors with Inference-Header-Content-Length)"),
            **_errors(_OIP, [400, 404, 405, 413, 500, 503])}, params=params,
            body={"$ref": ref + "OipInferenceRequest"})}
    paths["/metrics"] = {"get": {
        "tags": ["serving"], "summary": "Prometheus metrics", "operationId": "metrics",
        "description": "Text exposition 0.0.4, or OpenMetrics when the Accept header "
                       "asks for it.",
        "responses": {"200": {"description": "Metrics", "content": {
            "text/plain": {"schema": {"type": "string"}},
            "application/openmetrics-text": {"schema": {"type": "string"}}}},
            **_errors(_ERROR, [405])}}}
    return paths


def install_openapi(app: FastAPI) -> None:
    """Serve the document above at the app's ``openapi_url`` (built on first use)."""
    from fastapi.openapi.utils import get_openapi

    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version,
                                 description=app.description, routes=app.routes)
            _fix_operations(schema)
            schema["paths"].update(_serving_paths())
            schema.setdefault("components", {}).setdefault("schemas", {}).update(_SCHEMAS)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = build  # type: ignore[method-assign]
