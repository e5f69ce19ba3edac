"""Serving routes: Open Inference Protocol v2, ``/predict/{model}`` and ``/metrics``.

They are a pure-ASGI layer in front of the FastAPI app (``ServingLayer``, installed as its
outermost middleware by :func:`install_serving`), not FastAPI routes: FastAPI's routing,
dependency injection and response models cost more per request than the whole of this
path, and the prediction path is where the server's time goes. Requests for any other
path go on to the app untouched (with ``serving_only``, only ``/api/v1/health`` does).

===========================================================  ============================
``GET  /v2``                                                 server metadata
``GET  /v2/health/live``, ``/v2/health/ready``               200, or 400 when not ready
``GET  /v2/models/{name}[/versions/{v}]``                    model metadata (signature)
``GET  /v2/models/{name}[/versions/{v}]/ready``              200, or 400 when not ready
``POST /v2/models/{name}[/versions/{v}]/infer``              inference (JSON or binary)
``POST /predict/{name}``                                     a record or list of records
``GET  /metrics``                                            Prometheus text exposition
===========================================================  ============================

A name that is a deployment's (``modelplane server`` serves every deployment in the
database) is routed by that deployment instead: see ``deployment_serving``.

Errors under ``/v2`` are ``{"error": "..."}`` as the protocol says (400 for a bad
request, 404 for an unknown model or version, 413 for a body over the limit, 503 while a
model loads); ``/predict`` uses the API envelope ``{"error": {code, message, details}}``
(422 naming the field, what was expected and what came). A model that raises is a 500
naming the request id, and only that request's batch fails. Every response carries
``x-request-id``; prediction responses carry ``x-model-version``.

This layer also joins the app's lifespan: the runtime starts loading models once the
app has started, and stops with it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

from modelplane.core.errors import InvalidArgumentError, ModelplaneError
from modelplane.server.routes import deployment_serving, oip_routes
from modelplane.server.routes._asgi import Reject, Request
from modelplane.serving.jsonio import JSONDecodeError, dumps, loads
from modelplane.serving.metrics import ServingMetrics
from modelplane.serving.runtime import LoadedVersion, ModelRuntime, ServeSpec

if TYPE_CHECKING:
    from fastapi import FastAPI

    from modelplane.core.config import Settings
    from modelplane.deployments.router import DeploymentRouter

__all__ = ["ServingLayer", "in_front", "install_serving"]

log = logging.getLogger("modelplane.server")
Scope = MutableMapping[str, Any]
_SERVING_ONLY_PASS = ("/api/v1/health",)
_OFFLOAD_BYTES = 256 * 1024  # bigger bodies are validated in a thread, off the event loop

class ServingLayer:
    """The pure-ASGI serving layer (see the module docstring)."""

    def __init__(self, app: Any, *, runtime: ModelRuntime, metrics: ServingMetrics,
                 max_bytes: int, serving_only: bool = False, lifespan: bool = True,
                 deployments: DeploymentRouter | None = None,
                 alert_interval: float = 0.0) -> None:
        self.app = app
        self.alert_interval = alert_interval
        self._stop_alerts: Any = None
        self._stop_upkeep: Any = None
        self.runtime = runtime
        self.deployments = deployments
        self.metrics = metrics
        self.max_bytes = max_bytes
        self.serving_only = serving_only
        self.lifespan = lifespan

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            path: str = scope["path"]
            if path.startswith("/predict/"):
                request = Request(scope, receive, send)
                table = self.deployments.tables.get(path[9:]) if self.deployments else None
                if table is not None:  # a deployment: its routing picks the version
                    await self._guard(request, deployment_serving.predict(self, request, scope,
                                                                          table))
                    return
                await self._guard(request, self._predict(request, path[9:]))
                return
            if path == "/v2" or path.startswith("/v2/"):
                request = Request(scope, receive, send)
                routed = (deployment_serving.match_oip(self, request, scope)
                          if self.deployments and self.deployments.tables else None)
                await self._guard(request, routed or oip_routes.handle(self, request))
                return
            if path == "/metrics":
                request = Request(scope, receive, send)
                await self._guard(request, self._metrics(request))
                return
            if self.serving_only and path not in _SERVING_ONLY_PASS:
                await self._not_here(Request(scope, receive, send))
                return
            if (self.deployments is not None and scope["method"] != "GET"
                    and path.startswith("/api/v1/deployments")):
                await self._changing_deployments(scope, receive, send)
                return
        elif kind == "lifespan" and self.lifespan:
            await self._lifespan(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _changing_deployments(self, scope: Scope, receive: Any, send: Any) -> None:
        """A change made through this replica routes here before it is answered; the
        other replicas follow within their poll interval."""
        deployments = self.deployments

        async def watched(message: dict[str, Any]) -> None:
            if (message["type"] == "http.response.start" and message["status"] < 400
                    and deployments is not None):
                try:
                    await deployments.refresh()
                except Exception:  # the poll will pick it up; the change itself is made
                    log.warning("deployments: refresh after a change failed", exc_info=True)
            await send(message)

        await self.app(scope, receive, watched)

    async def _guard(self, request: Request, handler: Any) -> None:
        """Run a handler; anything it did not turn into an answer (a bug, never bad input)
        becomes a 500 naming the request id, with the trace in the log."""
        try:
            await handler
        except Exception:
            log.exception("unhandled error in request %s", request.id)
            if request.started:
                raise
            message = (f"internal error while handling request {request.id}; see the "
                       "server log")
            body = (dumps({"error": message}) if request.path.startswith("/v2")
                    else dumps({"error": {"code": "internal", "message": message,
                                          "details": {"request_id": request.id}}}))
            await request.respond(500, body)

    # -- lifespan ----------------------------------------------------------------------
    async def _lifespan(self, scope: Scope, receive: Any, send: Any) -> None:
        async def joined(message: dict[str, Any]) -> None:
            if message["type"] == "lifespan.startup.complete":
                try:
                    await self.runtime.start()
                    if self.runtime.models and self.runtime.predlog.enabled:
                        self.runtime.predlog.start()  # the writer process, in the background
                    if self.deployments is not None:
                        await self.deployments.start()
                    if self.alert_interval > 0:  # the full server evaluates alert rules
                        monitoring = self.runtime.client.monitoring
                        self._stop_alerts = monitoring.start_evaluator(self.alert_interval)
                        from modelplane.server.upkeep import start_upkeep  # and cleans up

                        self._stop_upkeep = start_upkeep(self.runtime.client)
                except Exception as exc:
                    log.exception("serving failed to start")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
            elif message["type"] == "lifespan.shutdown.complete":
                if self.deployments is not None:
                    await self.deployments.stop()
                await self.runtime.stop()
                await asyncio.to_thread(self._close_monitoring)
            await send(message)

        await self.app(scope, receive, joined)

    def _close_monitoring(self) -> None:
        """Stop evaluating rules and write what the prediction log still holds."""
        if self._stop_alerts is not None:
            self._stop_alerts.set()
        if self._stop_upkeep is not None:
            self._stop_upkeep.set()
        self.runtime.predlog.flush(5.0)
        client = self.runtime.client
        if "monitoring" in vars(client):  # only if this process used it
            client.monitoring.close()

    # -- /predict ----------------------------------------------------------------------
    async def _predict(self, request: Request, name: str) -> None:
        started = time.perf_counter()
        model, version, status = "", "", 200
        handle: Any = None
        data: Any = None
        raw: bytes | None = None  # the body, when the model sees the records as sent
        result: Any = None
        response: bytes | None = None
        try:
            if request.method != "POST":
                raise Reject(405, f"method not allowed: {request.method} {request.path}; "
                              "use POST", "method_not_allowed", headers=[(b"allow", b"POST")])
            handle = self.lookup(name, None)
            model, version = name, handle.label
            raw = await request.body(self.max_bytes)
            data = self._records(raw)
            # look again: a hot swap during the read may have retired the first handle
            handle = self.lookup(name, None)
            model, version = name, handle.label
            handle.inflight += 1  # one flat path: every coroutine layer costs on each request
            try:
                features = handle.served.features
                if features is not None:
                    records = data if isinstance(data, list) else [data]
                    data, raw = await asyncio.to_thread(features.enrich, records), None
                if request.content_length > _OFFLOAD_BYTES:
                    prepared = await asyncio.to_thread(handle.model.prepare, data)
                else:
                    prepared = handle.model.prepare(data)
                try:
                    result = await handle.infer(prepared)
                except Exception as exc:
                    raise self.model_failed(handle, request, exc) from None
            finally:
                handle.inflight -= 1
            out: dict[str, Any] = {"model": name, "version": handle.number,
                                   "predictions": result[0]}
            if result[1] is not None:
                out["probabilities"] = result[1]
                if handle.classes is not None:
                    out["classes"] = handle.classes
            if features is not None and b"explain=features" in request.query:
                out["features"] = data  # what the model saw, online features included
            response = dumps(out)
            await request.respond(200, response, version=version)
        except Reject as exc:
            status = exc.status
            await self._envelope(request, exc.status, exc.code, exc.message, exc.details,
                                 exc.headers, version or None)
        except ModelplaneError as exc:
            status = exc.http_status
            await self._envelope(request, status, exc.code, exc.message, exc.details,
                                 None, version or None)
        finally:
            seconds = time.perf_counter() - started
            self.metrics.request(model, version, status, seconds)
            if handle is not None and (status == 200 or status >= 500):
                self.runtime.predlog.log(name, handle.number, request.id, data, result,
                                         seconds, error=None if status == 200
                                         else f"HTTP {status}", raw=raw, response=response)

    def _records(self, body: bytes) -> Any:
        try:
            data = loads(body)
        except (JSONDecodeError, UnicodeDecodeError) as exc:
            raise Reject(400, f"the request body is not valid JSON: {exc}") from None
        if isinstance(data, dict) and data:
            return data
        if isinstance(data, list) and data:
            for i, record in enumerate(data):
                if not isinstance(record, dict):
                    raise InvalidArgumentError(
                        f"record {i} is a {type(record).__name__}; expected an object of "
                        "feature values", details={"field": f"[{i}]", "expected": "object",
                                                   "got": type(record).__name__})
            return data
        raise InvalidArgumentError(
            "expected a JSON record {\"feature\": value, ...} or a non-empty list of them",
            details={"field": "body", "expected": "record or list of records",
                     "got": type(data).__name__ if data else "empty"})

    async def infer(self, handle: LoadedVersion, prepared: Any, request: Request) -> Any:
        try:
            return await handle.infer(prepared)
        except Exception as exc:
            raise self.model_failed(handle, request, exc) from None

    @staticmethod
    def model_failed(handle: LoadedVersion, request: Request, exc: Exception) -> Reject:
        """The 500 for a model that raised: logged with the trace, named by request id."""
        log.error("model %s version %s failed on request %s: %s: %s", handle.name,
                  handle.label, request.id, type(exc).__name__, exc, exc_info=exc)
        what = f"{type(exc).__name__}: {exc}"[:300]
        return Reject(500, f"model {handle.name!r} version {handle.label} failed on request "
                      f"{request.id}: {what}", "model_error",
                      {"request_id": request.id, "model": handle.name,
                       "version": handle.number})

    def lookup(self, name: str, version: int | None) -> LoadedVersion:
        try:
            return self.runtime.get(name, version)
        except ModelplaneError:
            raise
        except Exception as exc:  # never a 500 for a lookup
            raise Reject(404, f"model {name!r}: {exc}", "not_found") from None

    async def _envelope(self, request: Request, status: int, code: str, message: str,
                        details: dict[str, Any] | None, headers: list[Any] | None,
                        version: str | None) -> None:
        body = dumps({"error": {"code": code, "message": message, "details": details or {}}})
        await request.respond(status, body, version=version, extra=headers)

    async def _not_here(self, request: Request) -> None:
        await self._envelope(request, 404, "not_found",
                             f"not found: {request.method} {request.path} (this is a "
                             "serving-only server: /v2/..., /predict/{model}, /metrics, "
                             "/api/v1/health)", None, None, None)

    # -- /metrics ----------------------------------------------------------------------
    async def _metrics(self, request: Request) -> None:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        if request.method not in ("GET", "HEAD"):
            await self._envelope(request, 405, "method_not_allowed",
                                 f"method not allowed: {request.method} /metrics", None,
                                 [(b"allow", b"GET")], None)
            return
        body = generate_latest(self.metrics.registry)
        await request.respond(200, body, content_type=CONTENT_TYPE_LATEST.encode())


def install_serving(app: FastAPI, settings: Settings, serve: list[Any] | None = None, *,
                    serving_only: bool = False, defaults: dict[str, Any] | None = None,
                    feature_lookup: Any = None) -> ModelRuntime:
    """Put the serving layer in front of ``app`` (call it after the other middleware, so
    it is the outermost) and return its runtime, also kept as ``app.state.serving``.

    ``serve`` lists model URIs (or :class:`ServeSpec` / dicts); ``defaults`` are
    :class:`ServeSpec` fields for plain URIs. Prometheus collectors go into
    ``app.state.metrics_registry`` (created here if absent), which ``/metrics`` exposes.
    """
    from modelplane.client import Client

    registry = getattr(app.state, "metrics_registry", None)
    metrics = ServingMetrics(registry)
    app.state.metrics_registry = metrics.registry
    from modelplane.serving.workershare import from_env

    workers = from_env()  # --workers N: /metrics answers for every worker
    if workers is not None:
        metrics.share(workers)
    specs = [ServeSpec.of(s, **(defaults or {})) for s in serve or []]
    runtime = ModelRuntime(specs, client=Client(settings), metrics=metrics,
                           poll_seconds=getattr(settings, "serving_poll_seconds", None),
                           feature_lookup=feature_lookup)
    runtime.predlog.enabled = settings.prediction_log
    if specs and settings.prediction_log:
        _monitoring_gauges(metrics, runtime, [spec.name for spec in specs])
    app.state.serving = runtime
    deployments = None
    if not serving_only:  # the full server also serves every deployment in the database
        from modelplane.deployments.router import DeploymentRouter

        deployments = DeploymentRouter(runtime, poll_seconds=settings.deployment_poll_seconds,
                                       defaults=defaults, registry=metrics.registry)
    app.state.deployments = deployments
    options: dict[str, Any] = {"runtime": runtime, "metrics": metrics,
                               "max_bytes": settings.max_request_bytes,
                               "serving_only": serving_only, "deployments": deployments,
                               "alert_interval": 0.0 if serving_only
                               else settings.alert_interval_seconds}
    app.state.serving_layer = options
    app.add_middleware(ServingLayer, **options)
    return runtime


def _monitoring_gauges(metrics: ServingMetrics, runtime: ModelRuntime,
                       models: list[str]) -> None:
    """Drift share, per-column scores, label metrics, latency and error rate of the
    served models over the last hour, as Prometheus gauges computed at each scrape."""
    from modelplane.monitoring.report import MonitoringCollector

    class Gauges(MonitoringCollector):
        def __init__(self) -> None:  # the monitoring service is built on first scrape
            self.models, self.window = models, "1h"

        def collect(self) -> Any:
            try:
                self.service = runtime.client.monitoring
                yield from super().collect()
            except Exception:  # a scrape never fails because of monitoring
                log.warning("monitoring gauges unavailable", exc_info=True)

    metrics.registry.register(Gauges())


def in_front(app: FastAPI) -> ServingLayer:
    """A second serving layer in front of FastAPI itself, for a server process: FastAPI's
    own outer layers (telemetry checks, error and body-limit wrappers) cost about as much
    as the rest of a prediction request. It shares the runtime and metrics with the layer
    inside ``app``, which keeps joining the app's lifespan."""
    return ServingLayer(app, **app.state.serving_layer, lifespan=False)
