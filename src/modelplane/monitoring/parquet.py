"""The prediction log as Parquet files in the artifact store, for high volume.

Layout under the artifact root (``MODELPLANE_PREDICTION_LOG_STORAGE=parquet``)::

    monitoring/predictions/model=<model, %-quoted>/date=YYYY-MM-DD/part-<ns>-<hex>.parquet

Each written batch becomes one file per model and UTC day of its predictions' times. A file
is written under a hidden temporary name beside its final one (``.part-...tmp``, never
listed by readers) and renamed into place (``os.replace`` on a local disk; fsspec's ``mv``
for a URL), so a crash never leaves a partial file visible. Only the log's rows live here;
the health buckets, the drift counts and the labels are small aggregates updated by
concurrent writers and stay in the metadata database, through the wrapped
:class:`~modelplane.monitoring.sql.SqlPredictionStore`. A batch writes its files first and
then the buckets in one database transaction; if that fails the files are removed again
and the error raised, so the logger's retry writes the batch once.

Columns: ``request_id``, ``model``, ``version``, ``deployment``, ``variant``,
``row_index``, ``ts`` (epoch ms), ``inputs`` and ``outputs`` (JSON text: their shape varies
by model and version), ``latency_s``, ``cache_hit``, ``status``, ``error``.

Reads are DuckDB over the listed files, pruned to the days a window touches. The position
of a row (what :meth:`first_of_last` returns) is ``(ts, file, row in file)``: the last N
predictions are the N newest by prediction time, ties broken by write order. Labels are
read from the database for the window and joined to the rows in DuckDB. A read failing on
I/O (a file removed by retention after it was listed) runs once more; a second failure is
a :class:`StorageUnavailableError`.

Compaction (:meth:`ParquetPredictionStore.compact`, run by the writer with retention, every
10 minutes): a batch is one small file, so a busy model writes thousands a day. Part files
written more than 10 minutes ago are merged, up to 256 at a time and in write order, into
one ``part-<first ns>-<last ns>c-<hex>.parquet``, which stands for every file written in
that range: readers list the folder and skip what a compacted file covers (of two that
overlap, the one covering more stands), so a reader listing between the merged file's
rename and the removal of its inputs counts each row once, and a crash in between leaves
only files the next compaction removes. Rows keep their order (by time, then write order).

Retention is by UTC day: :meth:`delete_before` removes the day partitions before the
cutoff's day and deletes labels and buckets before the start of that day too (so the log,
its labels and its buckets stay consistent); rows are kept up to a day longer than asked.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import posixpath
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar
from urllib.parse import quote

import orjson

from modelplane.core.errors import StorageUnavailableError
from modelplane.monitoring.counts import CountVector
from modelplane.monitoring.health import StatsBucket
from modelplane.monitoring.predlog.rows import LOG_COLUMNS
from modelplane.monitoring.profiles import Layout
from modelplane.monitoring.store import CountsKey, StatsKey

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from modelplane.artifacts.store import ArtifactStore
    from modelplane.monitoring.sql import SqlPredictionStore

__all__ = ["ParquetPredictionStore"]

log = logging.getLogger("modelplane.monitoring")

DAY_MS = 86_400_000
# part-<ns>-<hex>.parquet (a batch) or part-<first ns>-<last ns>c-<hex>.parquet (compacted)
_PART = re.compile(r"part-(\d{20})-(?:(\d{20})c-)?[0-9a-f]+\.parquet")
COMPACT_AFTER_S = 600.0  # only files written longer ago than this are merged
COMPACT_MIN_FILES, COMPACT_MAX_FILES = 16, 256
_CHUNK = 5000
_SCAN = ("read_parquet($files, filename = true, file_row_number = true, "
         "hive_partitioning = false)")
# at or after the position ($pts, $pfile, $prow) in (ts, file, row) order
_FROM_POSITION = ("ts >= $pts AND (ts > $pts OR filename > $pfile OR "
                  "(filename = $pfile AND file_row_number >= $prow))")

Position = tuple[int, str, int]
_P = ParamSpec("_P")
_T = TypeVar("_T")
_S = TypeVar("_S")


def _relisting(method: Callable[Concatenate[_S, _P], _T]) -> Callable[Concatenate[_S, _P], _T]:
    """Run a read once more when it fails on I/O (a file it listed may have been removed by
    retention before DuckDB opened it); a second failure is a StorageUnavailableError."""
    @functools.wraps(method)
    def run(self: _S, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        import duckdb

        try:
            return method(self, *args, **kwargs)
        except (duckdb.IOException, OSError):
            try:
                return method(self, *args, **kwargs)
            except (duckdb.IOException, OSError) as exc:
                raise StorageUnavailableError(
                    "cannot read the prediction log's Parquet files: "
                    f"{str(exc).splitlines()[0]}") from exc
    return run


def _visible(names: Iterable[str]) -> list[tuple[int, int, str]]:
    """``(first ns, last ns, name)`` of the part files readers see, in write order: a
    compacted file hides every file whose write range lies within its own (of two equal
    ranges, the name sorting first stands)."""
    parts = []
    for name in names:
        m = _PART.fullmatch(name)
        if m is not None:
            first = int(m[1])
            parts.append((first, int(m[2]) if m[2] else first, name, m[2] is not None))
    covers = [(f, last, n) for f, last, n, compacted in parts if compacted]

    def hidden(first: int, last: int, name: str) -> bool:
        return any(cf <= first and last <= cl and (cl - cf > last - first or cn < name)
                   for cf, cl, cn in covers if cn != name)

    return sorted((f, last, n) for f, last, n, _ in parts if not hidden(f, last, n))


def _day(ms: int) -> str:
    """The UTC day (YYYY-MM-DD) of epoch milliseconds ``ms``."""
    return _day_name(ms // DAY_MS)


@functools.lru_cache(maxsize=64)
def _day_name(day: int) -> str:
    return datetime.fromtimestamp(day * 86_400, UTC).strftime("%Y-%m-%d")


def _loads(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def _table(rows: list[tuple[Any, ...]]) -> pa.Table:
    import pyarrow as pa

    schema = pa.schema([
        ("request_id", pa.string()), ("model", pa.string()), ("version", pa.int32()),
        ("deployment", pa.string()), ("variant", pa.string()), ("row_index", pa.int32()),
        ("ts", pa.int64()), ("inputs", pa.string()), ("outputs", pa.string()),
        ("latency_s", pa.float64()), ("cache_hit", pa.bool_()), ("status", pa.string()),
        ("error", pa.string())])
    columns = dict(zip(LOG_COLUMNS, zip(*rows, strict=True), strict=True))
    return pa.table({name: list(columns[name]) for name in schema.names}, schema=schema)


def _low(start: int | None, first: Position | None) -> int | None:
    """The earliest time a row at or after ``first`` and from ``start`` can have."""
    if first is None:
        return start
    return first[0] if start is None else max(start, first[0])


def _where(conditions: list[str]) -> str:
    return "WHERE " + " AND ".join(conditions) if conditions else ""


def _filters(start: int | None, end: int | None, version: int | None,
             first: Position | None) -> tuple[list[str], dict[str, Any]]:
    cond: list[str] = []
    params: dict[str, Any] = {}
    if start is not None:
        cond.append("ts >= $start")
        params["start"] = start
    if end is not None:
        cond.append("ts < $end")
        params["end"] = end
    if version is not None:
        cond.append("version = $version")
        params["version"] = version
    if first is not None:
        cond.append(_FROM_POSITION)
        params.update(pts=first[0], pfile=first[1], prow=first[2])
    return cond, params


class ParquetPredictionStore:
    """Implements :class:`~modelplane.monitoring.store.PredictionStore`: the log's rows as
    Parquet under ``artifacts`` (see the module docstring), everything else in ``sql``."""

    def __init__(self, sql: SqlPredictionStore, artifacts: ArtifactStore, *,
                 prefix: str = "monitoring/predictions") -> None:
        self.sql = sql
        self.fs = artifacts.fs
        self.is_local = artifacts.is_local
        self.root = posixpath.join(artifacts.root, prefix)
        self._con: duckdb.DuckDBPyConnection | None = None
        self._pid = 0
        self._lock = threading.Lock()

    # -- files -----------------------------------------------------------------------------
    def _model_dir(self, model: str) -> str:
        return posixpath.join(self.root, "model=" + quote(model, safe=""))

    def _names(self, folder: str) -> list[str]:
        try:
            if self.is_local:
                return os.listdir(folder)
            self.fs.invalidate_cache(folder)  # other writers add files
            return [posixpath.basename(p.rstrip("/")) for p in self.fs.ls(folder, detail=False)]
        except (FileNotFoundError, NotADirectoryError):
            return []

    def _days(self, model: str, low: str | None = None, high: str | None = None) -> list[str]:
        """The model's day partitions in ``[low, high]`` (YYYY-MM-DD), oldest first."""
        days = (n[5:] for n in self._names(self._model_dir(model)) if n.startswith("date="))
        return sorted(d for d in days if (low is None or d >= low) and (high is None or d <= high))

    def _files(self, model: str, days: Sequence[str]) -> list[str]:
        """The files of ``days`` (as DuckDB reads them), by day and then in write order."""
        out = []
        for day in days:
            folder = posixpath.join(self._model_dir(model), f"date={day}")
            out += [posixpath.join(folder, n) for _, _, n in _visible(self._names(folder))]
        return out if self.is_local else [self.fs.unstrip_protocol(p) for p in out]

    def _window_files(self, model: str, start: int | None, end: int | None) -> list[str]:
        high = None if end is None else _day(end - 1)
        return self._files(model, self._days(model, None if start is None else _day(start),
                                             high))

    def _write_file(self, model: str, day: str, rows: list[tuple[Any, ...]]) -> str:
        import pyarrow.parquet as pq

        folder = posixpath.join(self._model_dir(model), f"date={day}")
        name = f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:12]}.parquet"
        final, tmp = posixpath.join(folder, name), posixpath.join(folder, f".{name}.tmp")
        table = _table(rows)
        self.fs.makedirs(folder, exist_ok=True)
        try:
            with self.fs.open(tmp, "wb") as out:
                pq.write_table(table, out, compression="zstd")
                if self.is_local:
                    out.flush()
                    os.fsync(out.fileno())
            if self.is_local:
                os.replace(tmp, final)  # atomic on POSIX
            else:
                self.fs.mv(tmp, final)
        except BaseException:
            with contextlib.suppress(OSError):
                if self.fs.exists(tmp):
                    self.fs.rm(tmp)
            raise
        return final

    def _rmtree(self, folder: str) -> None:
        if self.is_local:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            self.fs.rm(folder, recursive=True)

    # -- DuckDB ----------------------------------------------------------------------------
    def _cursor(self) -> duckdb.DuckDBPyConnection:
        """A new cursor on this store's in-memory DuckDB (one per process)."""
        with self._lock:  # a DuckDB connection object is not thread-safe
            if self._con is None or self._pid != os.getpid():
                import duckdb

                con = duckdb.connect()
                if not self.is_local:
                    con.register_filesystem(self.fs)
                self._con, self._pid = con, os.getpid()
            return self._con.cursor()

    def _all(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        with self._cursor() as cur:
            return cur.execute(sql, params).fetchall()

    # -- writing ---------------------------------------------------------------------------
    def write_batch(self, rows: Sequence[tuple[Any, ...]], stats: dict[StatsKey, StatsBucket],
                    counts: dict[CountsKey, CountVector]) -> None:
        groups: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
        for r in rows:
            groups.setdefault((r[0], _day(r[6])), []).append(r)
        written: list[str] = []
        try:
            for (model, day), rows in groups.items():
                written.append(self._write_file(model, day, rows))
            self.sql.write_batch((), stats, counts)
        except BaseException:
            for path in written:  # the logger retries the whole batch
                with contextlib.suppress(OSError):
                    self.fs.rm(path)
            raise

    def replace_counts(self, reference_id: str, counts: dict[CountsKey, CountVector]) -> None:
        self.sql.replace_counts(reference_id, counts)

    # -- buckets (in the database) -----------------------------------------------------------
    def stats(self, model: str, start: int | None, end: int | None,
              version: int | None = None) -> list[tuple[int, int, StatsBucket]]:
        return self.sql.stats(model, start, end, version)

    def newest_buckets(self, model: str, count: int, version: int | None = None) -> int | None:
        return self.sql.newest_buckets(model, count, version)

    def counts(self, reference_id: str, layout: Layout, versions: Sequence[int] | None,
               start: int | None, end: int | None) -> tuple[CountVector, list[int]]:
        return self.sql.counts(reference_id, layout, versions, start, end)

    # -- the log's rows ----------------------------------------------------------------------
    @_relisting
    def prediction_counts(self, model: str, start: int | None, end: int | None,
                          version: int | None = None, *, first_id: Position | None = None
                          ) -> dict[int, int]:
        files = self._window_files(model, _low(start, first_id), end)
        if not files:
            return {}
        cond, params = _filters(start, end, version, first_id)
        rows = self._all(f"SELECT version, count(*) FROM {_SCAN} {_where(cond)} "
                         "GROUP BY version", {"files": files, **params})
        return {int(v): int(n) for v, n in rows}

    @_relisting
    def first_of_last(self, model: str, count: int, version: int | None = None
                      ) -> Position | None:
        """Days newest first: count each until ``count`` is reached, then pick the row in
        that day by ``(ts, file, row)`` descending."""
        cond, params = _filters(None, None, version, None)
        seen, oldest = 0, None
        for day in reversed(self._days(model)):
            files = self._files(model, [day])
            if not files:
                continue
            (n,), = self._all(f"SELECT count(*) FROM {_SCAN} {_where(cond)}",
                              {"files": files, **params})
            if not n:
                continue
            if seen + n >= count:
                return self._nth(files, cond, params, max(count - seen - 1, 0), "DESC")
            seen, oldest = seen + n, files
        return None if oldest is None else self._nth(oldest, cond, params, 0, "ASC")

    def _nth(self, files: list[str], cond: list[str], params: dict[str, Any], offset: int,
             order: str) -> Position:
        (ts, file, row), = self._all(
            f"SELECT ts, filename, file_row_number FROM {_SCAN} {_where(cond)} ORDER BY "
            f"ts {order}, filename {order}, file_row_number {order} LIMIT 1 OFFSET $offset",
            {"files": files, "offset": offset, **params})
        return int(ts), str(file), int(row)

    def iter_predictions(self, model: str, versions: Sequence[int] | None, since: int | None
                         ) -> Iterator[list[tuple[int, int, Any, Any]]]:
        """Day by day, and within a day in write order (no sort: recounting needs none)."""
        cond, params = _filters(since, None, None, None)
        if versions is not None:
            if not versions:
                return
            cond.append("list_contains($versions, version)")
            params["versions"] = [int(v) for v in versions]
        for day in self._days(model, None if since is None else _day(since)):
            files = self._files(model, [day])
            if not files:
                continue
            with self._cursor() as cur:
                result = cur.execute(f"SELECT version, ts, inputs, outputs FROM {_SCAN} "
                                     f"{_where(cond)}", {"files": files, **params})
                while rows := result.fetchmany(_CHUNK):
                    yield [(int(v), int(ts), _loads(i), _loads(o)) for v, ts, i, o in rows]

    # -- labels ----------------------------------------------------------------------------
    @_relisting
    def find_predictions(self, model: str, keys: Sequence[tuple[str, int]]
                         ) -> dict[tuple[str, int], int]:
        """Newest day first, stopping once every key is found (labels mostly come for
        recent predictions; an unknown request id still reads every kept day)."""
        import pyarrow as pa

        missing = {(r, int(i)) for r, i in keys}
        found: dict[tuple[str, int], int] = {}
        for day in reversed(self._days(model) if missing else []):
            files = self._files(model, [day])
            if not files:
                continue
            ids = sorted({r for r, _ in missing})
            with self._cursor() as cur:
                cur.register("__mp_ids", pa.table({"request_id": pa.array(ids, pa.string())}))
                rows = cur.execute(f"SELECT request_id, row_index, ts FROM {_SCAN} WHERE "
                                   "request_id IN (SELECT request_id FROM __mp_ids)",
                                   {"files": files}).fetchall()
            for r, i, ts in rows:
                found.setdefault((r, int(i)), int(ts))
            missing.difference_update(found)
            if not missing:
                break
        return found

    def put_labels(self, model: str, rows: Sequence[tuple[str, int, Any, int]], now: int) -> None:
        self.sql.put_labels(model, rows, now)

    def labels_of(self, model: str, keys: Sequence[tuple[str, int]]
                  ) -> dict[tuple[str, int], Any]:
        return self.sql.labels_of(model, keys)

    @_relisting
    def read_log(self, model: str, start: int | None, end: int | None, *,
                 version: int | None = None, request_id: str | None = None,
                 limit: int = 100) -> list[tuple[Any, ...]]:
        files = self._window_files(model, start, end)
        if not files:
            return []
        cond, params = _filters(start, end, version, None)
        if request_id is not None:
            cond.append("request_id = $request_id")
            params["request_id"] = request_id
        rows = self._all(
            f"SELECT {', '.join(LOG_COLUMNS)} FROM {_SCAN} {_where(cond)} "
            "ORDER BY ts DESC, filename DESC, file_row_number DESC LIMIT $limit",
            {"files": files, "limit": int(limit), **params})
        inputs, outputs = LOG_COLUMNS.index("inputs"), LOG_COLUMNS.index("outputs")
        return [(*r[:inputs], _loads(r[inputs]), _loads(r[outputs]), *r[outputs + 1:])
                for r in rows]

    def _labels(self, model: str, start: int | None, end: int | None
                ) -> list[tuple[str, int, Any, int]]:
        """``(request id, row index, label, prediction time)`` of the labels of predictions
        made in ``[start, end)``, from the database."""
        from sqlalchemy import select

        from modelplane.store.tables_monitoring import monitoring_labels as labels_t

        cond = [labels_t.c.model == model]
        if start is not None:
            cond.append(labels_t.c.prediction_ts >= start)
        if end is not None:
            cond.append(labels_t.c.prediction_ts < end)
        query = select(labels_t.c.request_id, labels_t.c.row_index, labels_t.c.label,
                       labels_t.c.prediction_ts).where(*cond)
        with self.sql.db.connection_scope(readonly=True) as conn:
            return [tuple(r) for r in conn.execute(query)]  # type: ignore[misc]

    @_relisting
    def labelled(self, model: str, start: int | None, end: int | None,
                 version: int | None = None, *, first_id: Position | None = None
                 ) -> list[tuple[int, Any, Any]]:
        import pyarrow as pa

        labels = self._labels(model, _low(start, first_id), end)
        files = self._files(model, sorted({_day(ts) for *_, ts in labels})) if labels else []
        if not files:
            return []
        keys = pa.table({"request_id": pa.array([r[0] for r in labels], pa.string()),
                         "row_index": pa.array([r[1] for r in labels], pa.int32()),
                         "li": pa.array(range(len(labels)), pa.int64())})
        cond, params = _filters(None, None, version, first_id)
        with self._cursor() as cur:
            cur.register("__mp_labels", keys)
            rows = cur.execute(
                f"SELECT p.version, p.outputs, l.li FROM {_SCAN} p JOIN __mp_labels l "
                "ON p.request_id = l.request_id AND p.row_index = l.row_index "
                f"{_where(cond)}", {"files": files, **params}).fetchall()
        return [(int(v), _loads(out), labels[li][2]) for v, out, li in rows]

    # -- compaction --------------------------------------------------------------------------
    def compact(self, older_than_s: float = COMPACT_AFTER_S) -> int:
        """Merge the part files written more than ``older_than_s`` ago (see the module
        docstring); returns how many files were merged away. A day being compacted by
        another process, or a file vanishing under it, is left for the next run."""
        import duckdb

        cutoff = time.time_ns() - int(older_than_s * 1e9)
        merged = 0
        for name in self._names(self.root):
            if not name.startswith("model="):
                continue
            model_dir = posixpath.join(self.root, name)
            for day in sorted(n for n in self._names(model_dir) if n.startswith("date=")):
                folder = posixpath.join(model_dir, day)
                try:
                    merged += self._compact_folder(folder, cutoff)
                except (duckdb.Error, OSError) as exc:
                    log.warning("prediction log: cannot compact %s: %s", folder, exc)
        return merged

    def _compact_folder(self, folder: str, cutoff: int) -> int:
        names = self._names(folder)
        visible = _visible(names)
        old: list[tuple[int, int, str]] = []
        for first, last, name in visible:  # a run in write order, all written before cutoff
            if last >= cutoff or (old and first <= old[-1][1]):
                break
            old.append((first, last, name))
        merged = 0
        while len(old) >= COMPACT_MIN_FILES:
            run, old = old[:COMPACT_MAX_FILES], old[COMPACT_MAX_FILES:]
            first, last = run[0][0], run[-1][1]
            self._merge(folder, [n for _, _, n in run],
                        f"part-{first:020d}-{last:020d}c-{uuid.uuid4().hex[:12]}.parquet")
            merged += len(run)
        # remove what a compacted file covers (its inputs, and leftovers of a crash)
        shown = {n for _, _, n in _visible(self._names(folder))}
        for name in names:
            if _PART.fullmatch(name) and name not in shown:
                with contextlib.suppress(FileNotFoundError):
                    self.fs.rm(posixpath.join(folder, name))
        return merged

    def _merge(self, folder: str, names: list[str], target: str) -> None:
        """Write ``names``' rows, in order, to ``target`` in ``folder`` (through a hidden
        temporary file renamed into place)."""
        import tempfile

        files = [posixpath.join(folder, n) for n in names]
        if not self.is_local:
            files = [self.fs.unstrip_protocol(p) for p in files]
        final = posixpath.join(folder, target)
        local_dir = folder if self.is_local else tempfile.mkdtemp(prefix="mp-compact-")
        tmp = os.path.join(local_dir, f".{target}.tmp")
        try:
            with self._cursor() as cur:  # files in list order, rows in file order
                cur.execute("SET preserve_insertion_order = true")
                cur.read_parquet(files).write_parquet(tmp, compression="zstd")
            if self.is_local:
                with open(tmp, "rb+") as out:
                    os.fsync(out.fileno())
                os.replace(tmp, final)
            else:
                self.fs.put(tmp, posixpath.join(folder, f".{target}.tmp"))
                self.fs.mv(posixpath.join(folder, f".{target}.tmp"), final)
        finally:
            with contextlib.suppress(OSError):
                os.remove(tmp)
            if not self.is_local:
                shutil.rmtree(local_dir, ignore_errors=True)

    # -- retention ---------------------------------------------------------------------------
    def delete_before(self, cutoff: int) -> dict[str, int]:
        """By UTC day (see the module docstring): everything before the start of the
        cutoff's day."""
        day_start = cutoff - cutoff % DAY_MS
        first_kept = _day(day_start)
        removed = 0
        for name in self._names(self.root):
            if not name.startswith("model="):
                continue
            model_dir = posixpath.join(self.root, name)
            for part in self._names(model_dir):
                if part.startswith("date=") and part[5:] < first_kept:
                    folder = posixpath.join(model_dir, part)
                    rows = self._rows_in(folder)
                    try:
                        self._rmtree(folder)
                    except OSError as exc:  # left for the next run; never fail a write
                        log.warning("prediction log: cannot remove %s: %s", folder, exc)
                        continue
                    removed += rows
        deleted = self.sql.delete_before(day_start)
        deleted["predictions"] = deleted.get("predictions", 0) + removed
        return deleted

    def _rows_in(self, folder: str) -> int:
        files = [posixpath.join(folder, n) for _, _, n in _visible(self._names(folder))]
        if not files:
            return 0
        if not self.is_local:
            files = [self.fs.unstrip_protocol(p) for p in files]
        import duckdb

        try:
            (n,), = self._all(f"SELECT count(*) FROM {_SCAN}", {"files": files})
        except duckdb.Error as exc:  # counting is a report: never block the deletion
            log.warning("prediction log: cannot count the rows of %s: %s", folder, exc)
            return 0
        return int(n)
