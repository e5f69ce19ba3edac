"""``MonitoringService``: the prediction log, references, labels, drift, health,
performance, alert rules and their evaluation, over the storage protocols.

Reference resolution for ``(model, version)``: the version's own reference; else one
derived from the training dataset registered with the version (role ``train`` or
``training``, else the first; restricted to the signature's named inputs; a dataset with
role ``predictions`` becomes the predictions reference), stored on first use; else the
model-wide reference (version 0); else a :class:`NotFoundError` saying how to set one.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from modelplane.core.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    ModelplaneError,
    NotFoundError,
)
from modelplane.core.ids import new_id
from modelplane.core.timeutil import utcnow
from modelplane.monitoring.actions import ActionRegistry
from modelplane.monitoring.alerts import OPS, Alert, Rule, parse_metric
from modelplane.monitoring.counts import CountVector, count_rows
from modelplane.monitoring.drift import DriftOptions, score_counts
from modelplane.monitoring.entities import (
    DriftReport,
    LabelResult,
    LoggedPrediction,
    label_rows,
)
from modelplane.monitoring.evaluation import RuleEvaluator, metric_value
from modelplane.monitoring.health import HealthPoint, HealthReport, StatsBucket
from modelplane.monitoring.performance import (
    PerformanceReport,
    VersionPerformance,
    compute_metrics,
    infer_task,
    read_output,
)
from modelplane.monitoring.predlog.logger import LogEntry, PredictionLogger
from modelplane.monitoring.predlog.records import PredictionRecord, normalise_record
from modelplane.monitoring.predlog.rows import LogBatch
from modelplane.monitoring.predlog.thread import ThreadLogger
from modelplane.monitoring.profiles import (
    DEFAULT_BINS,
    DEFAULT_TOP_K,
    Reference,
    build_profile,
    restrict_to_signature,
)
from modelplane.monitoring.windows import Window, parse_duration

if TYPE_CHECKING:
    from modelplane.monitoring.store import PredictionStore, ReferenceStore, RuleStore
    from modelplane.registry.service import RegistryService
    from modelplane.tracking.service import TrackingService

__all__ = ["MonitoringService"]

log = logging.getLogger("modelplane.monitoring")
_NO_REFERENCE = ("model {model!r} has no reference profile{what}; set one with "
                 "client.monitoring.set_reference({model!r}, training_data) or `modelplane "
                 "monitor reference`, or log the training dataset in the run that registers "
                 "the version")


class MonitoringService:
    """See the module docstring. ``bucket_seconds`` is the time resolution of health and
    drift windows; ``retention`` how long the log and its buckets are kept. ``registry``
    and ``tracking`` give a version's training-data profile as its default reference;
    ``actions`` are what this service's alert rules may run (``webhook`` alone unless the
    composition root registers more)."""

    def __init__(self, predictions: PredictionStore, references: ReferenceStore,
                 rules: RuleStore, *, registry: RegistryService | None = None,
                 tracking: TrackingService | None = None, bucket_seconds: int = 60,
                 retention: str | float = "30d", reference_ttl_s: float = 30.0,
                 actions: ActionRegistry | None = None) -> None:
        self.predictions, self.references, self.rules_store = predictions, references, rules
        self.registry, self.tracking = registry, tracking
        self.actions = actions if actions is not None else ActionRegistry()
        self.bucket_ms = int(bucket_seconds * 1000)
        self.retention_s = parse_duration(retention, field="retention")
        self._ref_ttl = reference_ttl_s
        self._ref_cache: dict[tuple[str, int], tuple[float, Reference | None]] = {}
        self._logger: PredictionLogger | None = None  # a thread's, or a server's process's
        self.reference_generation = 0  # bumped when a reference is set or deleted here
        self._lock = threading.Lock()
        self._evaluator = RuleEvaluator(self)
        self._last_retention = 0.0

    # -- the prediction log --------------------------------------------------------------
    def logger(self, **options: Any) -> PredictionLogger:
        """This service's shared prediction logger: unless one was installed, a
        :class:`~modelplane.monitoring.predlog.thread.ThreadLogger` writing on its own thread
        (``options`` apply when it is first created: capacity, batch_size,
        flush_interval_s). A server installs a process-backed one instead (see
        :meth:`install_logger`)."""
        with self._lock:
            if self._logger is None:
                self._logger = ThreadLogger(self, **options)
            return self._logger

    def install_logger(self, make: Callable[[], PredictionLogger]) -> PredictionLogger:
        """Use ``make()`` as this service's logger unless one exists (a server's
        :class:`~modelplane.monitoring.predlog.process.ProcessLogger`), so that joining labels
        waits for it and health reports its counters. Returns the logger in use."""
        with self._lock:
            if self._logger is None:
                self._logger = make()
            return self._logger

    def log_predictions(self, records: Iterable[PredictionRecord | Mapping[str, Any]]) -> int:
        """Write records now (not through the queue); returns how many were stored.
        An invalid record raises :class:`InvalidArgumentError` naming it."""
        batch: list[LogEntry] = list(records)
        for i, record in enumerate(batch):
            try:
                normalise_record(record)
            except (TypeError, ValueError) as exc:
                raise InvalidArgumentError(f"records[{i}]: {exc}",
                                           details={"field": f"records[{i}]"}) from None
        return len(batch) - self.write(batch, {})

    def write(self, records: list[LogEntry], dropped: dict[tuple[str, int], int], *,
              plain: bool = False) -> int:
        """The :class:`~modelplane.monitoring.predlog.logger.PredictionSink`: one transaction for
        the rows, their health buckets and their drift counts. ``records`` are records, dicts
        or served answers (see ``served``; ``plain``: their values came through JSON).
        Returns how many were rejected as invalid."""
        batch = LogBatch()
        rejected = 0
        for record in records:
            try:
                batch.add(record, plain=plain)
            except Exception as exc:  # one odd record is rejected, never the whole batch
                rejected += 1
                log.debug("prediction log: rejected a record: %s", exc)
        self.write_rows(batch, dropped)
        return rejected

    def write_rows(self, batch: LogBatch, dropped: dict[tuple[str, int], int]) -> None:
        """Write a batch of encoded rows (see ``rows``) with the drops counted since the
        last one: the rows, their health buckets and drift counts, in one transaction."""
        stats: dict[tuple[str, int, int], StatsBucket] = {}
        size = self.bucket_ms
        for row in batch.rows:
            ts = row.ts
            key = (row.model, row.version, ts - ts % size)
            s = stats.get(key)
            if s is None:
                s = stats[key] = StatsBucket()
            s.n += 1
            s.errors += row.status == "error"
            s.cache_hits += row.cache_hit
            s.add_latency(row.latency_s)
        now_bucket = self._bucket(time.time())
        for (model, version), n in dropped.items():
            stats.setdefault((model, version, now_bucket), StatsBucket()).dropped += n
        if stats:
            self.predictions.write_batch(batch.rows, stats, self._count(batch))
        self._maybe_retention()

    def _bucket(self, seconds: float) -> int:
        ms = int(seconds * 1000)
        return ms - ms % self.bucket_ms

    def _count(self, batch: LogBatch) -> dict[tuple[str, str, int, int], CountVector]:
        groups: dict[tuple[str, int, int], list[int]] = {}
        size = self.bucket_ms
        for i, row in enumerate(batch.rows):
            ts = row.ts
            groups.setdefault((row.model, row.version, ts - ts % size), []).append(i)
        out = {}
        for (model, version, bucket), indices in groups.items():
            ref = self._cached_reference(model, version)
            if ref is not None and ref.layout.columns:
                values = [batch.values(i) for i in indices]
                out[(ref.id, model, version, bucket)] = count_rows(
                    ref.layout, [v[0] for v in values], [v[1] for v in values])
        return out

    def _maybe_retention(self) -> None:
        """Every 10 minutes, after a batch is written: retention, and compaction of a
        Parquet log. A failure is logged, never raised (the batch is already stored:
        raising would have it written twice)."""
        if time.monotonic() - self._last_retention > 600:
            self._last_retention = time.monotonic()
            try:
                self.apply_retention()
            except Exception as exc:
                log.warning("prediction log retention failed (tried again in 10 min): %s",
                            exc)
            try:
                self.predictions.compact()
            except Exception as exc:
                log.warning("prediction log compaction failed (tried again in 10 min): %s",
                            exc)

    def apply_retention(self, older_than: str | float | None = None) -> dict[str, int]:
        """Delete log rows, labels and buckets older than ``older_than`` (default: the
        service's retention)."""
        seconds = self.retention_s if older_than is None else parse_duration(
            older_than, field="older_than")
        return self.predictions.delete_before(int((time.time() - seconds) * 1000))

    def close(self) -> None:
        if self._logger is not None:
            self._logger.close()
        self._evaluator.close()

    # -- references ----------------------------------------------------------------------
    def set_reference(self, model: str, data: Any = None, *, predictions: Any = None,
                      version: int | None = None, dataset: str | None = None,
                      bins: int = DEFAULT_BINS, top_k: int = DEFAULT_TOP_K,
                      rebuild: bool = True) -> Reference:
        """Set the reference of ``model`` (``version`` None: model-wide) from ``data``
        (features) and optionally ``predictions``, or from a logged ``dataset`` digest.
        With ``rebuild`` the counts are recomputed from the prediction log still kept."""
        if (data is None) == (dataset is None):
            raise InvalidArgumentError("set_reference: pass either data or dataset",
                                       details={"field": "data"})
        if dataset is not None:
            features, source = self._dataset_profile(dataset), f"dataset:{dataset}"
        else:
            features, source = build_profile(data, bins=bins, top_k=top_k), "data"
        preds = None if predictions is None else build_profile(
            predictions, bins=bins, top_k=top_k, field="predictions")
        ref = self.references.put(model, int(version or 0), source, features, preds)
        self.forget_references()
        if rebuild:
            self.rebuild_counts(ref)
        return ref

    def _dataset_profile(self, digest: str) -> dict[str, Any]:
        if self.tracking is None:
            raise InvalidArgumentError("set_reference(dataset=...) needs the tracking "
                                       "service", details={"field": "dataset"})
        profile = self.tracking.get_dataset(digest).profile
        if not profile:
            raise InvalidArgumentError(f"dataset {digest} was logged without a profile",
                                       details={"field": "dataset"})
        return profile

    def reference(self, model: str, version: int | None = None) -> Reference:
        found = self._resolve_reference(model, version)
        if found is None:
            what = "" if not version else f" for version {version}"
            raise NotFoundError(_NO_REFERENCE.format(model=model, what=what),
                                details={"model": model, "version": version})
        return found

    def list_references(self, model: str) -> list[Reference]:
        return self.references.list_references(model)

    def delete_reference(self, model: str, version: int | None = None) -> None:
        if not self.references.delete(model, int(version or 0)):
            raise NotFoundError(f"model {model!r} has no reference for version "
                                f"{version or 0}", details={"model": model})
        self.forget_references()

    def forget_references(self) -> None:
        """Drop the cached references (they are re-read on next use)."""
        self._ref_cache.clear()
        self.reference_generation += 1

    def _cached_reference(self, model: str, version: int) -> Reference | None:
        key = (model, version)
        hit = self._ref_cache.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        try:
            ref = self._resolve_reference(model, version)
        except ModelplaneError as exc:
            log.warning("no reference for %s version %s: %s", model, version, exc)
            ref = None
        self._ref_cache[key] = (time.monotonic() + self._ref_ttl, ref)
        return ref

    def _resolve_reference(self, model: str, version: int | None) -> Reference | None:
        if version:
            own = self.references.get(model, version) or self._from_registry(model, version)
            if own is not None:
                return own
        return self.references.get(model, 0)

    def _from_registry(self, model: str, version: int) -> Reference | None:
        if self.registry is None or self.tracking is None:
            return None
        try:
            mv = self.registry.get_version(model, version)
        except NotFoundError:
            return None
        sets = list(mv.datasets or [])
        train = next((d for d in sets if d.get("role") in ("train", "training")), None)
        train = train or next((d for d in sets if d.get("role") != "predictions"), None)
        if train is None:
            return None
        features = restrict_to_signature(self._dataset_profile(train["digest"]),
                                         mv.signature)
        pred = next((d for d in sets if d.get("role") == "predictions"), None)
        preds = self._dataset_profile(pred["digest"]) if pred else None
        try:
            return self.references.put(model, version, f"dataset:{train['digest']}",
                                       features, preds)
        except AlreadyExistsError:  # another process stored it first
            return self.references.get(model, version)

    def rebuild_counts(self, reference: Reference) -> int:
        """Recount the kept prediction log against ``reference``; returns rows counted."""
        versions = None if reference.version == 0 else [reference.version]
        own = {r.version for r in self.references.list_references(reference.model)
               if r.version}
        counts: dict[tuple[str, str, int, int], CountVector] = {}
        total = 0
        for chunk in self.predictions.iter_predictions(reference.model, versions, None):
            groups: dict[tuple[int, int], tuple[list[Any], list[Any]]] = {}
            for version, ts, inputs, outputs in chunk:
                if reference.version == 0 and version in own:
                    continue  # counted against its own reference
                ins, outs = groups.setdefault((version, ts - ts % self.bucket_ms), ([], []))
                ins.append(inputs)
                outs.append(outputs)
            for (version, bucket), (ins, outs) in groups.items():
                vec = count_rows(reference.layout, ins, outs)
                key = (reference.id, reference.model, version, bucket)
                counts[key] = counts[key].add(vec) if key in counts else vec
                total += len(ins)
        self.predictions.replace_counts(reference.id, counts)
        return total

    # -- labels -----------------------------------------------------------------------------
    def log_labels(self, model: str, labels: Any) -> LabelResult:
        """Join ground truth to logged predictions by request id (and ``row_index`` for
        batch requests). ``labels``: a list of ``{"request_id", "label", "row_index"?}``,
        a ``{request_id: label}`` dict, or a DataFrame with those columns."""
        from modelplane.monitoring.predlog.records import jsonable

        rows = label_rows(labels)
        if self._logger is not None:
            self._logger.flush(5.0)
        known = self.predictions.find_predictions(model, [(r, i) for r, i, _ in rows])
        keep, unknown = [], []
        for request_id, row_index, label in rows:
            ts = known.get((request_id, row_index))
            if ts is None:
                unknown.append(request_id)
            else:
                keep.append((request_id, row_index, jsonable(label), ts))
        self.predictions.put_labels(model, keep, int(time.time() * 1000))
        return LabelResult(accepted=len(keep), unknown=len(unknown),
                           unknown_request_ids=unknown[:100])

    def prediction_log(self, model: str, window: str | Window = "1h", *,
                    version: int | None = None, request_id: str | None = None,
                    limit: int = 100) -> list[LoggedPrediction]:
        """Logged predictions of ``model``, newest first: in a time window (``"1h"``,
        between dates) or the last N (``"500p"``), at most ``limit`` (1 to 10,000), of
        one ``version`` or ``request_id`` when given, each with its label if one was
        joined. What is still queued in this process's logger is written first."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000:
            raise InvalidArgumentError(f"limit must be an integer from 1 to 10000, got {limit!r}",
                                       details={"field": "limit", "expected": "1..10000",
                                                "got": limit})
        w = Window.parse(window)
        start = end = None
        if w.count is not None:
            limit = min(limit, w.count)
        else:
            start, end = w.bounds_ms(utcnow())
        if self._logger is not None:
            self._logger.flush(5.0)
        rows = self.predictions.read_log(model, start, end, version=version,
                                         request_id=request_id, limit=limit)
        labels = self.predictions.labels_of(model, [(r[4], r[5]) for r in rows]) if rows else {}
        out = []
        for (model_, version_, deployment, variant, rid, row_index, ts, inputs, outputs,
             latency, hit, status, error) in rows:
            key = (rid, row_index)
            out.append(LoggedPrediction(
                request_id=rid, row_index=int(row_index), model=model_, version=int(version_),
                time=datetime.fromtimestamp(ts / 1000, UTC), inputs=inputs, outputs=outputs,
                latency_s=latency, status=status, error=error, deployment=deployment,
                variant=variant, cache_hit=bool(hit), label=labels.get(key),
                labelled=key in labels))
        return out

    # -- windows ----------------------------------------------------------------------------
    def _bucket_bounds(self, model: str, window: Window, version: int | None
                       ) -> tuple[int | None, int | None, float | None]:
        """``(start, end, seconds)`` over buckets; seconds is the covered duration."""
        now = utcnow()
        if window.count is not None:
            oldest = self.predictions.newest_buckets(model, window.count, version)
            if oldest is None:
                return 0, 0, None
            return oldest, None, max(time.time() - oldest / 1000, self.bucket_ms / 1000)
        start, end = window.bounds_ms(now)
        assert start is not None and end is not None
        return start - start % self.bucket_ms, end, (end - start) / 1000

    def health(self, model: str, window: str | Window = "1h",
               version: int | None = None) -> HealthReport:
        w = Window.parse(window)
        start, end, seconds = self._bucket_bounds(model, w, version)
        rows = self.predictions.stats(model, start, end, version) if end != 0 else []
        report = HealthReport.build(model, w.spec, ((v, s) for v, _, s in rows), seconds)
        if self._logger is not None:
            report.logger = self._logger.stats().to_dict()
        return report

    def health_over_time(self, model: str, window: str | Window = "1h",
                         version: int | None = None, points: int = 60
                         ) -> dict[int | None, list[HealthPoint]]:
        """Requests, errors and latency per interval over ``window`` (at most ``points``
        intervals, none shorter than a bucket): all versions together under ``None``, and
        each version under its number."""
        from modelplane.monitoring.health import health_series

        w = Window.parse(window)
        start, end, _ = self._bucket_bounds(model, w, version)
        rows = self.predictions.stats(model, start, end, version) if end != 0 else []
        if not rows:
            return {None: []}
        first = min(b for _, b, _ in rows) if start is None else start
        lo, hi = first / 1000, (end / 1000 if end else time.time())
        count = max(1, min(points, math.ceil((hi - lo) * 1000 / self.bucket_ms)))
        out: dict[int | None, list[HealthPoint]] = {
            None: health_series(((b / 1000, s) for _, b, s in rows), lo, hi, count)}
        for number in sorted({v for v, _, _ in rows}):
            out[number] = health_series(((b / 1000, s) for v, b, s in rows if v == number),
                                        lo, hi, count)
        return out

    def drift(self, model: str, window: str | Window = "1h", version: int | None = None,
              options: DriftOptions | None = None) -> DriftReport:
        """Drift of the window's predictions against the reference (see ``drift``). With
        no ``version``: the versions sharing the reference of the busiest version."""
        w = Window.parse(window)
        start, end, _ = self._bucket_bounds(model, w, version)
        if version is not None:
            ref, versions = self.reference(model, version), [version]
        else:
            ref, versions = self._busiest_reference(model, start, end)
        counts, _seen = self.predictions.counts(ref.id, ref.layout, versions, start, end)
        result = score_counts(ref.layout, counts, options=options)
        return DriftReport(model=model, window=w.spec, versions=sorted(versions or _seen),
                           reference=ref, result=result)

    def _busiest_reference(self, model: str, start: int | None, end: int | None
                           ) -> tuple[Reference, list[int]]:
        per_version: dict[int, int] = {}
        for v, _, s in self.predictions.stats(model, start, end) if end != 0 else []:
            per_version[v] = per_version.get(v, 0) + s.n
        if not per_version:
            return self.reference(model, None), []
        groups: dict[str, tuple[Reference, list[int], int]] = {}
        for v, n in per_version.items():
            ref = self._resolve_reference(model, v)
            if ref is not None:
                _, vs, total = groups.get(ref.id, (ref, [], 0))
                groups[ref.id] = (ref, [*vs, v], total + n)
        if not groups:
            raise NotFoundError(_NO_REFERENCE.format(model=model, what=""),
                                details={"model": model})
        ref, versions, _ = max(groups.values(), key=lambda g: g[2])
        return ref, sorted(versions)

    def performance(self, model: str, window: str | Window = "1h", version: int | None = None,
                    task: str | None = None) -> PerformanceReport:
        """Label metrics per version over the predictions made in the window."""
        w = Window.parse(window)
        first_id = None
        start: int | None
        end: int | None
        if w.count is not None:  # the N most recently logged predictions, exactly
            start = end = None
            first_id = self.predictions.first_of_last(model, w.count, version)
        else:
            start, end = w.bounds_ms(utcnow())
        empty = w.count is not None and first_id is None
        rows = [] if empty else self.predictions.labelled(model, start, end, version,
                                                          first_id=first_id)
        made = {} if empty else self.predictions.prediction_counts(model, start, end, version,
                                                                   first_id=first_id)
        if task is None and rows:
            pairs = [(lbl, read_output(out)[0]) for _, out, lbl in rows]
            task = infer_task([p[0] for p in pairs if p[0] is not None],
                              [p[1] for p in pairs if _scalar(p[1])])
        overall = self._perf(None, [r for r in rows], sum(made.values()), task)
        versions = [self._perf(v, [r for r in rows if r[0] == v], made.get(v, 0), task)
                    for v in sorted(made)]
        return PerformanceReport(model=model, window=w.spec, overall=overall, versions=versions)

    @staticmethod
    def _perf(version: int | None, rows: list[tuple[int, Any, Any]], made: int,
              task: str | None) -> VersionPerformance:
        task, metrics, used = compute_metrics([r[2] for r in rows], [r[1] for r in rows],
                                              task=task)
        return VersionPerformance(version=version, task=task, predictions=made,
                                  labelled=used, metrics=metrics)

    # -- rules and alerts ----------------------------------------------------------------
    def create_rule(self, model: str, name: str, metric: str, threshold: float, *,
                    op: str = ">", window: str = "1h", version: int | None = None,
                    cooldown: str | float = "10m", actions: list[dict[str, Any]] | None = None,
                    enabled: bool = True) -> Rule:
        """A rule firing when ``metric`` over ``window`` ``op`` ``threshold``, at most
        once per ``cooldown``, running ``actions`` (see ``alerts``)."""
        if not isinstance(name, str) or not name.strip() or len(name) > 256:
            raise InvalidArgumentError("name: a rule needs a name of 1 to 256 characters",
                                       details={"field": "name"})
        ref = parse_metric(metric)
        if op not in OPS:
            raise InvalidArgumentError(f"op: {op!r} is not one of {', '.join(OPS)}",
                                       details={"field": "op"})
        try:
            value = float(threshold)
        except (TypeError, ValueError):
            value = float("nan")
        if value != value or value in (float("inf"), float("-inf")):
            raise InvalidArgumentError("threshold: expected a finite number",
                                       details={"field": "threshold"})
        w = Window.parse(window)
        if ref.family == "column":
            self._check_column(model, version, ref.column or "")
        now = utcnow()
        rule = Rule(id=new_id(), model=model, name=name.strip(), metric=ref.name, op=op,
                    threshold=value, window=w.spec, version=version,
                    cooldown_s=parse_duration(cooldown, field="cooldown"),
                    actions=self.actions.validate(actions), enabled=enabled, last_fired_at=None,
                    created_at=now, updated_at=now)
        try:
            return self.rules_store.create(rule)
        except AlreadyExistsError:
            raise AlreadyExistsError(f"model {model!r} already has a rule named {name!r}",
                                     details={"model": model, "rule": name}) from None

    def _check_column(self, model: str, version: int | None, column: str) -> None:
        ref = self._resolve_reference(model, version)
        if ref is not None and column not in ref.layout.by_key:
            raise InvalidArgumentError(
                f"metric: the reference of {model!r} has no column {column!r}; it has "
                f"{', '.join(ref.layout.by_key)}", details={"field": "metric"})

    def list_rules(self, model: str | None = None) -> list[Rule]:
        return self.rules_store.list_rules(model)

    def get_rule(self, model: str, name: str) -> Rule:
        return self.rules_store.get(model, name)

    def delete_rule(self, model: str, name: str) -> None:
        self.rules_store.delete(model, name)

    def alerts(self, model: str | None = None, *, limit: int = 100,
               rule: str | None = None) -> list[Alert]:
        return self.rules_store.alerts(model, limit=limit, rule=rule)

    def metric_value(self, model: str, metric: str, window: str = "1h",
                     version: int | None = None) -> float | None:
        """The current value of a rule metric (None: no data in the window)."""
        return metric_value(self, model, metric, window, version)

    def evaluate_rules(self, model: str | None = None, *, wait_for_actions: bool = False,
                       timeout: float = 60.0) -> list[Alert]:
        """Evaluate every enabled rule (of ``model``), fire those whose condition holds
        and whose cooldown has passed, and start their actions on worker threads.
        Returns the alerts fired (after their actions when ``wait_for_actions``)."""
        return self._evaluator.evaluate(model, wait_for_actions=wait_for_actions,
                                        timeout=timeout)

    def start_evaluator(self, interval_s: float = 60.0) -> threading.Event:
        """Evaluate rules every ``interval_s`` on a daemon thread; set the returned event
        to stop it."""
        return self._evaluator.start(interval_s)

def _scalar(value: Any) -> bool:
    return value is not None and not isinstance(value, list | dict)


