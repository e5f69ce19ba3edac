"""``SqlTrackingStore``: tracking on the metadata database (SQLite or PostgreSQL).

SQLAlchemy Core throughout: metric batches are one ``executemany`` into the history plus
one upsert into ``latest_metrics`` (kept only if the new point is at a later step, or
the same step and a later time), all in the caller's single transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import RowMapping, and_, bindparam, delete, insert, or_, select, update
from sqlalchemy.orm import Session

from modelplane.core.errors import InvalidStateError, NotFoundError
from modelplane.core.filters import Expr, Field
from modelplane.core.ids import new_id
from modelplane.core.timeutil import as_utc, from_epoch_ms, to_epoch_ms, utcnow
from modelplane.store.db import Database
from modelplane.store.tables import (
    datasets,
    experiments,
    latest_metrics,
    metrics,
    params,
    run_artifacts,
    run_datasets,
    run_tags,
    runs,
)
from modelplane.tracking.entities import DatasetRecord, Experiment, Metric, Run, RunArtifact
from modelplane.tracking.history import MetricSeries, read_many, read_page, read_series
from modelplane.tracking.paging import Cursor, RunSearcher
from modelplane.tracking.runread import RUN_COLUMNS, PreparedRuns, RunReader

__all__ = ["SqlTrackingStore", "from_epoch_ms", "to_epoch_ms"]


_COPY_METRICS = ("COPY metrics (run_id, key, value, step, timestamp) "
                 "FROM STDIN (FORMAT BINARY)")


_NAN = float("nan")


# module level: the fast reader keeps one compiled form per statement object
_EXPERIMENT_BY_KEY = select(experiments).where(
    or_(experiments.c.id == bindparam("key"), experiments.c.name == bindparam("key")))


def _experiment(row: Mapping[str, Any] | RowMapping) -> Experiment:
    return Experiment(id=row["id"], name=row["name"], description=row["description"],
                      tags=dict(row["tags"] or {}), lifecycle=row["lifecycle"],
                      created_at=as_utc(row["created_at"]),
                      updated_at=as_utc(row["updated_at"]))


class SqlTrackingStore:
    """Implements :class:`~modelplane.tracking.store.TrackingStore`."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._reader = RunReader(db)
        self._searcher = RunSearcher(self._reader)
        upsert: Any
        if db.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as upsert
        else:
            from sqlalchemy.dialects.sqlite import insert as upsert
        stmt = upsert(latest_metrics)
        new = stmt.excluded
        self._upsert_latest = stmt.on_conflict_do_update(
            index_elements=[latest_metrics.c.run_id, latest_metrics.c.key],
            set_={"value": new.value, "step": new.step, "timestamp": new.timestamp},
            where=or_(new.step > latest_metrics.c.step,
                      and_(new.step == latest_metrics.c.step,
                           new.timestamp >= latest_metrics.c.timestamp)),
        )
        mark = "?" if db.dialect == "sqlite" else "%s"
        # Bulk metric rows go straight to the driver's executemany: on 100k-row batches
        # SQLAlchemy's per-row parameter processing would cost more than the database.
        self._insert_metrics_sql = (
            "INSERT INTO metrics (run_id, key, value, step, timestamp) "
            f"VALUES ({mark}, {mark}, {mark}, {mark}, {mark})")
        self._upsert_latest_sql = (
            "INSERT INTO latest_metrics (run_id, key, value, step, timestamp) "
            f"VALUES ({mark}, {mark}, {mark}, {mark}, {mark}) "
            "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value, "
            "step = excluded.step, timestamp = excluded.timestamp "
            "WHERE excluded.step > latest_metrics.step OR (excluded.step = "
            "latest_metrics.step AND excluded.timestamp >= latest_metrics.timestamp)")
        self._insert_params = insert(params)
        stmt_tags = upsert(run_tags)
        self._upsert_tags = stmt_tags.on_conflict_do_update(
            index_elements=[run_tags.c.run_id, run_tags.c.key],
            set_={"value": stmt_tags.excluded.value})
        self._insert_dataset = upsert(datasets).on_conflict_do_nothing(
            index_elements=[datasets.c.digest])
        self._link_dataset = upsert(run_datasets).on_conflict_do_nothing(
            index_elements=[run_datasets.c.run_id, run_datasets.c.dataset_digest,
                            run_datasets.c.role])
        stmt_art = upsert(run_artifacts)
        self._upsert_artifact = stmt_art.on_conflict_do_update(
            index_elements=[run_artifacts.c.run_id, run_artifacts.c.path],
            set_={c: stmt_art.excluded[c] for c in ("digest", "is_dir", "size", "created_at")})

    # -- experiments -------------------------------------------------------------------
    def create_experiment(self, name: str, description: str, tags: dict[str, str]) -> Experiment:
        now = utcnow()
        values: dict[str, Any] = {"id": new_id(), "name": name, "description": description,
                                  "tags": tags,
                  "lifecycle": "active", "created_at": now, "updated_at": now}
        with self.db.session_scope() as session:
            session.execute(insert(experiments).values(**values))
        return Experiment(**values)

    def _find_experiment(self, session: Session, id_or_name: str) -> Any:
        row = session.execute(select(experiments).where(
            or_(experiments.c.id == id_or_name, experiments.c.name == id_or_name))).first()
        if row is None:
            raise NotFoundError(f"experiment {id_or_name!r} not found",
                                details={"experiment": id_or_name})
        return row

    def get_experiment(self, id_or_name: str) -> Experiment:
        row = self.db.fast.first(_EXPERIMENT_BY_KEY, {"key": id_or_name})
        if row is None:
            raise NotFoundError(f"experiment {id_or_name!r} not found",
                                details={"experiment": id_or_name})
        return _experiment(row._mapping)

    def list_experiments(self, *, include_deleted: bool = False) -> list[Experiment]:
        query = select(experiments).order_by(experiments.c.created_at)
        if not include_deleted:
            query = query.where(experiments.c.lifecycle == "active")
        with self.db.session_scope(readonly=True) as session:
            return [_experiment(row._mapping) for row in session.execute(query)]

    def update_experiment(self, experiment_id: str, **changes: Any) -> Experiment:
        with self.db.session_scope() as session:
            row = self._find_experiment(session, experiment_id)
            session.execute(update(experiments).where(experiments.c.id == row.id)
                            .values(**changes, updated_at=utcnow()))
            return _experiment(self._find_experiment(session, row.id)._mapping)

    # -- runs --------------------------------------------------------------------------
    def create_run(self, run: Run) -> Run:
        values = {k: getattr(run, k) for k in (
            "id", "experiment_id", "name", "status", "lifecycle", "start_time", "end_time",
            "parent_run_id", "user", "host", "pid", "source", "code_commit", "code_dirty")}
        with self.db.session_scope() as session:
            session.execute(insert(runs).values(**values))
            if run.params or run.tags:
                self._write_batch(session, run.id, (), run.params, run.tags)
        return run

    def get_run(self, run_id: str) -> Run:
        found = self._reader.load(self._run_by_id, {"run_id": run_id})
        if not found:
            raise NotFoundError(f"run {run_id!r} not found", details={"run_id": run_id})
        return found[0]

    @cached_property
    def _run_by_id(self) -> PreparedRuns:
        return self._reader.prepare(
            select(*RUN_COLUMNS).where(runs.c.id == bindparam("run_id")), late=["run_id"])

    def update_run(self, run_id: str, **changes: Any) -> Run:
        with self.db.session_scope() as session:
            result = session.execute(update(runs).where(runs.c.id == run_id).values(**changes))
            if getattr(result, "rowcount", None) == 0:
                raise NotFoundError(f"run {run_id!r} not found", details={"run_id": run_id})
        return self.get_run(run_id)

    # -- logging -----------------------------------------------------------------------
    def log_batch(self, run_id: str, metric_rows: Sequence[tuple[str, str, float, int, int]],
                  params_: dict[str, str], tags: dict[str, str]) -> None:
        try:
            with self.db.session_scope() as session:
                self._write_batch(session, run_id, metric_rows, params_, tags)
        except NotFoundError as exc:  # the foreign key to runs: name the run
            raise NotFoundError(f"run {run_id!r} not found",
                                details={"run_id": run_id}) from exc

    def log_metric_rows(self, rows: list[tuple[str, str, float, int, int]]) -> None:
        """The hot path: validated ``(run_id, key, value, step, epoch_ms)`` rows, written
        with the latest value per (run, key) in one transaction."""
        if len(rows) > 16 and self.db.dialect == "postgresql":
            with self.db.session_scope() as session:
                self._insert_metric_rows(session, rows)
                session.execute(self._upsert_latest, latest_rows(rows))
            return
        latest = [tuple(r.values()) for r in latest_rows(rows)]
        if self.db.fast.path is not None:
            try:
                self.db.fast.write([(self._insert_metrics_sql, rows),
                                    (self._upsert_latest_sql, latest)])
            except NotFoundError:
                raise NotFoundError(f"run {rows[0][0]!r} not found",
                                    details={"run_id": rows[0][0]}) from None
            return
        with self.db.connection_scope() as conn:
            conn.exec_driver_sql(self._insert_metrics_sql, rows)
            conn.exec_driver_sql(self._upsert_latest_sql, latest)

    def _write_batch(self, session: Session, run_id: str,
                     metric_rows: Sequence[tuple[str, str, float, int, int]],
                     params_: dict[str, str], tags: dict[str, str]) -> None:
        if params_:
            existing = {key: value for key, value in session.execute(
                select(params.c.key, params.c.value)
                .where(params.c.run_id == run_id, params.c.key.in_(list(params_))))}
            for key, value in params_.items():
                if key in existing and existing[key] != value:
                    raise InvalidStateError(
                        f"param {key!r} of run {run_id} is already {existing[key]!r}; cannot "
                        f"set it to {value!r} (params are immutable: start a new run)",
                        details={"field": f"params.{key}", "existing": existing[key],
                                 "given": value})
            new = [{"run_id": run_id, "key": k, "value": v}
                   for k, v in params_.items() if k not in existing]
            if new:
                session.execute(self._insert_params, new)
        if tags:
            session.execute(self._upsert_tags,
                            [{"run_id": run_id, "key": k, "value": v} for k, v in tags.items()])
        if metric_rows:
            self._insert_metric_rows(session, metric_rows)
            session.execute(self._upsert_latest, latest_rows(metric_rows))

    def _insert_metric_rows(self, session: Session,
                            rows: Sequence[tuple[str, str, float, int, int]]) -> None:
        connection = session.connection()
        if self.db.dialect == "postgresql" and len(rows) > 16:
            # COPY is PostgreSQL's bulk path: one round trip instead of one per row.
            cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            with cursor.copy(_COPY_METRICS) as copy:
                copy.set_types(["text", "text", "float8", "int8", "int8"])
                for row in rows:
                    copy.write_row(row)
            return
        connection.exec_driver_sql(self._insert_metrics_sql, list(rows))

    def metric_history(self, run_id: str, key: str) -> list[Metric]:
        query = (select(metrics.c.key, metrics.c.value, metrics.c.step, metrics.c.timestamp)
                 .where(metrics.c.run_id == run_id, metrics.c.key == key)
                 .order_by(metrics.c.step, metrics.c.timestamp, metrics.c.id))
        with self.db.session_scope(readonly=True) as session:
            return [Metric(k, _NAN if v is None else v, s, from_epoch_ms(ts))
                    for k, v, s, ts in session.execute(query)]

    def latest_metrics(self, run_ids: Sequence[str]) -> dict[str, list[Metric]]:
        """Each run's latest point per key (the step and time it was logged at)."""
        found: dict[str, list[Metric]] = {rid: [] for rid in run_ids}
        if not found:
            return found
        m = latest_metrics.c
        query = (select(m.run_id, m.key, m.value, m.step, m.timestamp)
                 .where(m.run_id.in_(list(found))).order_by(m.run_id, m.key))
        with self.db.session_scope(readonly=True) as session:
            for rid, k, v, s, ts in session.execute(query):
                found[rid].append(Metric(k, _NAN if v is None else v, s, from_epoch_ms(ts)))
        return found

    def metric_series(self, run_id: str, key: str, max_points: int) -> MetricSeries:
        return read_series(self.db, run_id, key, max_points)

    def metric_series_many(self, run_ids: list[str], key: str,
                           max_points: int) -> dict[str, MetricSeries]:
        return read_many(self.db, run_ids, key, max_points)

    def metric_page(self, run_id: str, key: str, from_step: int,
                    limit: int) -> list[tuple[int, float, int]]:
        return read_page(self.db, run_id, key, from_step, limit)

    # -- search ------------------------------------------------------------------------
    def search_runs(self, experiment_ids: Sequence[str] | None, where: Expr | None,
                    order_by: Sequence[tuple[Field, bool]], limit: int, offset: int,
                    include_deleted: bool = False) -> list[Run]:
        """Runs ``offset`` to ``offset + limit`` of a search (see :meth:`search_page`)."""
        return self._searcher.search(experiment_ids, where, order_by, limit, offset,
                                     include_deleted)

    def search_page(self, experiment_ids: Sequence[str] | None, where: Expr | None,
                    order_by: Sequence[tuple[Field, bool]], limit: int, cursor: Cursor,
                    include_deleted: bool = False) -> tuple[list[Run], Cursor | None]:
        """A page of a search from ``cursor``, and the next page's cursor: the work is
        bounded by ``limit`` whatever page it is (keyset pagination)."""
        return self._searcher.page(experiment_ids, where, order_by, limit, cursor,
                                   include_deleted)

    # -- artifacts and datasets --------------------------------------------------------
    def add_artifact(self, run_id: str, artifact: RunArtifact) -> None:
        with self.db.session_scope() as session:
            session.execute(self._upsert_artifact, [{
                "run_id": run_id, "path": artifact.path, "digest": artifact.digest,
                "is_dir": artifact.is_dir, "size": artifact.size,
                "created_at": artifact.created_at}])

    def list_artifacts(self, run_id: str) -> list[RunArtifact]:
        query = (select(run_artifacts).where(run_artifacts.c.run_id == run_id)
                 .order_by(run_artifacts.c.path))
        with self.db.session_scope(readonly=True) as session:
            return [RunArtifact(r.path, r.digest, r.is_dir, r.size, as_utc(r.created_at))
                    for r in session.execute(query)]

    def artifact_digests(self) -> list[tuple[str, bool]]:
        """Every distinct (digest, is_dir) recorded as a run artifact."""
        query = select(run_artifacts.c.digest, run_artifacts.c.is_dir).distinct()
        with self.db.session_scope(readonly=True) as session:
            return [(digest, bool(is_dir)) for digest, is_dir in session.execute(query)]

    def link_dataset(self, run_id: str, record: DatasetRecord, role: str) -> DatasetRecord:
        with self.db.session_scope() as session:
            session.execute(self._insert_dataset, [{
                "digest": record.digest, "name": record.name, "source": record.source,
                "num_rows": record.num_rows, "num_columns": record.num_columns,
                "schema": record.schema, "profile": record.profile,
                "created_at": record.created_at}])
            session.execute(self._link_dataset, [{
                "run_id": run_id, "dataset_digest": record.digest, "role": role,
                "name": record.name, "created_at": utcnow()}])
        return DatasetRecord(**{**record.to_dict(), "role": role})

    def run_datasets(self, run_id: str) -> list[DatasetRecord]:
        query = (select(datasets, run_datasets.c.role, run_datasets.c.name.label("link_name"))
                 .join(run_datasets, run_datasets.c.dataset_digest == datasets.c.digest)
                 .where(run_datasets.c.run_id == run_id).order_by(run_datasets.c.created_at))
        with self.db.session_scope(readonly=True) as session:
            return [DatasetRecord(digest=r.digest, name=r.link_name, source=r.source,
                                  num_rows=r.num_rows, num_columns=r.num_columns,
                                  schema=r.schema, profile=r.profile,
                                  created_at=as_utc(r.created_at), role=r.role)
                    for r in session.execute(query)]

    def get_dataset(self, digest: str) -> DatasetRecord:
        with self.db.session_scope(readonly=True) as session:
            r = session.execute(select(datasets).where(datasets.c.digest == digest)).first()
        if r is None:
            raise NotFoundError(f"dataset {digest!r} not found", details={"digest": digest})
        return DatasetRecord(digest=r.digest, name=r.name, source=r.source,
                             num_rows=r.num_rows, num_columns=r.num_columns, schema=r.schema,
                             profile=r.profile, created_at=as_utc(r.created_at))

    def heartbeat(self, run_ids: list[str]) -> None:
        from modelplane.tracking.heartbeat import beat

        beat(self.db, run_ids)

    def fail_stale_heartbeats(self, stale_seconds: float) -> list[str]:
        from modelplane.tracking.heartbeat import fail_stale

        return fail_stale(self.db, stale_seconds)

    def running_runs(self, older_than: datetime | None = None) -> list[Run]:
        if older_than is None:
            return self._reader.load(self._running)
        return self._reader.load(self._running_before, {"older_than": older_than})

    @cached_property
    def _running(self) -> PreparedRuns:
        return self._reader.prepare(select(*RUN_COLUMNS).where(runs.c.status == "running"))

    @cached_property
    def _running_before(self) -> PreparedRuns:
        return self._reader.prepare(
            select(*RUN_COLUMNS).where(runs.c.status == "running",
                                       runs.c.start_time < bindparam("older_than")),
            late=["older_than"])

    def delete_run_tag(self, run_id: str, key: str) -> None:
        with self.db.session_scope() as session:
            session.execute(delete(run_tags).where(run_tags.c.run_id == run_id,
                                                   run_tags.c.key == key))


def latest_rows(rows: Sequence[tuple[str, str, float, int, int]]) -> list[dict[str, Any]]:
    """The last point per (run, key) of a batch (by step, then time): what
    ``latest_metrics`` keeps."""
    best: dict[tuple[str, str], tuple[str, str, float, int, int]] = {}
    for row in rows:
        current = best.get(row[:2])
        if current is None or (row[3], row[4]) >= (current[3], current[4]):
            best[row[:2]] = row
    return [{"run_id": r[0], "key": r[1], "value": r[2], "step": r[3], "timestamp": r[4]}
            for r in best.values()]
