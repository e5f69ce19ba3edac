"""The model runtime: served models loaded by URI, verified, warmed up, and hot-swapped.

:class:`ModelRuntime` holds one :class:`ServedModel` per registered model it serves. A
served model resolves its URI (``models:/churn@production``, ``@champion``, ``:3``)
through the registry and loads that version (``loading.load_version``: fetch, verify
every file against the recorded digests, load, warm up with the stored input example);
only then does it answer requests and count as ready.

A URI that names a stage or an alias is resolved again every ``poll_seconds``
(``MODELPLANE_SERVING_POLL_SECONDS``, default 2). When it points at another version, the
new one is loaded and warmed up in the background, then swapped in with one reference
assignment on the event loop. Requests that already hold the old version finish on it;
it is closed once none is left. A version that fails to load is not retried until the
URI moves again, and the old one keeps serving: no request fails during a swap.

Each loaded version has its own :class:`~modelplane.serving.batching.DynamicBatcher`;
the prediction cache (opt-in) belongs to the served model and is keyed by digest.

Serve-time features: a spec may name a feature service, and a runtime built with a
``feature_lookup`` factory (the wiring gives it the feature store's) enriches ``/predict``
records through it before the model sees them. Without one, naming a feature service is
refused at start.

The runtime takes what it uses: a :class:`~modelplane.registry.models.ModelSource`
(resolve URIs, fetch verified model folders), the metrics, the poll interval, the feature
lookup and the prediction log. ``server.app.create_app`` and ``modelplane predict`` build it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol

from modelplane.core.errors import InvalidArgumentError, ModelplaneError, NotFoundError
from modelplane.registry.uri import parse_model_uri
from modelplane.serving.batching import DynamicBatcher
from modelplane.serving.cache import PredictionCache, input_hash
from modelplane.serving.loading import Loaded, load_version, output_specs
from modelplane.serving.predictors import Output, count_rows, pool_batch, pool_init
from modelplane.serving.predlog import ServingLog

if TYPE_CHECKING:
    from modelplane.registry.entities import ModelVersion
    from modelplane.registry.models import ModelSource
    from modelplane.serving.metrics import ServingMetrics

__all__ = ["FeatureLookup", "LoadedVersion", "ModelRuntime", "NotReadyError", "ServeSpec",
           "ServedModel"]

log = logging.getLogger("modelplane.serving")
AUTOCAST = ("auto", "bf16", "off")
RETIRE_TIMEOUT = 60.0


class NotReadyError(ModelplaneError):
    """The model is served but no version is loaded yet (or loading failed)."""

    code = "not_ready"
    http_status = 503


class FeatureLookup(Protocol):
    """Serve-time features for one feature service (wired with the feature store)."""

    def enrich(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The records with the service's online features added, in the same order."""


@dataclass(frozen=True)
class ServeSpec:
    """How to serve one model URI.

    ``max_batch_size`` rows per model call and at most ``max_wait_ms`` to gather them
    (only under concurrent load); ``cache_size`` > 0 turns the prediction cache on with
    that many entries (and at most ``cache_bytes``); ``processes`` > 0 runs the model in
    a pool of that many processes (CPU-bound pure-Python models); ``format="onnx"``
    serves the version's ONNX form with onnxruntime; ``autocast`` for PyTorch: ``auto``
    (bfloat16 on a GPU when one is present), ``bf16`` or ``off``; ``fast_paths=False``
    always calls the flavor's own predict; ``feature_service`` names the feature
    service whose online features ``/predict`` adds to each record.
    """

    uri: str
    max_batch_size: int = 64
    max_wait_ms: float = 2.0
    cache_size: int = 0
    cache_bytes: int = 64 * 1024 * 1024
    processes: int = 0
    format: str | None = None
    autocast: str = "auto"
    fast_paths: bool = True
    feature_service: str | None = None

    def __post_init__(self) -> None:
        parse_model_uri(self.uri)
        checks = [("max_batch_size", self.max_batch_size >= 1, ">= 1"),
                  ("max_wait_ms", self.max_wait_ms >= 0, ">= 0"),
                  ("cache_size", self.cache_size >= 0, ">= 0"),
                  ("cache_bytes", self.cache_bytes >= 1, ">= 1"),
                  ("processes", self.processes >= 0, ">= 0"),
                  ("format", self.format in (None, "onnx"), "'onnx' or none"),
                  ("autocast", self.autocast in AUTOCAST, " or ".join(AUTOCAST))]
        for name, ok, expected in checks:
            if not ok:
                got = getattr(self, name)
                raise InvalidArgumentError(f"{name}: expected {expected}, got {got!r}",
                                           details={"field": name, "expected": expected,
                                                    "got": got})

    @property
    def name(self) -> str:
        return parse_model_uri(self.uri).name

    @classmethod
    def of(cls, value: str | ServeSpec | dict[str, Any], **defaults: Any) -> ServeSpec:
        """A spec from a URI (with ``defaults``), a dict of fields, or a spec."""
        if isinstance(value, ServeSpec):
            return value
        if isinstance(value, str):
            return cls(uri=value, **defaults)
        return cls(**{**defaults, **value})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class LoadedVersion:
    """One verified, warmed-up version and its batcher: what requests run on."""

    def __init__(self, served: ServedModel, version: ModelVersion, loaded: Loaded,
                 batcher: DynamicBatcher, pool: Executor | None = None) -> None:
        self.served = served
        self.version = version
        self.number = version.version
        self.label = str(version.version)
        self.digest = version.artifact_digest
        self.model = loaded.model
        self.fast_path = loaded.predictor.fast_path
        self.load_seconds = loaded.seconds
        self.batcher = batcher
        self.pool = pool
        self.inflight = 0
        self.output_specs = output_specs(loaded.model)
        self.classes = loaded.model.meta.classes

    @property
    def name(self) -> str:
        return self.served.name

    def infer(self, prepared: Any) -> Awaitable[Output]:
        """Predictions (and probabilities) for one prepared input, batched with others:
        an awaitable (the batcher's future itself when there is no cache)."""
        if self.served.cache is None:
            return self.batcher.submit(prepared, count_rows(prepared))
        return self._infer_cached(prepared)

    async def _infer_cached(self, prepared: Any) -> Output:
        served = self.served
        cache = served.cache
        key = input_hash(prepared) if cache is not None else None
        if key is not None and cache is not None:
            hit = cache.get(self.digest, key)
            if hit is not None:
                served.cache_hit.inc()
                return hit  # type: ignore[no-any-return]
            served.cache_miss.inc()
        result: Output = await self.batcher.submit(prepared, count_rows(prepared))
        if key is not None and cache is not None:
            cache.put(self.digest, key, result)
        return result

    def named_outputs(self, result: Output) -> list[tuple[str, Any]]:
        first, second = self.output_specs
        out = [(first.name, result[0])]
        if second is not None and result[1] is not None:
            out.append((second.name, result[1]))
        return out

    def metadata(self) -> dict[str, Any]:
        """OIP model metadata: inputs and outputs from the signature."""
        from modelplane.serving.oip import tensor_metadata

        signature = self.model.signature
        inputs = [tensor_metadata(s) for s in signature.inputs] if signature else []
        outputs = [tensor_metadata(s) for s in self.output_specs if s is not None]
        return {"name": self.name, "versions": [self.label],
                "platform": f"modelplane_{self.model.flavor}", "inputs": inputs,
                "outputs": outputs}

    async def close(self) -> None:
        await self.batcher.close()
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)


class _Null:
    def inc(self) -> None:
        pass


class ServedModel:
    """One served URI: the version answering now, and the watcher that swaps it."""

    def __init__(self, spec: ServeSpec, runtime: ModelRuntime,
                 features: FeatureLookup | None = None) -> None:
        self.spec = spec
        self.runtime = runtime
        self.ref = parse_model_uri(spec.uri)
        self.name = self.ref.name
        self.features = features
        self.current: LoadedVersion | None = None
        self.retiring: list[LoadedVersion] = []
        self.error: str | None = None
        self._failed_id: str | None = None
        self._last_logged: str | None = None
        self.cache = (PredictionCache(spec.cache_size, spec.cache_bytes)
                      if spec.cache_size else None)
        metrics = runtime.metrics
        self.cache_hit: Any = _Null()
        self.cache_miss: Any = _Null()
        if metrics is not None:
            self.cache_hit, self.cache_miss = metrics.cache(self.name)
            metrics.watch_queue(self.name, self.queue_depth)

    @property
    def ready(self) -> bool:
        return self.current is not None

    def queue_depth(self) -> float:
        current = self.current
        return float(current.batcher.queue_depth) if current is not None else 0.0

    def get(self, version: int | None = None) -> LoadedVersion:
        current = self.current
        if current is None:
            why = f": {self.error}" if self.error else " (still loading)"
            raise NotReadyError(f"model {self.name!r} is not ready{why}",
                                details={"model": self.name})
        if version is None or version == current.number:
            return current
        for old in self.retiring:
            if old.number == version:
                return old
        raise NotFoundError(f"version {version} of model {self.name!r} is not served; "
                            f"it serves version {current.number} ({self.spec.uri})",
                            details={"model": self.name, "version": version})

    async def run(self, poll_seconds: float) -> None:
        """Load the version the URI names, then follow it (stages and aliases move)."""
        while True:
            await self.refresh()
            if self.ref.version is not None and self.current is not None:
                return  # a pinned version never moves
            await asyncio.sleep(poll_seconds)

    async def refresh(self) -> None:
        """Resolve the URI once; load and swap in the version it names if it changed."""
        try:
            version = await asyncio.to_thread(self.runtime.source.resolve, self.spec.uri)
        except Exception as exc:
            self._note_failure(f"cannot resolve {self.spec.uri}: {exc}")
            return
        current = self.current
        if current is not None and current.version.id == version.id:
            return
        if version.id == self._failed_id:
            return
        try:
            await self._swap_in(version)
        except Exception as exc:
            self._failed_id = version.id
            self._note_failure(f"cannot serve {version.uri}: {exc}")

    def _note_failure(self, message: str) -> None:
        if self.current is None:
            self.error = message
        if message != self._last_logged:
            log.error("%s%s", message, "" if self.current is None else
                      f"; still serving version {self.current.number}")
            self._last_logged = message

    async def _swap_in(self, version: ModelVersion) -> None:
        spec, runtime = self.spec, self.runtime
        loaded = await asyncio.to_thread(load_version, runtime.source, version,
                                         fmt=spec.format, autocast=spec.autocast,
                                         fast_paths=spec.fast_paths)
        pool, batch_fn, concurrency = None, loaded.predictor.batch, 1
        if spec.processes:
            pool, batch_fn = await asyncio.to_thread(_start_pool, loaded, spec), pool_batch
            concurrency = spec.processes
        max_rows = spec.max_batch_size if loaded.predictor.batchable else 1
        observe = runtime.metrics.batch_observer(self.name) if runtime.metrics else None
        batcher = DynamicBatcher(batch_fn, max_batch_size=max_rows,
                                 max_wait=spec.max_wait_ms / 1000, executor=pool,
                                 concurrency=concurrency, name=f"{self.name}:{version.version}",
                                 on_batch=observe)
        batcher.start()
        new = LoadedVersion(self, version, loaded, batcher, pool)
        old, self.current = self.current, new  # the swap: one assignment on the loop
        self.error, self._failed_id = None, None
        runtime.settle(first=old is None)
        if runtime.metrics is not None:
            runtime.metrics.version_loaded(self.name, new.label, loaded.seconds)
        log.info("serving %s as %s (loaded in %.2f s%s)", version.uri, spec.uri,
                 loaded.seconds, f", {new.fast_path} fast path" if new.fast_path else "")
        if old is not None:
            self.retiring.append(old)
            runtime.spawn(self._retire(old))

    async def _retire(self, old: LoadedVersion) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RETIRE_TIMEOUT
        while old.inflight and loop.time() < deadline:
            await asyncio.sleep(0.02)
        await old.close()
        self.retiring.remove(old)
        if self.cache is not None:
            self.cache.drop(old.digest)
        if self.runtime.metrics is not None and (
                self.current is None or self.current.label != old.label):
            self.runtime.metrics.version_unloaded(self.name, old.label)

    async def close(self) -> None:
        for version in [*self.retiring, *([self.current] if self.current else [])]:
            await version.close()
        self.current = None
        self.retiring.clear()


def _start_pool(loaded: Loaded, spec: ServeSpec) -> Executor:
    """A process pool whose workers each load the model, started and warmed up."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(spec.processes, mp_context=multiprocessing.get_context("spawn"),
                               initializer=pool_init,
                               initargs=(str(loaded.path), loaded.options, spec.fast_paths))
    example = loaded.example
    warm = [pool.submit(pool_batch, [example]) for _ in range(spec.processes)] if (
        example is not None) else []
    for future in warm:
        future.result(timeout=300)
    return pool


class ModelRuntime:
    """Every model a server serves, by registered model name.

    ``start()`` (inside the server's event loop) begins loading in the background and
    watching the URIs; ``ready`` is true once every model answers. ``models`` resolves
    URIs and fetches verified model folders; ``predlog`` is where answers are logged (off
    when not given). ``freeze_gc`` (set by server processes, see :meth:`settle`) tunes the
    garbage collector.
    """

    def __init__(self, specs: Sequence[str | ServeSpec | dict[str, Any]], *,
                 models: ModelSource, metrics: ServingMetrics | None = None,
                 poll_seconds: float = 2.0,
                 feature_lookup: Callable[[str], FeatureLookup] | None = None,
                 predlog: ServingLog | None = None) -> None:
        self.source = models
        self.metrics = metrics
        self.freeze_gc = False
        self.poll_seconds = poll_seconds
        self.predlog = predlog if predlog is not None else ServingLog.off()
        self.models: dict[str, ServedModel] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        for value in specs:
            spec = ServeSpec.of(value)
            if spec.name in self.models:
                raise InvalidArgumentError(
                    f"model {spec.name!r} is served twice ({self.models[spec.name].spec.uri} "
                    f"and {spec.uri}); serve one URI per registered model",
                    details={"field": "serve", "got": spec.uri})
            features = None
            if spec.feature_service is not None:
                if feature_lookup is None:
                    raise InvalidArgumentError(
                        f"{spec.uri}: serve-time features (feature service "
                        f"{spec.feature_service!r}) need a feature store; this runtime has "
                        "none", details={"field": "feature_service"})
                features = feature_lookup(spec.feature_service)
            self.models[spec.name] = ServedModel(spec, self, features)

    def settle(self, *, first: bool) -> None:
        """After a load, with ``freeze_gc``: move what is loaded out of the cyclic garbage
        collector's reach (``gc.freeze``). A server holds a few hundred thousand long-lived
        objects (libraries, models); without this, a full collection under load stalls
        every request for 100 ms or more. The first load also collects the start-up
        garbage; later swaps only freeze, which costs nothing on the request path."""
        if not self.freeze_gc:
            return
        if first:
            gc.collect()
        gc.freeze()

    @property
    def ready(self) -> bool:
        return all(m.ready for m in self.models.values())

    def get(self, name: str, version: int | None = None) -> LoadedVersion:
        served = self.models.get(name)
        if served is None:
            raise NotFoundError(f"model {name!r} is not served here; served: "
                                f"{', '.join(sorted(self.models)) or 'none'}",
                                details={"model": name})
        return served.get(version)

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def start(self) -> None:
        poll = self.poll_seconds
        for served in self.models.values():
            self.spawn(served.run(poll))

    async def wait_ready(self, timeout: float = 60.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.ready:
            if loop.time() > deadline:
                errors = [m.error for m in self.models.values() if m.error]
                raise TimeoutError("models not ready in time" + (f": {errors[0]}" if errors
                                                                  else ""))
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for served in self.models.values():
            await served.close()
