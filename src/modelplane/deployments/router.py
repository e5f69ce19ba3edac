"""The serving side of deployments: what each server replica runs.

:class:`DeploymentRouter` belongs to a server's serving layer. Every
``MODELPLANE_DEPLOYMENT_POLL_SECONDS`` (default 1 s) it:

1. reads every deployment and resolves each variant's ref (a stage or alias may have
   moved), loads any version it does not hold yet (fetch, verify, warm up: the runtime's
   :class:`~modelplane.serving.runtime.ServedModel`, pinned to the version), and swaps in
   new route tables with one assignment. A variant whose version is still loading is not
   picked: its requests go to a ready variant (the one with the most weight), so no
   request fails because of a change. Versions no deployment references any more are
   closed once their requests have finished;
2. writes this replica's per-variant figures (``stats``) to the database;
3. for each deployment with a canary running, takes a short lease (one replica acts per
   decision) and runs :meth:`DeploymentService.tick`.

So a change made through any replica (or the CLI, or Python) is served by every replica
within one poll interval plus the time to load a version it has not loaded yet.

Shadow copies are queued after the caller's response has been sent (a bounded queue;
when full, copies are dropped and counted) and run by background workers on the shadow
version's own batcher; their answers and failures are logged, never returned.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from modelplane.core.errors import InvalidStateError, ModelplaneError, NotFoundError
from modelplane.deployments.canary import SERVING_METRICS
from modelplane.deployments.routing import Picker
from modelplane.deployments.stats import StatsRecorder
from modelplane.serving.answer import run_model
from modelplane.serving.runtime import LoadedVersion, NotReadyError, ServedModel, ServeSpec

if TYPE_CHECKING:
    from modelplane.deployments.entities import Deployment
    from modelplane.deployments.service import DeploymentService
    from modelplane.serving.runtime import ModelRuntime

__all__ = ["DeploymentRouter", "Entry", "RouteTable"]

log = logging.getLogger("modelplane.deployments")
SHADOW_QUEUE = 1000
SHADOW_WORKERS = 4
SHADOW_TIMEOUT = 30.0
LEASE_MIN_S = 5.0


class Entry:
    """One variant as served: its name, version, weight and loaded model."""

    __slots__ = ("served", "variant", "version", "weight")

    def __init__(self, variant: str, version: int, weight: float, served: ServedModel) -> None:
        self.variant, self.version, self.weight, self.served = variant, version, weight, served


class RouteTable:
    """A deployment's routing as this replica serves it now (rebuilt on each change)."""

    __slots__ = ("by_version", "canary", "entries", "fallback", "key_field", "log", "model",
                 "name", "picker", "revision", "shadows")

    def __init__(self, d: Deployment, entries: list[Entry], shadows: list[Entry],
                 log_predictions: bool) -> None:
        self.name, self.model, self.revision = d.name, d.model, d.revision
        self.key_field = d.key_field
        self.entries, self.shadows = entries, shadows
        self.picker = Picker(d.name, [e.weight for e in entries])
        self.fallback = sorted(entries, key=lambda e: -e.weight)
        self.by_version = {e.version: e for e in [*shadows, *entries]}  # routes win
        self.canary = d.canary.candidate if d.canary is not None and d.canary.running \
            else None
        self.log = log_predictions

    def pick(self, key: str | None) -> tuple[Entry, LoadedVersion]:
        """The variant for ``key`` (random without one), or the first ready variant
        when that one is still loading; NotReadyError when none is ready."""
        entry = self.entries[self.picker.pick(key)]
        current = entry.served.current
        if current is not None:
            return entry, current
        for other in self.fallback:
            current = other.served.current
            if current is not None:
                return other, current
        raise NotReadyError(f"deployment {self.name!r} is not ready: its versions are "
                            "still loading", details={"deployment": self.name})

    def version(self, number: int) -> tuple[Entry, LoadedVersion]:
        entry = self.by_version.get(number)
        if entry is None:
            raise NotFoundError(f"version {number} is not routed by deployment "
                                f"{self.name!r}; it routes "
                                f"{', '.join(str(v) for v in self.by_version)}",
                                details={"deployment": self.name, "version": number})
        current = entry.served.current
        if current is None:
            raise NotReadyError(f"version {number} of deployment {self.name!r} is still "
                                "loading", details={"deployment": self.name})
        return entry, current


class DeploymentRouter:
    """See the module docstring. ``service`` holds the deployments it routes; ``defaults``
    are ServeSpec fields for loaded versions."""

    def __init__(self, runtime: ModelRuntime, service: DeploymentService, *,
                 poll_seconds: float = 1.0, defaults: dict[str, Any] | None = None,
                 registry: Any = None) -> None:
        self.runtime = runtime
        self.service = service
        self.poll_seconds = poll_seconds
        self.defaults = dict(defaults or {})
        self.replica = uuid.uuid4().hex[:16]
        self.tables: dict[str, RouteTable] = {}
        self.versions: dict[tuple[str, int], ServedModel] = {}
        self.shadow_dropped = 0
        self.shadow_failed = 0
        self.shadow_done = 0
        self.counts: dict[tuple[str, str, str, int], int] = {}
        self._recorder: StatsRecorder | None = None
        self._queue: asyncio.Queue[tuple[Any, ...]] | None = None
        self._resolved: dict[tuple[str, str], int] = {}
        self._tasks: list[asyncio.Task[Any]] = []
        if registry is not None:  # the app's /metrics registry
            collector = _Collector(self)
            registry.register(collector)
            from modelplane.serving.workershare import from_env

            share = from_env()  # --workers N: /metrics answers for every worker
            if share is not None:
                share.add("deployments", collector.snapshot)

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        self._queue = asyncio.Queue(SHADOW_QUEUE)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._run(), name="modelplane-deployments")]
        self._tasks += [loop.create_task(self._shadow_worker()) for _ in range(SHADOW_WORKERS)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._flush()
        await asyncio.to_thread(self.runtime.predlog.flush, 5.0)
        for served in self.versions.values():
            await served.close()
        self.versions.clear()
        self.tables = {}

    async def _run(self) -> None:
        while True:
            started = time.monotonic()
            for step in (self.refresh, self._flush, self._control):
                try:
                    await step()
                except asyncio.CancelledError:
                    raise
                except ModelplaneError as exc:
                    log.warning("deployments: %s", exc.message)
                except Exception:
                    log.exception("deployments: %s failed", step.__name__)
            await asyncio.sleep(max(0.0, self.poll_seconds - (time.monotonic() - started)))

    # -- 1. state ----------------------------------------------------------------------
    def _read(self) -> list[tuple[Deployment, dict[str, int]]]:
        """Every deployment with the version each variant serves now (a ref that fails
        to resolve keeps its last version, or is left out)."""
        service = self.service
        out = []
        for d in service.list():
            versions = {}
            for v in d.variants:
                if v.ref.isdigit():
                    versions[v.name] = int(v.ref)
                    continue
                key = (d.model, v.ref)
                try:
                    from modelplane.deployments.service import ref_uri

                    self._resolved[key] = service.registry.resolve(ref_uri(d.model, v.ref)).version
                except NotFoundError as exc:
                    log.warning("deployment %s: variant %s: %s", d.name, v.name, exc.message)
                if key in self._resolved:
                    versions[v.name] = self._resolved[key]
            out.append((d, versions))
        return out

    async def refresh(self) -> None:
        """Read the state once and swap in new route tables (see the module docstring)."""
        state = await asyncio.to_thread(self._read)
        tables: dict[str, RouteTable] = {}
        wanted: set[tuple[str, int]] = set()
        for d, versions in state:
            entries: list[Entry] = []
            shadows: list[Entry] = []
            for v in d.variants:
                if v.name not in versions:
                    continue
                key = (d.model, versions[v.name])
                wanted.add(key)
                entry = Entry(v.name, key[1], v.weight, self._served(*key))
                (shadows if v.shadow else entries).append(entry)
            if not any(e.weight > 0 for e in entries):
                continue
            old = self.tables.get(d.name)
            log_predictions = bool(d.shadows) or bool(
                d.canary and d.canary.running
                and any(g.metric not in SERVING_METRICS for g in d.canary.gates))
            if old is not None and old.revision == d.revision and _same(old, entries, shadows):
                tables[d.name] = old
            else:
                tables[d.name] = RouteTable(d, entries, shadows, log_predictions)
        self.tables = tables  # the swap: one assignment on the loop
        for key in [k for k in self.versions if k not in wanted]:
            self.runtime.spawn(self._retire(self.versions.pop(key)))

    def _served(self, model: str, version: int) -> ServedModel:
        served = self.versions.get((model, version))
        if served is None:
            spec = ServeSpec.of(f"models:/{model}:{version}", **self.defaults)
            served = self.versions[(model, version)] = ServedModel(spec, self.runtime)
            self.runtime.spawn(served.run(self.runtime.poll_seconds))
        return served

    async def _retire(self, served: ServedModel) -> None:
        current = served.current
        deadline = time.monotonic() + 60
        while current is not None and current.inflight and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await served.close()

    # -- 2. figures --------------------------------------------------------------------
    def record(self, table: RouteTable, entry: Entry, label: str, status: int,
               seconds: float) -> None:
        """Count one answered request (event loop)."""
        key = (table.name, entry.variant, label, status)
        self.counts[key] = self.counts.get(key, 0) + 1
        recorder = self._recorder
        if recorder is None:
            recorder = self._recorder = StatsRecorder(self.service.store, self.replica)
        recorder.record(table.name, entry.variant, entry.version, status >= 500, seconds)

    async def _flush(self) -> None:
        recorder = self._recorder
        if recorder is None:
            return
        rows = recorder.take()
        if not rows:
            return
        try:
            await asyncio.to_thread(recorder.write, rows)
        except Exception:
            recorder.retry(rows)
            raise

    # -- 3. canary controller ----------------------------------------------------------
    async def _control(self) -> None:
        for table in list(self.tables.values()):
            if table.canary:
                failed = next((e.served.error for e in table.entries
                               if e.variant == table.canary and e.served.current is None
                               and e.served._failed_id is not None), None)
                if failed:  # it would never get traffic: fail it rather than wait forever
                    await asyncio.to_thread(self._fail, table.name,
                                            f"the candidate failed to load: {failed}")
                    continue
                await asyncio.to_thread(self._tick, table.name)

    def _fail(self, name: str, reason: str) -> None:
        with contextlib.suppress(InvalidStateError):  # another replica failed it first
            self.service.fail_canary(name, reason, actor="controller")

    def _tick(self, name: str) -> None:
        service = self.service
        ttl = max(LEASE_MIN_S, 3 * self.poll_seconds)
        if service.store.acquire_lease(f"canary:{name}", self.replica, ttl):
            decision = service.tick(name)
            if decision is not None and decision.action != "wait":
                log.info("deployment %s: canary %s: %s", name, decision.action,
                         decision.reason)

    # -- shadows and the prediction log ---------------------------------------------------
    def shadow(self, table: RouteTable, data: Any, request_id: str) -> None:
        """Queue copies of a request for the table's shadows (never blocks, never raises)."""
        queue = self._queue
        for entry in table.shadows:
            if entry.weight < 100 and random.random() * 100 >= entry.weight:
                continue
            if queue is None or queue.full():
                self.shadow_dropped += 1
                continue
            queue.put_nowait((table, entry, data, request_id))

    async def _shadow_worker(self) -> None:
        assert self._queue is not None
        while True:
            table, entry, data, request_id = await self._queue.get()
            started = time.perf_counter()
            handle = entry.served.current
            if handle is None:
                self.shadow_dropped += 1
                continue
            status, result, error = 200, None, None
            try:
                result = await asyncio.wait_for(run_model(handle, data, request_id,
                                                          quiet=True), SHADOW_TIMEOUT)
            except Exception as exc:
                status, error = 500, f"{type(exc).__name__}: {exc}"[:300]
                self.shadow_failed += 1
            self.shadow_done += 1
            seconds = time.perf_counter() - started
            self.record(table, entry, handle.label, status, seconds)
            self.log(table, entry, handle.number, request_id, data, result, seconds, error)

    def log(self, table: RouteTable, entry: Entry, version: int, request_id: str, data: Any,
            result: Any, seconds: float, error: str | None = None, *,
            raw: bytes | None = None, response: bytes | None = None) -> None:
        """Hand one answer to the monitoring prediction log (non-blocking; never raises).
        Logged whenever the server's prediction log is on, and always while a canary
        has gates that read the log (drift, labelled performance). ``raw`` and
        ``response``: the request's and the answer's JSON bodies, logged as they are."""
        self.runtime.predlog.log(table.model, version, request_id, data, result, seconds,
                                 error=error, deployment=table.name, variant=entry.variant,
                                 force=table.log, raw=raw, response=response)


class _Collector:
    """Per-variant Prometheus figures of this replica (``/metrics``):
    ``modelplane_deployment_requests_total{deployment, variant, version, status}`` and
    ``modelplane_deployment_shadow_{dropped,failed}_total``."""

    def __init__(self, router: DeploymentRouter) -> None:
        self.router = router

    def describe(self) -> list[Any]:
        return []

    def snapshot(self) -> dict[str, Any]:
        router = self.router
        return {"counts": [[*k, n] for k, n in list(router.counts.items())],
                "dropped": router.shadow_dropped, "failed": router.shadow_failed}

    def collect(self) -> Iterator[Any]:
        """This replica's figures; with ``--workers``, every worker's summed (see
        ``serving.workershare``)."""
        from prometheus_client.core import CounterMetricFamily

        from modelplane.serving.workershare import from_env

        share = from_env()
        snapshots = ([data for _, data in share.gather("deployments")] if share is not None
                     else [self.snapshot()])
        counts: dict[tuple[str, str, str, int], int] = {}
        totals = {"dropped": 0, "failed": 0}
        for data in snapshots:
            for name, variant, version, status, n in data["counts"]:
                key = (name, variant, version, status)
                counts[key] = counts.get(key, 0) + n
            for what in totals:
                totals[what] += data[what]
        family = CounterMetricFamily("modelplane_deployment_requests",
                                     "Requests answered through a deployment, per variant.",
                                     labels=["deployment", "variant", "version", "status"])
        for (name, variant, version, status), n in sorted(counts.items()):
            family.add_metric([name, variant, version, str(status)], n)
        yield family
        for what, value in totals.items():
            yield CounterMetricFamily(f"modelplane_deployment_shadow_{what}",
                                      f"Shadow copies {what}.", value=value)


def _same(old: RouteTable, entries: list[Entry], shadows: list[Entry]) -> bool:
    def sig(items: list[Entry]) -> list[tuple[str, int, float]]:
        return [(e.variant, e.version, e.weight) for e in items]
    return sig(old.entries) == sig(entries) and sig(old.shadows) == sig(shadows)

