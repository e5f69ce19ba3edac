"""Monitoring on the metadata database (SQLite or PostgreSQL), SQLAlchemy Core.

A batch of the prediction log is one transaction: one ``executemany`` into the log, then
for each touched bucket an insert-if-missing, a ``SELECT ... FOR UPDATE`` and an update
that adds the batch's counters (buckets locked in sorted order, so two replicas flushing
the same buckets queue instead of deadlocking; SQLite's write lock serialises them).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.engine import Connection

from modelplane.core.errors import NotFoundError
from modelplane.core.ids import new_id
from modelplane.core.timeutil import as_utc, utcnow
from modelplane.monitoring.alerts import Alert, Rule
from modelplane.monitoring.counts import CountVector
from modelplane.monitoring.health import StatsBucket
from modelplane.monitoring.predlog.rows import LOG_COLUMNS
from modelplane.monitoring.profiles import Layout, Reference
from modelplane.monitoring.store import CountsKey, StatsKey
from modelplane.store.db import Database
from modelplane.store.tables_monitoring import monitoring_alerts as alerts_t
from modelplane.store.tables_monitoring import monitoring_counts as counts_t
from modelplane.store.tables_monitoring import monitoring_labels as labels_t
from modelplane.store.tables_monitoring import monitoring_predictions as log_t
from modelplane.store.tables_monitoring import monitoring_references as refs_t
from modelplane.store.tables_monitoring import monitoring_rules as rules_t
from modelplane.store.tables_monitoring import monitoring_stats as stats_t

__all__ = ["SqlPredictionStore", "SqlReferenceStore", "SqlRuleStore"]

_CHUNK = 500


def _upsert(db: Database) -> Any:
    if db.dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def _between(column: Any, start: int | None, end: int | None) -> list[Any]:
    out = []
    if start is not None:
        out.append(column >= start)
    if end is not None:
        out.append(column < end)
    return out


def _insert_log(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """The batch's tuples, JSON already encoded (see ``rows``): the log is the hot write,
    and SQLAlchemy's per-row parameter processing would cost most of it. On SQLite, runs
    of rows that share their model, deployment and status go in multi-row statements
    that bind those once (binding a parameter is most of a row's cost there); the rows
    keep their order, which "the last N predictions" windows follow. PostgreSQL takes
    one ``executemany``, which psycopg pipelines."""
    if conn.dialect.name != "sqlite":
        conn.exec_driver_sql(_INSERT_LOG, rows)
        return
    runs: list[tuple[tuple[Any, ...], list[Any]]] = []
    shared: tuple[Any, ...] | None = None
    values: list[Any] = []
    for r in rows:
        key = _shared_of(r)
        if key != shared:
            shared, values = key, []
            runs.append((key, values))
        values += _each_of(r)
    if len(runs) * _SQLITE_RUN > len(rows):  # mixed rows: runs too short to pay
        conn.exec_driver_sql(_INSERT_LOG.replace("%s", "?"), rows)
        return
    width = len(_SQLITE_EACH)
    for shared, values in runs:
        for start in range(0, len(values), _SQLITE_CHUNK * width):
            chunk = values[start:start + _SQLITE_CHUNK * width]
            conn.exec_driver_sql(_sqlite_insert(len(chunk) // width), (*shared, *chunk))


_INSERT_LOG = (f"INSERT INTO {log_t.name} ({', '.join(LOG_COLUMNS)}) "
               f"VALUES ({', '.join(['%s'] * len(LOG_COLUMNS))})")
_SQLITE_SHARED = ("model", "deployment", "cache_hit", "status", "error")
_SQLITE_EACH = ("version", "variant", "request_id", "row_index", "ts", "inputs", "outputs",
                "latency_s")
_shared_of = operator.itemgetter(*(LOG_COLUMNS.index(c) for c in _SQLITE_SHARED))
_each_of = operator.itemgetter(*(LOG_COLUMNS.index(c) for c in _SQLITE_EACH))
_SQLITE_CHUNK = 200  # rows per statement (8 parameters each, far below SQLite's limit)
_SQLITE_RUN = 20  # fewer rows per run than this on average: one executemany instead


@functools.lru_cache(maxsize=8)
def _sqlite_insert(n: int) -> str:
    each = ", ".join(f"column{i + 1}" for i in range(len(_SQLITE_EACH)))
    row = "(" + ", ".join(["?"] * len(_SQLITE_EACH)) + ")"
    return (f"INSERT INTO {log_t.name} ({', '.join(_SQLITE_SHARED + _SQLITE_EACH)}) "
            f"SELECT {', '.join(['?'] * len(_SQLITE_SHARED))}, {each} "
            f"FROM (VALUES {', '.join([row] * n)})")


class SqlPredictionStore:
    """Implements :class:`~modelplane.monitoring.store.PredictionStore`."""

    def __init__(self, db: Database) -> None:
        self.db = db
        upsert = _upsert(db)
        self._new_stats = upsert(stats_t).on_conflict_do_nothing()
        self._new_counts = upsert(counts_t).on_conflict_do_nothing()
        stmt = upsert(labels_t)
        self._upsert_label = stmt.on_conflict_do_update(
            index_elements=[labels_t.c.model, labels_t.c.request_id, labels_t.c.row_index],
            set_={"label": stmt.excluded.label, "created_at": stmt.excluded.created_at,
                  "prediction_ts": stmt.excluded.prediction_ts})

    # -- writing -------------------------------------------------------------------------
    def write_batch(self, rows: Sequence[tuple[Any, ...]], stats: dict[StatsKey, StatsBucket],
                    counts: dict[CountsKey, CountVector]) -> None:
        with self.db.connection_scope() as conn:
            if rows:
                _insert_log(conn, rows)
            for key in sorted(stats):
                self._add_stats(conn, key, stats[key])
            for ckey in sorted(counts):
                self._add_counts(conn, ckey, counts[ckey])

    def _add_stats(self, conn: Connection, key: StatsKey, add: StatsBucket) -> None:
        model, version, bucket = key
        where = and_(stats_t.c.model == model, stats_t.c.version == version,
                     stats_t.c.bucket == bucket)
        conn.execute(self._new_stats.values(
            model=model, version=version, bucket=bucket, n=0, errors=0, cache_hits=0,
            dropped=0, latency_sum=0.0, latency_hist={}))
        row = conn.execute(select(stats_t.c.latency_hist).where(where).with_for_update()).one()
        merged = StatsBucket(latency_hist=StatsBucket.hist_from_json(row.latency_hist))
        for k, v in add.latency_hist.items():
            merged.latency_hist[k] = merged.latency_hist.get(k, 0) + v
        conn.execute(update(stats_t).where(where).values(
            n=stats_t.c.n + add.n, errors=stats_t.c.errors + add.errors,
            cache_hits=stats_t.c.cache_hits + add.cache_hits,
            dropped=stats_t.c.dropped + add.dropped,
            latency_sum=stats_t.c.latency_sum + add.latency_sum,
            latency_hist=merged.hist_json()))

    def _add_counts(self, conn: Connection, key: CountsKey, add: CountVector) -> None:
        reference_id, model, version, bucket = key
        where = and_(counts_t.c.reference_id == reference_id, counts_t.c.version == version,
                     counts_t.c.bucket == bucket)
        conn.execute(self._new_counts.values(
            reference_id=reference_id, version=version, bucket=bucket, model=model, n=0,
            slots=b"", sums=b"", extremes=b""))
        row = conn.execute(select(counts_t.c.n, counts_t.c.slots, counts_t.c.sums,
                                  counts_t.c.extremes).where(where).with_for_update()).one()
        total = add
        if row.slots:
            total = _vector(add.slots.size, add.sums.shape[0], row).add(add)
        slots, sums, extremes = total.to_bytes()
        conn.execute(update(counts_t).where(where).values(
            n=total.n, slots=slots, sums=sums, extremes=extremes))

    def replace_counts(self, reference_id: str, counts: dict[CountsKey, CountVector]) -> None:
        with self.db.connection_scope() as conn:
            conn.execute(delete(counts_t).where(counts_t.c.reference_id == reference_id))
            for key in sorted(counts):
                self._add_counts(conn, key, counts[key])

    # -- windows ---------------------------------------------------------------------------
    def stats(self, model: str, start: int | None, end: int | None,
              version: int | None = None) -> list[tuple[int, int, StatsBucket]]:
        cond = [stats_t.c.model == model, *_between(stats_t.c.bucket, start, end)]
        if version is not None:
            cond.append(stats_t.c.version == version)
        with self.db.connection_scope(readonly=True) as conn:
            rows = conn.execute(select(stats_t).where(*cond)).all()
        return [(r.version, r.bucket, StatsBucket(
            n=r.n, errors=r.errors, cache_hits=r.cache_hits, dropped=r.dropped,
            latency_sum=r.latency_sum,
            latency_hist=StatsBucket.hist_from_json(r.latency_hist))) for r in rows]

    def newest_buckets(self, model: str, count: int, version: int | None = None) -> int | None:
        cond = [stats_t.c.model == model]
        if version is not None:
            cond.append(stats_t.c.version == version)
        query = (select(stats_t.c.bucket, func.sum(stats_t.c.n)).where(*cond)
                 .group_by(stats_t.c.bucket).order_by(stats_t.c.bucket.desc()))
        running, oldest = 0, None
        with self.db.connection_scope(readonly=True) as conn:
            for bucket, n in conn.execute(query):
                running += int(n or 0)
                oldest = int(bucket)
                if running >= count:
                    break
        return oldest

    def counts(self, reference_id: str, layout: Layout, versions: Sequence[int] | None,
               start: int | None, end: int | None) -> tuple[CountVector, list[int]]:
        cond = [counts_t.c.reference_id == reference_id, *_between(counts_t.c.bucket, start, end)]
        if versions is not None:
            cond.append(counts_t.c.version.in_(list(versions)))
        total = CountVector.empty(layout)
        seen: set[int] = set()
        query = select(counts_t.c.version, counts_t.c.n, counts_t.c.slots, counts_t.c.sums,
                       counts_t.c.extremes).where(*cond)
        with self.db.connection_scope(readonly=True) as conn:
            for row in conn.execute(query):
                if row.slots:
                    total.add(CountVector.from_bytes(layout, row.slots, row.sums,
                                                     row.extremes, row.n))
                    seen.add(row.version)
        return total, sorted(seen)

    def prediction_counts(self, model: str, start: int | None, end: int | None,
                          version: int | None = None, *, first_id: int | None = None
                          ) -> dict[int, int]:
        cond = [log_t.c.model == model, *_between(log_t.c.ts, start, end)]
        if first_id is not None:
            cond.append(log_t.c.id >= first_id)
        if version is not None:
            cond.append(log_t.c.version == version)
        query = select(log_t.c.version, func.count()).where(*cond).group_by(log_t.c.version)
        with self.db.connection_scope(readonly=True) as conn:
            return {int(v): int(n) for v, n in conn.execute(query)}

    def first_of_last(self, model: str, count: int, version: int | None = None) -> int | None:
        cond = [log_t.c.model == model]
        if version is not None:
            cond.append(log_t.c.version == version)
        query = (select(log_t.c.id).where(*cond).order_by(log_t.c.id.desc())
                 .offset(count - 1).limit(1))
        with self.db.connection_scope(readonly=True) as conn:
            found = conn.execute(query).scalar()
            if found is None:  # fewer than count: the whole log
                found = conn.execute(select(func.min(log_t.c.id)).where(*cond)).scalar()
        return None if found is None else int(found)

    def iter_predictions(self, model: str, versions: Sequence[int] | None, since: int | None
                         ) -> Iterator[list[tuple[int, int, Any, Any]]]:
        cond = [log_t.c.model == model, *_between(log_t.c.ts, since, None)]
        if versions is not None:
            cond.append(log_t.c.version.in_(list(versions)))
        last = -1
        while True:
            query = (select(log_t.c.id, log_t.c.version, log_t.c.ts, log_t.c.inputs,
                            log_t.c.outputs).where(*cond, log_t.c.id > last)
                     .order_by(log_t.c.id).limit(5000))
            with self.db.connection_scope(readonly=True) as conn:
                rows = conn.execute(query).all()
            if not rows:
                return
            last = rows[-1].id
            yield [(r.version, r.ts, r.inputs, r.outputs) for r in rows]

    # -- labels ------------------------------------------------------------------------------
    def find_predictions(self, model: str, keys: Sequence[tuple[str, int]]
                         ) -> dict[tuple[str, int], int]:
        found: dict[tuple[str, int], int] = {}
        ids = sorted({k[0] for k in keys})
        with self.db.connection_scope(readonly=True) as conn:
            for i in range(0, len(ids), _CHUNK):
                query = select(log_t.c.request_id, log_t.c.row_index, log_t.c.ts).where(
                    log_t.c.model == model, log_t.c.request_id.in_(ids[i:i + _CHUNK]))
                for request_id, row_index, ts in conn.execute(query):
                    found[(request_id, row_index)] = int(ts)
        return found

    def read_log(self, model: str, start: int | None, end: int | None, *,
                 version: int | None = None, request_id: str | None = None,
                 limit: int = 100) -> list[tuple[Any, ...]]:
        cond = [log_t.c.model == model, *_between(log_t.c.ts, start, end)]
        if version is not None:
            cond.append(log_t.c.version == version)
        if request_id is not None:
            cond.append(log_t.c.request_id == request_id)
        query = (select(*(log_t.c[c] for c in LOG_COLUMNS)).where(*cond)
                 .order_by(log_t.c.ts.desc(), log_t.c.id.desc()).limit(limit))
        with self.db.connection_scope(readonly=True) as conn:
            return [tuple(r) for r in conn.execute(query)]

    def labels_of(self, model: str, keys: Sequence[tuple[str, int]]
                  ) -> dict[tuple[str, int], Any]:
        found: dict[tuple[str, int], Any] = {}
        wanted = set(keys)
        ids = sorted({r for r, _ in wanted})
        with self.db.connection_scope(readonly=True) as conn:
            for i in range(0, len(ids), _CHUNK):
                query = select(labels_t.c.request_id, labels_t.c.row_index,
                               labels_t.c.label).where(
                    labels_t.c.model == model, labels_t.c.request_id.in_(ids[i:i + _CHUNK]))
                for r in conn.execute(query):
                    if (r.request_id, r.row_index) in wanted:
                        found[(r.request_id, r.row_index)] = r.label
        return found

    def put_labels(self, model: str, rows: Sequence[tuple[str, int, Any, int]], now: int) -> None:
        if not rows:
            return
        values = [{"model": model, "request_id": r, "row_index": i, "label": label,
                   "prediction_ts": ts, "created_at": now} for r, i, label, ts in rows]
        with self.db.connection_scope() as conn:
            for i in range(0, len(values), _CHUNK):
                conn.execute(self._upsert_label, values[i:i + _CHUNK])

    def labelled(self, model: str, start: int | None, end: int | None,
                 version: int | None = None, *, first_id: int | None = None
                 ) -> list[tuple[int, Any, Any]]:
        join = log_t.join(labels_t, and_(
            log_t.c.model == labels_t.c.model, log_t.c.request_id == labels_t.c.request_id,
            log_t.c.row_index == labels_t.c.row_index))
        cond = [labels_t.c.model == model, *_between(labels_t.c.prediction_ts, start, end)]
        if first_id is not None:
            cond.append(log_t.c.id >= first_id)
        if version is not None:
            cond.append(log_t.c.version == version)
        query = select(log_t.c.version, log_t.c.outputs, labels_t.c.label).select_from(
            join).where(*cond)
        with self.db.connection_scope(readonly=True) as conn:
            return [(r.version, r.outputs, r.label) for r in conn.execute(query)]

    # -- retention ---------------------------------------------------------------------------
    def delete_before(self, cutoff: int) -> dict[str, int]:
        with self.db.connection_scope() as conn:
            return {
                "predictions": conn.execute(delete(log_t).where(log_t.c.ts < cutoff)).rowcount,
                "labels": conn.execute(
                    delete(labels_t).where(labels_t.c.prediction_ts < cutoff)).rowcount,
                "stats": conn.execute(delete(stats_t).where(stats_t.c.bucket < cutoff)).rowcount,
                "counts": conn.execute(
                    delete(counts_t).where(counts_t.c.bucket < cutoff)).rowcount,
            }

    def compact(self) -> int:
        """Rows live in one table, written in place: there are no files to merge."""
        return 0


def _vector(size: int, numeric: int, row: Any) -> CountVector:
    import numpy as np

    slots = np.frombuffer(row.slots, "<i8").astype(np.int64)
    if slots.size != size:
        raise ValueError("stored counts do not match the reference layout")
    ext = np.frombuffer(row.extremes, "<f8").reshape(numeric, 2)
    return CountVector(slots, np.frombuffer(row.sums, "<f8").reshape(numeric, 4).copy(),
                       ext[:, 0].copy(), ext[:, 1].copy(), int(row.n))


# -- references -------------------------------------------------------------------------------


def _reference(row: Any) -> Reference:
    return Reference(id=row.id, model=row.model, version=row.version, source=row.source,
                     features=row.features, predictions=row.predictions,
                     created_at=as_utc(row.created_at))


class SqlReferenceStore:
    """Implements :class:`~modelplane.monitoring.store.ReferenceStore`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def put(self, model: str, version: int, source: str, features: dict[str, Any],
            predictions: dict[str, Any] | None) -> Reference:
        ref_id, now = new_id(), utcnow()
        values = {"id": ref_id, "model": model, "version": version, "source": source,
                  "features": features, "predictions": predictions, "created_at": now}
        with self.db.connection_scope() as conn:
            old = conn.execute(select(refs_t.c.id).where(
                refs_t.c.model == model, refs_t.c.version == version)).scalar()
            if old is not None:
                conn.execute(delete(refs_t).where(refs_t.c.id == old))
                conn.execute(delete(counts_t).where(counts_t.c.reference_id == old))
            conn.execute(insert(refs_t).values(**values))
        return Reference(id=ref_id, model=model, version=version, source=source,
                         features=features, predictions=predictions, created_at=now)

    def get(self, model: str, version: int) -> Reference | None:
        with self.db.connection_scope(readonly=True) as conn:
            row = conn.execute(select(refs_t).where(refs_t.c.model == model,
                                                    refs_t.c.version == version)).first()
        return None if row is None else _reference(row)

    def list_references(self, model: str) -> list[Reference]:
        with self.db.connection_scope(readonly=True) as conn:
            rows = conn.execute(select(refs_t).where(refs_t.c.model == model)
                                .order_by(refs_t.c.version)).all()
        return [_reference(r) for r in rows]

    def delete(self, model: str, version: int) -> bool:
        with self.db.connection_scope() as conn:
            old = conn.execute(select(refs_t.c.id).where(
                refs_t.c.model == model, refs_t.c.version == version)).scalar()
            if old is None:
                return False
            conn.execute(delete(refs_t).where(refs_t.c.id == old))
            conn.execute(delete(counts_t).where(counts_t.c.reference_id == old))
        return True


# -- rules and alerts --------------------------------------------------------------------------


def _rule(row: Any) -> Rule:
    return Rule(id=row.id, model=row.model, name=row.name, metric=row.metric, op=row.op,
                threshold=row.threshold, window=row.window_spec, version=row.version,
                cooldown_s=row.cooldown_s, actions=list(row.actions or []),
                enabled=bool(row.enabled),
                last_fired_at=None if row.last_fired_at is None else as_utc(row.last_fired_at),
                created_at=as_utc(row.created_at), updated_at=as_utc(row.updated_at))


def _alert(row: Any) -> Alert:
    return Alert(id=row.id, rule_id=row.rule_id, model=row.model, rule_name=row.rule_name,
                 metric=row.metric, op=row.op, threshold=row.threshold, value=row.value,
                 window=row.window_spec, version=row.version, status=row.status,
                 actions=list(row.actions or []), fired_at=as_utc(row.fired_at),
                 updated_at=as_utc(row.updated_at))


class SqlRuleStore:
    """Implements :class:`~modelplane.monitoring.store.RuleStore`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, rule: Rule) -> Rule:
        values = {"id": rule.id, "model": rule.model, "name": rule.name,
                  "metric": rule.metric, "op": rule.op, "threshold": rule.threshold,
                  "window_spec": rule.window, "version": rule.version,
                  "cooldown_s": rule.cooldown_s, "actions": rule.actions,
                  "enabled": rule.enabled, "last_fired_at": rule.last_fired_at,
                  "created_at": rule.created_at, "updated_at": rule.updated_at}
        with self.db.connection_scope() as conn:
            conn.execute(insert(rules_t).values(**values))
        return rule

    def get(self, model: str, name: str) -> Rule:
        with self.db.connection_scope(readonly=True) as conn:
            row = conn.execute(select(rules_t).where(rules_t.c.model == model,
                                                     rules_t.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"model {model!r} has no alert rule {name!r}",
                                details={"model": model, "rule": name})
        return _rule(row)

    def list_rules(self, model: str | None = None, *, enabled_only: bool = False
                   ) -> list[Rule]:
        cond = []
        if model is not None:
            cond.append(rules_t.c.model == model)
        if enabled_only:
            cond.append(rules_t.c.enabled.is_(True))
        with self.db.connection_scope(readonly=True) as conn:
            rows = conn.execute(select(rules_t).where(*cond)
                                .order_by(rules_t.c.model, rules_t.c.name)).all()
        return [_rule(r) for r in rows]

    def delete(self, model: str, name: str) -> None:
        with self.db.connection_scope() as conn:
            result = conn.execute(delete(rules_t).where(rules_t.c.model == model,
                                                        rules_t.c.name == name))
        if result.rowcount == 0:
            raise NotFoundError(f"model {model!r} has no alert rule {name!r}",
                                details={"model": model, "rule": name})

    def claim(self, rule_id: str, now: int, cooldown_s: float) -> bool:
        from modelplane.core.timeutil import from_epoch_ms

        at = from_epoch_ms(now)
        latest = from_epoch_ms(now - int(cooldown_s * 1000))
        with self.db.connection_scope() as conn:
            result = conn.execute(update(rules_t).where(
                rules_t.c.id == rule_id,
                (rules_t.c.last_fired_at.is_(None)) | (rules_t.c.last_fired_at <= latest),
            ).values(last_fired_at=at))
        return result.rowcount == 1

    def add_alert(self, alert: Alert) -> Alert:
        values = {"id": alert.id, "rule_id": alert.rule_id, "model": alert.model,
                  "rule_name": alert.rule_name, "metric": alert.metric, "op": alert.op,
                  "threshold": alert.threshold, "value": alert.value,
                  "window_spec": alert.window, "version": alert.version,
                  "status": alert.status, "actions": alert.actions,
                  "fired_at": alert.fired_at, "updated_at": alert.updated_at}
        with self.db.connection_scope() as conn:
            conn.execute(insert(alerts_t).values(**values))
        return alert

    def finish_alert(self, alert_id: str, status: str, actions: list[dict[str, Any]]) -> None:
        with self.db.connection_scope() as conn:
            conn.execute(update(alerts_t).where(alerts_t.c.id == alert_id).values(
                status=status, actions=actions, updated_at=utcnow()))

    def alerts(self, model: str | None = None, *, limit: int = 100,
               rule: str | None = None) -> list[Alert]:
        cond = []
        if model is not None:
            cond.append(alerts_t.c.model == model)
        if rule is not None:
            cond.append(alerts_t.c.rule_name == rule)
        with self.db.connection_scope(readonly=True) as conn:
            rows = conn.execute(select(alerts_t).where(*cond)
                                .order_by(alerts_t.c.fired_at.desc(), alerts_t.c.id.desc())
                                .limit(limit)).all()
        return [_alert(r) for r in rows]

