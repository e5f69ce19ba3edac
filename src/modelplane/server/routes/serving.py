"""Serving routes: Open Inference Protocol v2, ``/predict/{model}`` and ``/metrics``.

They are a pure-ASGI layer in front of the FastAPI app (``ServingLayer``, installed as its
outermost middleware by :func:`install_serving`), not FastAPI routes: FastAPI's routing,
dependency injection and response models cost more per request than the whole of this
path, and the prediction path is where the server's time goes. Requests for any other
path go on to the app untouched (a serving-only app mounts nothing else but health).

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
database) is routed by that deployment instead: see ``targets``. The routes only parse
and encode (``predict_routes``, ``oip_routes``); the predict core is
:mod:`modelplane.serving.answer`.

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
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

from modelplane.server.routes import oip_routes, predict_routes
from modelplane.server.routes._asgi import Request
from modelplane.server.routes.targets import DeploymentTarget, ModelTarget
from modelplane.serving.jsonio import dumps
from modelplane.serving.metrics import ServingMetrics
from modelplane.serving.runtime import ModelRuntime, ServeSpec

if TYPE_CHECKING:
    from fastapi import FastAPI

    from modelplane.client import Client
    from modelplane.deployments.router import DeploymentRouter

__all__ = ["ServingLayer", "in_front", "install_serving"]

log = logging.getLogger("modelplane.server")
Scope = MutableMapping[str, Any]


class ServingLayer:
    """The pure-ASGI serving layer (see the module docstring)."""

    def __init__(self, app: Any, *, runtime: ModelRuntime, metrics: ServingMetrics,
                 max_bytes: int, client: Client, lifespan: bool = True,
                 deployments: DeploymentRouter | None = None,
                 alert_interval: float = 0.0, gauges: Any = None) -> None:
        self.app = app
        self.gauges = gauges  # monitoring gauges, refreshed in a thread while running
        self.client = client
        self.alert_interval = alert_interval
        self._stop_alerts: Any = None
        self._stop_upkeep: Any = None
        self.runtime = runtime
        self.deployments = deployments
        self.metrics = metrics
        self.max_bytes = max_bytes
        self.lifespan = lifespan
        self._targets: dict[str, ModelTarget] = {}

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            path: str = scope["path"]
            if path.startswith("/predict/"):
                request = Request(scope, receive, send)
                name = path[9:]
                table = self.deployments.tables.get(name) if self.deployments else None
                target = (DeploymentTarget(table, self.deployments, self.metrics)
                          if table is not None and self.deployments is not None
                          else self.model_target(name))
                await self._guard(request, predict_routes.predict(request, scope, target,
                                                                  self.max_bytes))
                return
            if path == "/v2" or path.startswith("/v2/"):
                request = Request(scope, receive, send)
                await self._guard(request, oip_routes.handle(self, request, scope))
                return
            if path == "/metrics":
                request = Request(scope, receive, send)
                await self._guard(request, self._metrics(request, scope))
                return
            if (self.deployments is not None and scope["method"] != "GET"
                    and path.startswith("/api/v1/deployments")):
                await self._changing_deployments(scope, receive, send)
                return
        elif kind == "lifespan" and self.lifespan:
            await self._lifespan(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def model_target(self, name: str) -> ModelTarget:
        target = self._targets.get(name)
        if target is None:
            target = ModelTarget(name, self.runtime, self.metrics)
            if name in self.runtime.models:  # never keep one per unknown name
                self._targets[name] = target
        return target

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
                    if self.gauges is not None:
                        self.gauges.start()
                    if self.deployments is not None:
                        await self.deployments.start()
                    if self.alert_interval > 0:  # the full server evaluates alert rules
                        monitoring = self.client.monitoring
                        self._stop_alerts = monitoring.start_evaluator(self.alert_interval)
                        from modelplane.server.upkeep import start_upkeep  # and cleans up

                        self._stop_upkeep = start_upkeep(self.client)
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
        if self.gauges is not None:
            self.gauges.stop()
        self.runtime.predlog.flush(5.0)
        if "monitoring" in vars(self.client):  # only if this process used it
            self.client.monitoring.close()

    # -- /metrics ----------------------------------------------------------------------
    async def _metrics(self, request: Request, scope: Scope) -> None:
        """The registry in the format the scraper's ``Accept`` asks for (OpenMetrics or
        text 0.0.4, chosen by prometheus-client). The monitoring gauges are precomputed
        (see :func:`_monitoring_gauges`), so this is cheap enough for the event loop."""
        from prometheus_client.exposition import choose_encoder

        if request.method not in ("GET", "HEAD"):
            await predict_routes.envelope(request, 405, "method_not_allowed",
                                          f"method not allowed: {request.method} /metrics",
                                          None, [(b"allow", b"GET, HEAD")])
            return
        accept = ",".join(v.decode("latin-1") for k, v in scope["headers"] if k == b"accept")
        encoder, content_type = choose_encoder(accept)
        body = encoder(self.metrics.registry)
        await request.respond(200, body, content_type=content_type.encode())


def install_serving(app: FastAPI, client: Client, serve: list[Any] | None = None, *,
                    serving_only: bool = False,
                    defaults: dict[str, Any] | None = None) -> ModelRuntime:
    """Put the serving layer in front of ``app`` (call it after the other middleware, so
    it is the outermost) and return its runtime, also kept as ``app.state.serving``.

    ``client`` is the app's one wiring: the runtime fetches models through its model
    cache, enriches requests through its feature store and logs to its monitoring.
    ``serve`` lists model URIs (or :class:`ServeSpec` / dicts); ``defaults`` are
    :class:`ServeSpec` fields for plain URIs. Prometheus collectors go into
    ``app.state.metrics_registry`` (created here if absent), which ``/metrics`` exposes.
    """
    from modelplane.serving.features import feature_lookup_factory
    from modelplane.serving.predlog import ServingLog
    from modelplane.serving.workershare import from_env

    settings = client.settings
    registry = getattr(app.state, "metrics_registry", None)
    metrics = ServingMetrics(registry)
    app.state.metrics_registry = metrics.registry
    workers = from_env()  # --workers N: /metrics answers for every worker
    if workers is not None:
        metrics.share(workers)
    specs = [ServeSpec.of(s, **(defaults or {})) for s in serve or []]
    predlog = ServingLog(lambda: client.monitoring, settings,
                         enabled=settings.prediction_log,
                         process=settings.prediction_log_process)
    runtime = ModelRuntime(specs, models=client.models, metrics=metrics,
                           poll_seconds=settings.serving_poll_seconds,
                           feature_lookup=feature_lookup_factory(lambda: client.features),
                           predlog=predlog)
    gauges = (_monitoring_gauges(metrics, client, [spec.name for spec in specs],
                                 settings.metrics_refresh_seconds)
              if specs and settings.prediction_log else None)
    app.state.serving = runtime
    deployments = None
    if not serving_only:  # the full server also serves every deployment in the database
        from modelplane.deployments.router import DeploymentRouter

        deployments = DeploymentRouter(runtime, client.deployments,
                                       poll_seconds=settings.deployment_poll_seconds,
                                       defaults=defaults, registry=metrics.registry)
    app.state.deployments = deployments
    options: dict[str, Any] = {"runtime": runtime, "metrics": metrics, "client": client,
                               "max_bytes": settings.max_request_bytes,
                               "deployments": deployments, "gauges": gauges,
                               "alert_interval": 0.0 if serving_only
                               else settings.alert_interval_seconds}
    app.state.serving_layer = options
    app.add_middleware(ServingLayer, **options)
    return runtime


def _monitoring_gauges(metrics: ServingMetrics, client: Client, models: list[str],
                       refresh_seconds: float) -> Any:
    """Drift share, per-column scores, label metrics, latency and error ratio of the
    served models over the last hour, as Prometheus gauges computed in a background
    thread every ``refresh_seconds`` (a scrape copies the last figures: it never builds
    a report on the event loop). Returns the collector; the layer starts and stops it."""
    from modelplane.monitoring.prometheus import MonitoringCollector

    collector = MonitoringCollector(lambda: client.monitoring, models, "1h",
                                    refresh_seconds=refresh_seconds)
    metrics.registry.register(collector)
    return collector


def in_front(app: FastAPI) -> ServingLayer:
    """A second serving layer in front of FastAPI itself, for a server process: FastAPI's
    own outer layers (telemetry checks, error and body-limit wrappers) cost about as much
    as the rest of a prediction request. It shares the runtime and metrics with the layer
    inside ``app``, which keeps joining the app's lifespan."""
    return ServingLayer(app, **app.state.serving_layer, lifespan=False)
