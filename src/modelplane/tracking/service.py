"""``TrackingService``: experiments, runs, params, metrics, tags, artifacts and datasets.

Validates every input (naming the field and what was expected) before the store sees
it, so a bad call never leaves a partial record.
"""

from __future__ import annotations

import getpass
import os
import re
import socket
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from modelplane.artifacts.store import ArtifactStore, validate_relative_path
from modelplane.core.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    InvalidStateError,
    NotFoundError,
)
from modelplane.core.filters import ATTRIBUTES, Comparison, Field, parse_filter, parse_order_by
from modelplane.core.ids import new_id
from modelplane.core.procs import pid_alive
from modelplane.core.refs import LOOKUP_LIMIT, did_you_mean, is_fragment, is_full_id, pick_one
from modelplane.core.timeutil import as_utc, from_epoch_ms, to_epoch_ms, utcnow
from modelplane.tracking.code import code_version
from modelplane.tracking.entities import (
    RUN_STATUSES,
    TERMINAL_STATUSES,
    DatasetRecord,
    Experiment,
    Metric,
    Run,
    RunArtifact,
)
from modelplane.tracking.history import MetricSeries
from modelplane.tracking.paging import decode_token, encode_token
from modelplane.tracking.search import RUN_FILTER_SCHEMA
from modelplane.tracking.sql import SqlTrackingStore

__all__ = ["RunOrigin", "RunPage", "TrackingService", "check_key", "metric_value"]

DEFAULT_EXPERIMENT = "Default"
MAX_RESULTS = 50_000
MAX_SERIES_POINTS = 50_000
_KEY = re.compile(r"^[A-Za-z0-9_\-./: ]{1,256}$")
_NAME = re.compile(r"^[^\x00-\x1f]{1,256}$")


def check_key(kind: str, key: Any) -> str:
    """A metric/param/tag key: 1-256 of letters, digits, ``_ - . / :`` and spaces."""
    if not isinstance(key, str) or not _KEY.match(key) or key != key.strip():
        raise InvalidArgumentError(
            f"invalid {kind} key {key!r}: expected 1-256 letters, digits, '_', '-', '.', '/', "
            "':' or inner spaces", details={"field": kind, "got": repr(key)[:100]})
    return key


def metric_value(key: str, value: Any) -> float:
    """``value`` as a float (NaN and infinities included, as training produces them);
    booleans, strings and other objects are refused."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            import numpy as np

            if not (isinstance(value, np.generic) and np.issubdtype(type(value), np.number)):
                raise TypeError
        except (ImportError, TypeError):
            raise InvalidArgumentError(
                f"metric {key!r}: expected a number, got {type(value).__name__} {value!r:.50}",
                details={"field": f"metrics.{key}", "expected": "number"}) from None
    return float(value)


def _check_name(kind: str, name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or name != name.strip():
        raise InvalidArgumentError(
            f"invalid {kind} name {name!r}: expected 1-256 printable characters without "
            "leading or trailing spaces", details={"field": "name"})
    return name


def _str_map(kind: str, values: Mapping[str, Any] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (values or {}).items():
        text = value if isinstance(value, str) else str(value)
        if len(text) > 65_536:
            raise InvalidArgumentError(f"{kind} {key!r}: value longer than 65536 characters",
                                       details={"field": f"{kind}s.{key}"})
        out[check_key(kind, key)] = text
    return out


@dataclass(frozen=True, slots=True)
class RunPage:
    runs: list[Run]
    next_page_token: str | None


@dataclass(frozen=True, slots=True)
class RunOrigin:
    """Where a run executes when that is not this process (a client over HTTP): what
    ``fail_stale_runs`` and the code version of the run refer to."""

    user: str = ""
    host: str = ""
    pid: int | None = None
    code_commit: str | None = None
    code_dirty: bool | None = None


class TrackingService:
    def __init__(self, store: SqlTrackingStore, artifacts: ArtifactStore) -> None:
        self.store = store
        self.artifacts = artifacts

    # -- experiments -------------------------------------------------------------------
    def create_experiment(self, name: str, description: str = "",
                          tags: Mapping[str, Any] | None = None) -> Experiment:
        _check_name("experiment", name)
        try:
            return self.store.create_experiment(name, description, _str_map("tag", tags))
        except AlreadyExistsError:
            existing = self.store.get_experiment(name)
            hint = " (it is deleted: restore it or pick another name)" \
                if existing.lifecycle == "deleted" else ""
            raise AlreadyExistsError(f"experiment {name!r} already exists{hint}",
                                     details={"name": name}) from None

    def get_experiment(self, id_or_name: str) -> Experiment:
        """An experiment by id or name; not found names the close names there are."""
        try:
            return self.store.get_experiment(id_or_name)
        except NotFoundError as exc:
            names = [e.name for e in self.store.list_experiments(include_deleted=True)]
            hint = did_you_mean(str(id_or_name), names)
            if not hint:
                raise
            raise NotFoundError(exc.message + hint, details=exc.details) from None

    def get_or_create_experiment(self, name: str) -> Experiment:
        try:
            experiment = self.store.get_experiment(name)
        except NotFoundError:
            try:
                return self.create_experiment(name)
            except AlreadyExistsError:  # created concurrently
                experiment = self.store.get_experiment(name)
        if experiment.lifecycle == "deleted":
            raise InvalidStateError(f"experiment {name!r} is deleted; restore it first",
                                    details={"experiment": name})
        return experiment

    def list_experiments(self, *, include_deleted: bool = False) -> list[Experiment]:
        return self.store.list_experiments(include_deleted=include_deleted)

    def update_experiment(self, id_or_name: str, *, name: str | None = None,
                          description: str | None = None,
                          tags: Mapping[str, Any] | None = None) -> Experiment:
        changes: dict[str, Any] = {}
        if name is not None:
            changes["name"] = _check_name("experiment", name)
        if description is not None:
            changes["description"] = description
        if tags is not None:
            changes["tags"] = _str_map("tag", tags)
        return self.store.update_experiment(id_or_name, **changes)

    def delete_experiment(self, id_or_name: str) -> Experiment:
        """Soft delete: hidden from lists and searches, restorable."""
        return self.store.update_experiment(id_or_name, lifecycle="deleted")

    def restore_experiment(self, id_or_name: str) -> Experiment:
        return self.store.update_experiment(id_or_name, lifecycle="active")

    # -- runs --------------------------------------------------------------------------
    def start_run(self, experiment: str = DEFAULT_EXPERIMENT, *, name: str | None = None,
                  params: Mapping[str, Any] | None = None, tags: Mapping[str, Any] | None = None,
                  parent_run_id: str | None = None, source: str | None = None,
                  record_code_version: bool = True, origin: RunOrigin | None = None,
                  start_time: datetime | None = None) -> Run:
        """``origin`` (default: this process, user, host and code version) says where the
        run executes; a server starting a run for a remote client passes the client's
        (and ``start_time`` when the client gave one)."""
        exp = self.get_or_create_experiment(experiment)
        if parent_run_id is not None:
            self.store.get_run(parent_run_id)
        run_id = new_id()
        if origin is None:
            commit, dirty = code_version() if record_code_version else (None, None)
            origin = RunOrigin(_user(), socket.gethostname(), os.getpid(), commit, dirty)
            source = _source() if source is None else source
        run = Run(id=run_id, experiment_id=exp.id, name=_check_name("run", name or run_id[-8:]),
                  status="running", lifecycle="active",
                  start_time=utcnow() if start_time is None else as_utc(start_time), end_time=None,
                  parent_run_id=parent_run_id, user=origin.user, host=origin.host,
                  pid=origin.pid, source=source or "", code_commit=origin.code_commit,
                  code_dirty=origin.code_dirty, params=_str_map("param", params),
                  tags=_str_map("tag", tags))
        return self.store.create_run(run)

    def get_run(self, run_id: str) -> Run:
        return self.store.get_run(run_id)

    def get_runs(self, run_ids: list[str]) -> list[Run]:
        """Several runs in one search (a comparison), in the order given."""
        ids = list(dict.fromkeys(run_ids))
        where = Comparison(Field(ATTRIBUTES, "id"), "in", tuple(ids))
        found = {r.id: r for r in self.store.search_runs(None, where, [], len(ids), 0,
                                                         include_deleted=True)}
        for run_id in ids:
            if run_id not in found:
                raise NotFoundError(f"run {run_id!r} not found", details={"run_id": run_id})
        return [found[run_id] for run_id in ids]

    def resolve_run_id(self, ref: str) -> str:
        """The full id of the run ``ref`` names: its id, a unique start of it, the short id
        the CLI and UI print (its last characters), or a unique run name (deleted runs
        included). Ambiguous: an error naming the runs it matches."""
        ref = str(ref).strip()
        if is_full_id(ref):
            return ref
        found: list[Run] = []
        if is_fragment(ref):
            found = self._runs_where(f"id like '{ref}%' or id like '%{ref}'")
        if not found and ref:
            found = self._runs_where("name = '" + ref.replace("'", "''") + "'")
        run = pick_one("run", ref, found, lambda r: f"{r.id} {r.name!r}",
                       "id, the start or end of an id, or a run name")
        return run.id

    def _runs_where(self, filter: str) -> list[Run]:
        return self.search_runs(filter, max_results=LOOKUP_LIMIT, include_deleted=True).runs

    def end_run(self, run_id: str, status: str = "finished",
                end_time: datetime | None = None) -> Run:
        if status not in TERMINAL_STATUSES:
            raise InvalidArgumentError(
                f"invalid run status {status!r}: expected one of {', '.join(TERMINAL_STATUSES)}",
                details={"field": "status", "expected": list(TERMINAL_STATUSES)})
        end = utcnow() if end_time is None else as_utc(end_time)
        return self.store.update_run(run_id, status=status, end_time=end)

    def import_run(self, run: Run) -> Run:
        """Record a run made elsewhere (an MLflow import) as it is: its id, times, status,
        params and tags, checked as ``start_run`` checks them."""
        if not re.fullmatch(r"[0-9a-f]{32}", run.id):
            raise InvalidArgumentError(f"run id {run.id!r}: expected 32 lowercase hex "
                                       "characters", details={"field": "run_id"})
        if run.status not in RUN_STATUSES:
            raise InvalidArgumentError(f"invalid run status {run.status!r}",
                                       details={"field": "status"})
        self.get_experiment(run.experiment_id)
        _check_name("run", run.name)
        checked = Run(**{**run.to_dict(), "params": _str_map("param", run.params),
                         "tags": _str_map("tag", run.tags), "metrics": {}})
        return self.store.create_run(checked)

    def set_status(self, run_id: str, status: str) -> Run:
        if status not in RUN_STATUSES:
            raise InvalidArgumentError(
                f"invalid run status {status!r}: expected one of {', '.join(RUN_STATUSES)}",
                details={"field": "status", "expected": list(RUN_STATUSES)})
        end = None if status == "running" else utcnow()
        return self.store.update_run(run_id, status=status, end_time=end)

    def delete_run(self, run_id: str) -> Run:
        return self.store.update_run(run_id, lifecycle="deleted")

    def restore_run(self, run_id: str) -> Run:
        return self.store.update_run(run_id, lifecycle="active")

    def rename_run(self, run_id: str, name: str) -> Run:
        return self.store.update_run(run_id, name=_check_name("run", name))

    def heartbeat(self, run_ids: list[str]) -> None:
        """Say these runs' processes are alive (see ``tracking.heartbeat``)."""
        self.store.heartbeat(run_ids)

    def fail_stale_runs(self, stale_seconds: float | None = None) -> list[Run]:
        """Mark failed the running runs whose heartbeat stopped ``stale_seconds`` ago
        (default: the ``run_stale_seconds`` setting), and those whose process on this
        host is gone."""
        from modelplane.core.config import get_settings

        seconds = get_settings().run_stale_seconds if stale_seconds is None else stale_seconds
        failed = [self.store.get_run(i) for i in self.store.fail_stale_heartbeats(seconds)]
        host = socket.gethostname()
        for run in self.store.running_runs():
            if run.host == host and run.pid is not None and not pid_alive(run.pid):
                failed.append(self.store.update_run(run.id, status="failed", end_time=utcnow()))
        return failed

    # -- logging -----------------------------------------------------------------------
    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        self.store.log_batch(run_id, (), _str_map("param", params), {})

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        self.store.log_batch(run_id, (), {}, _str_map("tag", tags))

    def delete_tag(self, run_id: str, key: str) -> None:
        self.store.delete_run_tag(run_id, check_key("tag", key))

    def log_metrics(self, run_id: str, metrics: Mapping[str, Any], step: int = 0,
                    timestamp: datetime | None = None) -> None:
        rows = _rows(run_id, [(k, v, step, timestamp) for k, v in metrics.items()], utcnow())
        self.store.log_batch(run_id, rows, {}, {})

    def log_batch(self, run_id: str, metrics: Iterable[Metric | tuple[Any, ...]] = (),
                  params: Mapping[str, Any] | None = None,
                  tags: Mapping[str, Any] | None = None) -> None:
        """Metrics as :class:`Metric` or ``(key, value[, step[, timestamp]])`` tuples."""
        rows = _rows(run_id, metrics, utcnow())
        self.store.log_batch(run_id, rows, _str_map("param", params), _str_map("tag", tags))

    def metric_history(self, run_id: str, key: str) -> list[Metric]:
        return self.store.metric_history(run_id, key)

    def latest_metrics(self, run_ids: Iterable[str]) -> dict[str, list[Metric]]:
        """Each run's latest point per metric key, with its step and timestamp (a run
        with no metrics, or not found, maps to an empty list)."""
        return self.store.latest_metrics(list(dict.fromkeys(run_ids)))

    def metric_series(self, run_id: str, key: str, max_points: int = 1000) -> MetricSeries:
        """A chart's worth of ``key``'s history: the points when there are at most
        ``max_points``, otherwise min and max per bucket of steps (bounded whatever the
        history's length)."""
        if not 2 <= max_points <= MAX_SERIES_POINTS:
            raise InvalidArgumentError(
                f"max_points must be between 2 and {MAX_SERIES_POINTS}",
                details={"field": "max_points"})
        return self.store.metric_series(run_id, check_key("metric", key), max_points)

    def metric_series_many(self, run_ids: list[str], key: str,
                           max_points: int = 1000) -> dict[str, MetricSeries]:
        """:meth:`metric_series` of several runs at once (those having ``key``)."""
        if not 2 <= max_points <= MAX_SERIES_POINTS:
            raise InvalidArgumentError(
                f"max_points must be between 2 and {MAX_SERIES_POINTS}",
                details={"field": "max_points"})
        return self.store.metric_series_many(list(run_ids), check_key("metric", key),
                                             max_points)

    def metric_page(self, run_id: str, key: str, from_step: int = 0,
                    limit: int = 10_000) -> list[Metric]:
        """The full history in pages by step (an export reads them all): up to ``limit``
        points from ``from_step``."""
        if not 1 <= limit <= MAX_RESULTS:
            raise InvalidArgumentError(f"limit must be between 1 and {MAX_RESULTS}",
                                       details={"field": "limit"})
        return [Metric(key, v, s, from_epoch_ms(ts)) for s, v, ts in
                self.store.metric_page(run_id, check_key("metric", key), from_step, limit)]

    # -- search ------------------------------------------------------------------------
    def search_runs(self, filter: str = "", *, experiments: Iterable[str] | None = None,
                    order_by: str = "", max_results: int = 1000, page_token: str | None = None,
                    include_deleted: bool = False) -> RunPage:
        if not 1 <= max_results <= MAX_RESULTS:
            raise InvalidArgumentError(f"max_results must be between 1 and {MAX_RESULTS}",
                                       details={"field": "max_results"})
        where = parse_filter(filter, RUN_FILTER_SCHEMA)
        order = parse_order_by(order_by, RUN_FILTER_SCHEMA)
        ids = None if experiments is None else [self.get_experiment(e).id for e in experiments]
        found, nxt = self.store.search_page(ids, where, order, max_results,
                                            decode_token(page_token), include_deleted)
        return RunPage(found, None if nxt is None else encode_token(nxt))

    # -- artifacts and datasets --------------------------------------------------------
    def log_artifact(self, run_id: str, local_path: str | os.PathLike[str],
                     artifact_path: str | None = None) -> RunArtifact:
        """Store a file or a folder under ``artifact_path`` (default: its name)."""
        path = Path(local_path)
        if not path.exists():
            raise NotFoundError(f"{str(path)!r} does not exist", details={"field": "local_path"})
        name = validate_relative_path(artifact_path or path.name, field="artifact_path")
        self.store.get_run(run_id)
        if path.is_dir():
            digest = self.artifacts.put_dir(path)
            size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        else:
            digest, size = self.artifacts.put_file(path), path.stat().st_size
        artifact = RunArtifact(name, digest, path.is_dir(), size, utcnow())
        self.store.add_artifact(run_id, artifact)
        return artifact

    def record_artifact(self, run_id: str, artifact: RunArtifact) -> None:
        validate_relative_path(artifact.path, field="artifact_path")
        self.store.add_artifact(run_id, artifact)

    def list_artifacts(self, run_id: str) -> list[RunArtifact]:
        return self.store.list_artifacts(run_id)

    def download_artifact(self, run_id: str, artifact_path: str,
                          dest: str | os.PathLike[str]) -> Path:
        for artifact in self.store.list_artifacts(run_id):
            if artifact.path == artifact_path:
                if artifact.is_dir:
                    return self.artifacts.get_dir(artifact.digest, dest)
                return self.artifacts.get_file(artifact.digest, dest)
        raise NotFoundError(f"run {run_id} has no artifact {artifact_path!r}",
                            details={"artifact_path": artifact_path})

    def log_dataset(self, run_id: str, data: Any, *, name: str | None = None,
                    role: str = "train") -> DatasetRecord:
        """Version ``data`` (DataFrame, Arrow table, array or file path) and link it."""
        from modelplane.tracking.datasets import describe

        check_key("dataset role", role)
        self.store.get_run(run_id)
        info = describe(data, name=name)
        record = DatasetRecord(digest=info.digest, name=_check_name("dataset", info.name),
                               source=info.source, num_rows=info.num_rows,
                               num_columns=info.num_columns, schema=info.schema,
                               profile=info.profile or {}, created_at=utcnow())
        return self.store.link_dataset(run_id, record, role)

    def link_dataset_record(self, run_id: str, record: DatasetRecord,
                            role: str = "train") -> DatasetRecord:
        """Link a dataset described elsewhere (an MLflow client's ``log_input``)."""
        check_key("dataset role", role)
        _check_name("dataset", record.name)
        self.store.get_run(run_id)
        return self.store.link_dataset(run_id, record, role)

    def referenced_digests(self, digests: set[str]) -> set[str]:
        """The subset of ``digests`` that some run artifact (or a file in one) uses."""
        found: set[str] = set()
        for digest, is_dir in self.store.artifact_digests():
            if digest in digests:
                found.add(digest)
            if is_dir:
                found |= {e["digest"] for e in self.artifacts.read_tree(digest)} & digests
        return found

    def run_datasets(self, run_id: str) -> list[DatasetRecord]:
        return self.store.run_datasets(run_id)

    def get_dataset(self, digest: str) -> DatasetRecord:
        return self.store.get_dataset(digest)


def _step(step: Any) -> int:
    if isinstance(step, bool) or not isinstance(step, int):
        raise InvalidArgumentError(f"step must be an integer, got {step!r}",
                                   details={"field": "step"})
    return step


def _rows(run_id: str, items: Iterable[Metric | tuple[Any, ...]], now: datetime
          ) -> list[tuple[str, str, float, int, int]]:
    """Validated ``(run_id, key, value, step, epoch_ms)`` rows: the bulk path, so keys are
    checked once each and the common case (float value, int step, no time) stays cheap."""
    now_ms = to_epoch_ms(now)
    checked: set[str] = set()
    rows = []
    for item in items:
        if isinstance(item, tuple) and 2 <= len(item) <= 4:
            key, value = item[0], item[1]
            step = item[2] if len(item) > 2 else 0
            ts = item[3] if len(item) > 3 else None
        elif isinstance(item, Metric):
            key, value, step, ts = item.key, item.value, item.step, item.timestamp
        else:
            raise InvalidArgumentError(
                "a metric must be a Metric or (key, value[, step[, time]])",
                details={"field": "metrics", "got": repr(item)[:100]})
        if key not in checked:
            checked.add(check_key("metric", key))
        if type(value) is not float:
            value = metric_value(key, value)
        if type(step) is not int:
            step = _step(step)
        rows.append((run_id, key, value, step, now_ms if ts is None else to_epoch_ms(as_utc(ts))))
    return rows


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def _source() -> str:
    main = sys.modules.get("__main__")
    return str(getattr(main, "__file__", "") or "")

