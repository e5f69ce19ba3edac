"""``FeatureStore``: the feature store's one entry point (Python API, REST routes and CLI).

It wires the registry (metadata database), the offline store (DuckDB over sources and the
push log), the online store (``MODELPLANE_ONLINE_STORE_URL``) and the artifact store (which
keeps DataFrame sources), and caches resolved definitions for fast online reads: a process
sees another process's ``apply`` within ``refresh_seconds``, its own at once.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelplane.core.config import Settings, get_settings
from modelplane.core.errors import InvalidArgumentError, NotFoundError
from modelplane.core.timeutil import as_utc, utcnow
from modelplane.features.definitions import (
    DataFrameSource,
    FeatureService,
    FeatureView,
    OnDemandFeatureView,
)
from modelplane.features.lookup import CompiledPlan, OnlineFeatures, compile_plan
from modelplane.features.resolve import FeaturePlan, plan_features

if TYPE_CHECKING:
    from modelplane.artifacts.store import ArtifactStore
    from modelplane.features.historical import HistoricalFeatures
    from modelplane.features.materialize import ConsistencyReport, MaterializeResult
    from modelplane.features.offline import OfflineStore
    from modelplane.features.online import OnlineStore
    from modelplane.features.registry import FeatureRegistry, Plan
    from modelplane.store.db import Database

__all__ = ["FeatureStore"]


class FeatureStore:
    """Feature definitions, training sets, online reads, materialization and pushes.

    ``FeatureStore()`` uses the configured settings; pass ``database``, ``artifacts`` or
    ``online_store`` to inject backends. ``memory_limit`` bounds DuckDB (e.g. ``"2GB"``;
    it spills to ``MODELPLANE_HOME/features`` beyond it).
    """

    def __init__(self, settings: Settings | None = None, *, database: Database | None = None,
                 artifacts: ArtifactStore | None = None, online_store: OnlineStore | None = None,
                 memory_limit: str | None = None, threads: int | None = None,
                 refresh_seconds: float = 10.0) -> None:
        self.settings = settings or get_settings()
        self._database, self._artifacts, self._online = database, artifacts, online_store
        self.memory_limit, self.threads = memory_limit, threads
        self.refresh_seconds = refresh_seconds
        self._views: dict[tuple[str, int | None], tuple[float, Any]] = {}
        self._plans: dict[tuple[Any, ...], CompiledPlan] = {}
        self._lock = threading.Lock()

    # -- wiring ---------------------------------------------------------------------------
    @cached_property
    def database(self) -> Database:
        from modelplane.store.db import get_database

        return self._database or get_database(self.settings.database_url, self.settings)

    @cached_property
    def artifacts(self) -> ArtifactStore:
        from modelplane.artifacts.store import get_artifact_store

        return self._artifacts or get_artifact_store(self.settings.artifact_root)

    @cached_property
    def registry(self) -> FeatureRegistry:
        from modelplane.features.registry import FeatureRegistry

        return FeatureRegistry(self.database)

    @cached_property
    def online(self) -> OnlineStore:
        from modelplane.features.online import open_online_store

        return self._online or open_online_store(self.settings.online_store_url, self.settings)

    @cached_property
    def offline(self) -> OfflineStore:
        from modelplane.features.offline import OfflineStore

        root = self.settings.artifact_root.rstrip("/")
        return OfflineStore(artifacts=self.artifacts, log_root=f"{root}-feature-log",
                            work_dir=self.settings.home / "features",
                            memory_limit=self.memory_limit, threads=self.threads)

    def close(self) -> None:
        """Release the online store (when this instance opened it) and DuckDB."""
        if "online" in self.__dict__ and self._online is None:
            self.online.close()
        if "offline" in self.__dict__:
            self.offline.close()

    # -- definitions ----------------------------------------------------------------------
    def _objects(self, objects: Iterable[Any] | str | os.PathLike[str]) -> list[Any]:
        if isinstance(objects, str | os.PathLike):
            from modelplane.features.repo import load_repo

            return load_repo(objects)
        return list(objects)

    def _validated(self, objects: Iterable[Any] | str | os.PathLike[str]) -> list[Any]:
        items = self._objects(objects)
        for obj in items:
            if isinstance(obj, FeatureView):
                self.offline.validate(obj)
        return items

    @staticmethod
    def _project(objects: Iterable[Any] | str | os.PathLike[str], project: str | None
                 ) -> str | None:
        """The project given, else a repo path's folder name (None for objects)."""
        if project is not None or not isinstance(objects, str | os.PathLike):
            return project
        path = Path(objects).resolve()
        return (path if path.is_dir() else path.parent).name

    def plan(self, objects: Iterable[Any] | str | os.PathLike[str], *, prune: bool = False,
             project: str | None = None) -> Plan:
        """What ``apply`` would change (objects, or the path of a feature repo); a source
        without a declared column is an error naming it."""
        return self.registry.plan(self._validated(objects), prune=prune,
                                  project=self._project(objects, project))

    def apply(self, objects: Iterable[Any] | str | os.PathLike[str], *, prune: bool = False,
              project: str | None = None) -> Plan:
        """Store definitions (objects, or the path of a feature repo) in one transaction;
        DataFrame sources are kept in the artifact store first.

        Definitions belong to ``project`` (for a repo path, its folder name by default).
        With ``prune``, the objects are the whole project: its registered definitions that
        they no longer declare are marked removed (their versions stay readable by number;
        see :mod:`~modelplane.features.registry`)."""
        items = self._validated(objects)
        for obj in items:
            if isinstance(obj, FeatureView) and isinstance(obj.source, DataFrameSource) \
                    and obj.source.data is not None:
                digest = self.artifacts.put_bytes(obj.source.parquet_bytes())
                if digest != obj.source.digest:
                    raise AssertionError("DataFrame source digest changed while storing it")
        plan = self.registry.apply(items, prune=prune, project=self._project(objects, project))
        with self._lock:
            self._views.clear()
            self._plans.clear()
        return plan

    def get_feature_view(self, name: str, version: int | None = None
                         ) -> FeatureView | OnDemandFeatureView:
        key = (name, version)
        cached = self._views.get(key)
        if cached is not None and time.monotonic() - cached[0] < self.refresh_seconds:
            return cached[1]  # type: ignore[no-any-return]
        view = self.registry.get_view(name, version)
        self._views[key] = (time.monotonic(), view)
        return view

    def get_feature_service(self, name: str, version: int | None = None) -> FeatureService:
        return self.registry.get_service(name, version)

    def list_feature_views(self) -> list[FeatureView | OnDemandFeatureView]:
        return self.registry.list_views()

    def list_feature_services(self) -> list[FeatureService]:
        return self.registry.list_services()

    def list_entities(self) -> list[Any]:
        return self.registry.list_entities()

    def _batch_view(self, view: str | FeatureView) -> FeatureView:
        if isinstance(view, FeatureView) and view.version is not None:
            return view
        name = view.name if isinstance(view, FeatureView) else view
        found = self.registry.get_view(name)
        if not isinstance(found, FeatureView):
            raise InvalidArgumentError(f"{name!r} is an on-demand view; it has no stored rows",
                                       details={"field": "view"})
        return found

    # -- resolution -----------------------------------------------------------------------
    def _plan(self, features: Sequence[str] | FeatureService | None, service: str | None,
              full_names: bool) -> FeaturePlan:
        if service is not None:
            features = self.get_feature_service(service)
        if features is None:
            raise InvalidArgumentError("give features or a feature service",
                                       details={"field": "features"})
        return plan_features(features, self.get_feature_view, full_names=full_names)

    def _compiled(self, features: Sequence[str] | FeatureService | None, service: str | None,
                  full_names: bool) -> CompiledPlan:
        refs = (tuple(features) if isinstance(features, list | tuple) else
                ("service", features.name, features.features)
                if isinstance(features, FeatureService) else (features,))
        key = (refs, service, full_names)
        compiled = self._plans.get(key)
        if compiled is None or time.monotonic() - compiled.built >= self.refresh_seconds:
            compiled = compile_plan(self._plan(features, service, full_names))
            self._plans[key] = compiled
        return compiled

    # -- training and serving -------------------------------------------------------------
    def get_historical_features(self, entity_df: Any,
                                features: Sequence[str] | FeatureService | None = None, *,
                                service: str | None = None, full_feature_names: bool = False,
                                timestamp_column: str | None = None) -> HistoricalFeatures:
        """A point-in-time correct training set: for each row of ``entity_df`` (join keys and
        a timestamp column, ``event_timestamp`` by default), each feature's latest value with
        event time <= the row's time and >= time - TTL (ties: greatest created time), else
        null. Rows keep their number and order."""
        from modelplane.features.historical import get_historical_features

        plan = self._plan(features, service, full_feature_names)
        return get_historical_features(self.offline, entity_df, plan,
                                       timestamp_column=timestamp_column)

    def get_online_features(self, features: Sequence[str] | FeatureService | None = None,
                            entity_rows: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]]
                            = (), *, service: str | None = None,
                            full_feature_names: bool = False) -> OnlineFeatures:
        """Latest values for ``entity_rows`` (a list of dicts or a dict of lists), with a
        status per value (present, missing, expired) and its event time."""
        from modelplane.features.lookup import entity_columns, read_online

        compiled = self._compiled(features, service, full_feature_names)
        columns, n = entity_columns(entity_rows)
        return read_online(self.online, compiled, columns, n)

    # -- materialization ------------------------------------------------------------------
    def _views_to_materialize(self, views: Sequence[str] | None) -> list[FeatureView]:
        if views:
            return [self._batch_view(v) for v in views]
        return [v for v in self.registry.list_views() if isinstance(v, FeatureView) and v.online]

    def materialize(self, start: datetime, end: datetime, views: Sequence[str] | None = None,
                    *, batch_size: int = 10_000, progress: bool | None = None
                    ) -> list[MaterializeResult]:
        """Write each view's latest row per entity with event time in [start, end] online."""
        start, end = as_utc(start), as_utc(end)
        if start > end:
            raise InvalidArgumentError("start must not be after end", details={"field": "start"})
        return self._materialize([(v, start) for v in self._views_to_materialize(views)], end,
                                 batch_size, progress)

    def materialize_incremental(self, end: datetime | None = None,
                                views: Sequence[str] | None = None, *, batch_size: int = 10_000,
                                progress: bool | None = None) -> list[MaterializeResult]:
        """Like :meth:`materialize` from each view's watermark (its last end; the first time,
        ``end - ttl``, or the beginning without a TTL) to ``end`` (default now)."""
        end = as_utc(end) if end else utcnow()
        work = []
        for view in self._views_to_materialize(views):
            start = self.registry.watermark(view.name, view.version or 0)
            if start is None:
                start = end - timedelta(seconds=view.ttl_seconds) if view.ttl_seconds else None
            work.append((view, start))
        return self._materialize(work, end, batch_size, progress)

    def _materialize(self, work: list[tuple[FeatureView, datetime | None]], end: datetime,
                     batch_size: int, progress: bool | None) -> list[MaterializeResult]:
        from modelplane.features.materialize import materialize_view, progress_bar

        if batch_size < 1:
            raise InvalidArgumentError("batch_size must be positive",
                                       details={"field": "batch_size"})
        show = sys.stderr.isatty() if progress is None else progress
        with progress_bar(show) as advance:
            return [materialize_view(self.offline, self.online, self.registry, view, start, end,
                                     batch_size=batch_size, progress=advance)
                    for view, start in work]

    def push(self, view: str | FeatureView, data: Any) -> int:
        """Write fresh rows (a DataFrame or Arrow table with the view's join keys, timestamp
        and features) online and to the view's offline log; returns the rows pushed."""
        from modelplane.features.materialize import push

        return push(self.offline, self.online, self.registry, self._batch_view(view), data)

    def push_json(self, view: str, columns: Mapping[str, Sequence[Any]]) -> int:
        """:meth:`push` for rows sent as JSON columns (the REST API): a ``bytes`` feature's
        values as base64 text, times as ISO-8601 text, lists as arrays."""
        from modelplane.features.materialize import json_columns

        found = self._batch_view(view)
        return self.push(found, json_columns(found, columns))

    def validate_consistency(self, view: str | FeatureView, sample: int = 1000
                             ) -> ConsistencyReport:
        """Compare the online rows of up to ``sample`` random entities with their offline
        latest rows (see :class:`~modelplane.features.materialize.ConsistencyReport`)."""
        from modelplane.features.materialize import check_consistency

        return check_consistency(self.offline, self.online, self._batch_view(view),
                                 sample=sample)

    def statistics(self, view: str | FeatureView) -> dict[str, Any] | None:
        """The profile of the values last materialized for the view (the datasets' format)."""
        found = self._batch_view(view)
        for run in self.registry.materializations(found.name, found.version or 0):
            if run["profile"] is not None:
                return run["profile"]  # type: ignore[no-any-return]
        return None

    def describe_view(self, name: str, version: int | None = None) -> dict[str, Any]:
        """A view's definition, versions, watermark, recent materializations (the API's and
        the CLI's ``show``)."""
        view = self.registry.get_view(name, version)
        out: dict[str, Any] = {"kind": view.kind, "name": view.name, "version": view.version,
                               "schema_hash": view.schema_hash, "spec": view.spec(),
                               "versions": self.registry.versions(name)}
        out["spec"].pop("transform", None)
        if isinstance(view, FeatureView):
            out["watermark"] = self.registry.watermark(view.name, view.version or 0)
            out["materializations"] = self.registry.materializations(view.name,
                                                                     view.version or 0)
        return out

    def describe(self, name: str) -> dict[str, Any]:
        """A view, service or entity by name (views first)."""
        for getter in (self.describe_view,
                       lambda n: {"kind": "feature_service", **self._service_info(n)},
                       lambda n: {"kind": "entity", **self.registry.get_entity(n).spec()}):
            try:
                return getter(name)  # type: ignore[no-untyped-call, no-any-return]
            except NotFoundError:
                continue
        from modelplane.features.resolve import unknown_name

        names = [v.name for v in self.registry.list_views()]
        names += [s.name for s in self.registry.list_services()]
        names += [e.name for e in self.registry.list_entities()]
        raise unknown_name("feature view, service or entity", name, names)

    def _service_info(self, name: str) -> dict[str, Any]:
        service = self.registry.get_service(name)
        return {**service.spec(), "version": service.version,
                "versions": self.registry.versions(name, service=True)}
