"""The offline store: DuckDB over the views' sources (Parquet, Arrow, SQL) and the push log.

Point-in-time retrieval is one DuckDB statement of ``ASOF LEFT JOIN``s, one per view
(built by :mod:`~modelplane.features.pitjoin`): for each entity row, the latest feature row
of the same key with ``event_time <= row time``; among rows tied on event time the greatest
created time wins; the value is kept only when ``event_time >= row time - ttl`` (inclusive,
as in Feast and ``merge_asof(tolerance=ttl)``). A row without a match gets nulls; the entity
frame's rows come back once each, in order. DuckDB's memory limit and temporary directory
bound memory: it spills instead of growing.

Timestamps are compared in UTC at microsecond precision; naive timestamps are taken as UTC.
duckdb is imported where it is used.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelplane.core.errors import InvalidArgumentError, StorageUnavailableError
from modelplane.features.definitions import (
    ITEM_DTYPES,
    Array,
    Bool,
    Bytes,
    DataFrameSource,
    FeatureView,
    FileSource,
    Float32,
    Float64,
    Int32,
    Int64,
    String,
    Timestamp,
    array_item,
)

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from modelplane.artifacts.store import ArtifactStore
    from modelplane.features.resolve import ViewRead

__all__ = ["OfflineStore", "arrow_type", "q"]

_SCALAR_SQL = {Int32: "INTEGER", Int64: "BIGINT", Float32: "FLOAT", Float64: "DOUBLE",
               Bool: "BOOLEAN", String: "VARCHAR", Bytes: "BLOB", Timestamp: "TIMESTAMPTZ"}
#: DuckDB type of each dtype; a list is ``ITEM[]`` (``array<float32>`` -> ``FLOAT[]``)
SQL_TYPES = {**_SCALAR_SQL, **{Array(t): f"{_SCALAR_SQL[t]}[]" for t in ITEM_DTYPES}}
_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
            "UINTEGER", "UBIGINT", "UHUGEINT")
_ACCEPTS = {
    Int32: _NUMERIC, Int64: _NUMERIC,
    Float32: (*_NUMERIC, "FLOAT", "DOUBLE", "DECIMAL"),
    Float64: (*_NUMERIC, "FLOAT", "DOUBLE", "DECIMAL"),
    Bool: ("BOOLEAN",), String: ("VARCHAR",), Bytes: ("BLOB",),
    Timestamp: ("TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_NS", "TIMESTAMP_MS",
                "TIMESTAMP_S", "DATE"),
}
_LIST = re.compile(r"^(.*)\[\d*\]$")  # DOUBLE[] (a list) or DOUBLE[3] (a fixed-size array)


def accepts(dtype: str, found: str) -> bool:
    """Whether a source column of DuckDB type ``found`` can hold ``dtype`` (a list dtype
    takes a list or fixed-size array of a type its item dtype accepts)."""
    item = array_item(dtype)
    if item is not None:
        match = _LIST.match(found)
        return match is not None and _LIST.match(match.group(1)) is None \
            and accepts(item, match.group(1))
    if _LIST.match(found):
        return False
    wanted = _ACCEPTS[dtype]
    return found.split("(")[0] in wanted or found.startswith(wanted)


_DESCRIBED = {"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE"}
KEY_SEP = "\x1f"
TS, CREATED, ROW, KEY, TS_US, PAYLOAD = ("__mp_ts", "__mp_created", "__mp_row", "__mp_key",
                                         "__mp_ts_us", "__mp_payload")


def q(name: str) -> str:
    """``name`` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def arrow_type(dtype: str) -> pa.DataType:
    import pyarrow as pa

    item = array_item(dtype)
    if item is not None:
        return pa.list_(arrow_type(item))
    return {Int32: pa.int32(), Int64: pa.int64(), Float32: pa.float32(),
            Float64: pa.float64(), Bool: pa.bool_(), String: pa.string(), Bytes: pa.binary(),
            Timestamp: pa.timestamp("us", tz="UTC")}[dtype]


def _json_sql(name: str, dtype: str) -> str:
    """A value as the online stores keep it in a row's JSON array: times as epoch
    microseconds, bytes as base64, the rest (lists included) as JSON has them."""
    if dtype == Timestamp:
        return f"epoch_us({q(name)})"
    if dtype == Bytes:
        return f"to_base64({q(name)})"
    return q(name)


def _fetch_arrow(relation: Any) -> pa.Table:
    fetch = getattr(relation, "to_arrow_table", None) or relation.arrow
    return fetch()  # type: ignore[no-any-return]


def _fetch_batches(relation: Any, batch_size: int) -> Iterator[pa.RecordBatch]:
    reader = getattr(relation, "to_arrow_reader", None)
    if reader is None:
        reader = relation.fetch_arrow_reader
    yield from reader(batch_size)


def _in_row_order(table: pa.Table, n: int) -> pa.Table:
    """The joined rows back in the entity frame's order: ``__mp_row`` must be a permutation
    of 0..n-1 (each entity row exactly once), so its inverse is one scatter, cheaper than
    sorting in the query."""
    import numpy as np

    rows = table.column(ROW).to_numpy()
    seen = np.zeros(n, dtype=bool)
    seen[rows] = True
    if len(rows) != n or not seen.all():
        raise AssertionError("the point-in-time join lost or repeated an entity row")
    order = np.empty(n, dtype=np.int64)
    order[rows] = np.arange(n, dtype=np.int64)
    return table.drop_columns([ROW]).take(order)


class OfflineStore:
    """Reads views' rows with DuckDB; appends pushed rows to a Parquet log per view version."""

    def __init__(self, *, artifacts: ArtifactStore, log_root: str, work_dir: Path,
                 memory_limit: str | None = None, threads: int | None = None) -> None:
        self.artifacts = artifacts
        self.log_root = log_root.rstrip("/")
        self.work_dir = work_dir
        self.memory_limit = memory_limit
        self.threads = threads
        self._base: duckdb.DuckDBPyConnection | None = None
        self._pid = 0
        self._lock = threading.Lock()

    # -- connections and sources ----------------------------------------------------------
    def connect(self) -> duckdb.DuckDBPyConnection:
        """A new cursor on this store's in-memory DuckDB database (made once per process:
        settings, extensions and caches are shared; registered tables are per cursor)."""
        with self._lock:  # a DuckDB connection object is not thread-safe
            if self._base is None or self._pid != os.getpid():
                self._base, self._pid = self._open(), os.getpid()
            return self._base.cursor()

    def close(self) -> None:
        with self._lock:
            if self._base is not None and self._pid == os.getpid():
                self._base.close()
            self._base = None

    def _open(self) -> duckdb.DuckDBPyConnection:
        import duckdb

        tmp = self.work_dir / "duckdb-tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect()
        con.execute("SET GLOBAL TimeZone = 'UTC'")
        con.execute(f"SET GLOBAL temp_directory = {_literal(str(tmp))}")
        if self.memory_limit:
            con.execute(f"SET GLOBAL memory_limit = {_literal(self.memory_limit)}")
        if self.threads:
            con.execute(f"SET GLOBAL threads = {int(self.threads)}")
        return con

    def _register_fs(self, con: Any, url: str) -> None:
        """Let DuckDB read ``url`` through fsspec (any protocol fsspec knows)."""
        if "://" not in url:
            return
        import duckdb
        import fsspec

        fs, _ = fsspec.core.url_to_fs(url)
        with contextlib.suppress(duckdb.Error, ValueError):  # registered already
            con.register_filesystem(fs)

    def _parquet(self, con: Any, path: str, *, rowids: bool = False) -> str | None:
        """``read_parquet`` of a file, or of a folder's or glob's files; with ``rowids``,
        each row's number in its file (``file_row_number``), for a single file only."""
        self._register_fs(con, path)
        import fsspec

        fs, bare = fsspec.core.url_to_fs(path)
        if not any(c in path for c in "*?[") and not fs.isdir(bare):
            return f"read_parquet({_literal(path)}{', file_row_number = true' * rowids})"
        if rowids:
            return None
        target = path if any(c in path for c in "*?[") else path.rstrip("/") + "/**/*.parquet"
        return f"read_parquet({_literal(target)}, union_by_name = true)"

    def _dataframe_path(self, digest: str) -> str:
        cache = self.work_dir / "sources"
        final = cache / f"{digest}.parquet"
        if not final.exists():
            cache.mkdir(parents=True, exist_ok=True)
            tmp = cache / f".{digest}.{uuid.uuid4().hex}"
            self.artifacts.get_file(digest, tmp)
            os.replace(tmp, final)
        return str(final)

    def source_sql(self, con: Any, view: FeatureView, *, rowids: bool = False) -> str | None:
        """The view's source as SQL (None when ``rowids`` are asked of a SQL source)."""
        source = view.source
        if isinstance(source, FileSource):
            return self._parquet(con, source.path, rowids=rowids)
        if isinstance(source, DataFrameSource):
            return self._parquet(con, self._dataframe_path(source.digest), rowids=rowids)
        return None if rowids else f"({source.query})"

    def describe(self, con: Any, sql: str) -> dict[str, str]:
        import duckdb

        try:
            rows = con.execute(f"DESCRIBE SELECT * FROM {sql}").fetchall()
        except duckdb.Error as exc:
            raise InvalidArgumentError(f"cannot read the source: {str(exc).splitlines()[0]}",
                                       details={"field": "source"}) from exc
        return {r[0]: r[1] for r in rows}

    def _check(self, view: FeatureView, columns: dict[str, str], where: str) -> None:
        wanted = [(k, d, "join key") for k, d in view.key_dtypes.items()]
        wanted.append((view.timestamp_field, Timestamp, "timestamp field"))
        if view.created_timestamp_field:
            wanted.append((view.created_timestamp_field, Timestamp, "created timestamp field"))
        wanted += [(f.name, f.dtype, "field") for f in view.schema]
        for column, dtype, what in wanted:
            if column not in columns:
                raise InvalidArgumentError(
                    f"feature view {view.name!r}: {where} has no column {column!r} (its "
                    f"{what}); it has {', '.join(repr(c) for c in columns)}",
                    details={"field": column, "view": view.name})
            found = columns[column]
            if not accepts(dtype, found):
                raise InvalidArgumentError(
                    f"feature view {view.name!r}: column {column!r} of {where} is {found}, "
                    f"which cannot hold its declared dtype {dtype}",
                    details={"field": column, "view": view.name, "dtype": dtype})

    def validate(self, view: FeatureView) -> None:
        """Check at ``apply`` that the source has the view's columns with fitting types. A
        file that does not exist yet is let through (rows may come later, or by push)."""
        import duckdb

        con = self.connect()
        try:
            source = view.source
            if isinstance(source, DataFrameSource) and source.data is not None:
                from modelplane.data import to_arrow

                con.register("__mp_frame", to_arrow(source.data))
                sql = "__mp_frame"
            else:
                sql = self.source_sql(con, view) or ""
            try:
                rows = con.execute(f"DESCRIBE SELECT * FROM {sql}").fetchall()
            except duckdb.IOException:
                return
            except duckdb.Error as exc:
                raise InvalidArgumentError(
                    f"feature view {view.name!r}: cannot read the source: "
                    f"{str(exc).splitlines()[0]}", details={"field": "source"}) from exc
            self._check(view, {r[0]: r[1] for r in rows}, "the source")
        finally:
            con.close()

    def _log_glob(self, view: FeatureView) -> str | None:
        import fsspec

        folder = self.log_path(view)
        fs, bare = fsspec.core.url_to_fs(folder)
        if not fs.exists(bare) or not fs.glob(posixpath.join(bare, "*.parquet")):
            return None
        return folder + "/*.parquet"

    def log_path(self, view: FeatureView) -> str:
        return f"{self.log_root}/{view.name}/{view.schema_hash[:16]}"

    def view_sql(self, con: Any, view: FeatureView) -> tuple[str, bool]:
        """A subquery of the view's typed rows (source plus push log) and whether it has
        a created time to break ties with."""
        source = self.source_sql(con, view)
        assert source is not None
        types = self.describe(con, source)
        self._check(view, types, "the source")
        log = self._log_glob(view)
        has_created = bool(view.created_timestamp_field) or log is not None
        parts = [self._project(view, source, types, created=view.created_timestamp_field,
                               keep_created=has_created)]
        if log is not None:
            self._register_fs(con, log)
            log_sql = f"read_parquet({_literal(log)}, union_by_name = true)"
            parts.append(self._project(view, log_sql, {}, created=CREATED, keep_created=True))
        return "(" + " UNION ALL ".join(parts) + ")", has_created

    def positional_sql(self, con: Any, view: FeatureView) -> tuple[str, str, bool] | None:
        """For a view read from one Parquet file (no push log): its keys, times and row
        numbers (``__mp_rn``) as one subquery, its features by row number as another. The
        ASOF join then sorts narrow rows; the features of the matches are joined after."""
        source = self.source_sql(con, view, rowids=True)
        if source is None or self._log_glob(view) is not None:
            return None
        plain = self.source_sql(con, view)
        assert plain is not None
        types = self.describe(con, plain)
        self._check(view, types, "the source")
        has_created = bool(view.created_timestamp_field)
        narrow = self._project(view, source, types, created=view.created_timestamp_field,
                               keep_created=has_created, features=False)
        features = self._project(view, source, types, created=None, keep_created=False,
                                 keys=False)
        return f"({narrow})", f"({features})", has_created

    @staticmethod
    def _project(view: FeatureView, source: str, types: dict[str, str], *,
                 created: str | None, keep_created: bool, keys: bool = True,
                 features: bool = True) -> str:
        """Columns cast to their declared types (no cast where the source has the type:
        DuckDB then scans them as they are); ``__mp_file`` and ``__mp_rn`` when the source
        has them."""
        def col(name: str, dtype: str, alias: str) -> str:
            sql_type = SQL_TYPES[dtype]
            same = types.get(name) == _DESCRIBED.get(sql_type, sql_type)
            expr = q(name) if same else f"CAST({q(name)} AS {sql_type})"
            return expr if same and alias == name else f"{expr} AS {q(alias)}"

        cols = []
        if keys:
            cols += [col(k, d, k) for k, d in view.key_dtypes.items()]
            cols.append(col(view.timestamp_field, Timestamp, TS))
            if keep_created:
                cols.append(col(created, Timestamp, CREATED) if created
                            else f"CAST(NULL AS TIMESTAMPTZ) AS {CREATED}")
        if features:
            cols += [col(f.name, f.dtype, f.name) for f in view.schema]
        if "file_row_number = true" in source:
            cols.append("file_row_number AS __mp_rn")
        return f"SELECT {', '.join(cols)} FROM {source}"

    # -- point-in-time retrieval ----------------------------------------------------------
    def historical(self, entities: pa.Table, reads: list[ViewRead],
                   bounds: tuple[datetime, datetime] | None) -> pa.Table:
        """One column per read feature (named ``v{i}.{feature}``), in ``entities`` order.

        ``entities`` holds the join keys (typed), ``__mp_ts`` and ``__mp_row`` = 0..n-1.
        """
        import duckdb

        con = self.connect()
        try:
            con.register("__mp_entities", entities)
            from modelplane.features.pitjoin import historical_sql

            sql = historical_sql(self, con, reads, bounds, entities.num_rows)
            try:
                return _in_row_order(_fetch_arrow(con.sql(sql)), entities.num_rows)
            except duckdb.OutOfMemoryException as exc:
                raise StorageUnavailableError(
                    f"point-in-time join ran out of memory: {str(exc).splitlines()[0]}") from exc
        finally:
            con.close()

    # -- latest rows (materialization, consistency) ---------------------------------------
    def latest_sql(self, view: FeatureView, rows_sql: str, *, has_created: bool,
                   where: str = "") -> str:
        """Per entity key, its latest row: key text, event time (us), JSON-encoded values and
        the typed values."""
        keys = [q(k) for k in view.join_keys]
        key_expr = (f"CAST({keys[0]} AS VARCHAR)" if len(keys) == 1 else
                    f"concat_ws(chr(31), {', '.join(f'CAST({k} AS VARCHAR)' for k in keys)})")
        values = [_json_sql(f.name, f.dtype) for f in view.schema]
        order = f"{TS} DESC" + (f", {CREATED} DESC NULLS LAST" if has_created else "")
        not_null = " AND ".join(f"{k} IS NOT NULL" for k in keys) + f" AND {TS} IS NOT NULL"
        where = f"WHERE {not_null}" + (f" AND {where}" if where else "")
        return (f"SELECT {key_expr} AS {KEY}, epoch_us({TS}) AS {TS_US}, "
                f"json_array({', '.join(values)})::VARCHAR AS {PAYLOAD}, "
                f"{', '.join(q(f.name) for f in view.schema)} FROM {rows_sql} {where} "
                f"QUALIFY row_number() OVER (PARTITION BY {', '.join(keys)} ORDER BY {order}) = 1")

    def latest(self, con: Any, view: FeatureView, *, start: datetime | None = None,
               end: datetime | None = None, table: pa.Table | None = None) -> str:
        """Create the temp table ``__mp_latest`` of the latest row per entity with event time
        in [start, end] (from ``table`` instead of the view's rows when given); return the
        name."""
        if table is None:
            rows_sql, has_created = self.view_sql(con, view)
        else:
            con.register("__mp_pushed", table)
            rows_sql, has_created = (f"(SELECT * EXCLUDE ({q(view.timestamp_field)}), "
                                     f"{q(view.timestamp_field)} AS {TS} FROM __mp_pushed)",
                                     CREATED in table.column_names)
        where = []
        if start is not None:
            where.append(f"{TS} >= {_literal(start.isoformat())}::TIMESTAMPTZ")
        if end is not None:
            where.append(f"{TS} <= {_literal(end.isoformat())}::TIMESTAMPTZ")
        sql = self.latest_sql(view, rows_sql, has_created=has_created, where=" AND ".join(where))
        con.execute(f"CREATE OR REPLACE TEMP TABLE __mp_latest AS {sql}")
        return "__mp_latest"

    def batches(self, con: Any, sql: str, batch_size: int) -> Iterator[pa.RecordBatch]:
        yield from _fetch_batches(con.sql(sql), batch_size)

    def fetch(self, con: Any, sql: str) -> pa.Table:
        return _fetch_arrow(con.sql(sql))

    # -- push log -------------------------------------------------------------------------
    def append_log(self, view: FeatureView, table: pa.Table) -> str:
        """Write ``table`` (typed columns plus ``__mp_created``) as one new Parquet file of the
        view version's log: written under a temporary name, then renamed into place."""
        import fsspec
        import pyarrow.parquet as pq

        folder = self.log_path(view)
        fs, bare = fsspec.core.url_to_fs(folder)
        fs.makedirs(bare, exist_ok=True)
        name = f"{datetime.now().strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:12]}.parquet"
        tmp = posixpath.join(bare, f".{name}.tmp")
        try:
            with fs.open(tmp, "wb") as fh:
                pq.write_table(table, fh)
            fs.mv(tmp, posixpath.join(bare, name))
        except OSError as exc:
            raise StorageUnavailableError(f"cannot append to the offline log {folder!r}: {exc}"
                                          ) from exc
        return f"{folder}/{name}"
