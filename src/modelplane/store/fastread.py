"""Reads and small writes without SQLAlchemy's per-call machinery, for the hottest paths
(a model version by alias, every request of a server polling its URI, a metric logged
synchronously).

On SQLite a SELECT through SQLAlchemy costs ~90 µs, the same SELECT on a raw
``sqlite3`` connection ~10 µs. ``FastReader`` compiles a Core ``Select`` once, keeps one
read-only connection per thread, and applies the same bind and result processors the
column types would, so rows come back exactly as through SQLAlchemy. Only SQLite files
take this path; on PostgreSQL the network round trip dominates and ``first`` falls back
to a normal connection. ``snapshot`` lends the raw connection for a read of several
statements (run search), leaving compilation and row handling to the caller.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select

from modelplane.core.errors import StorageUnavailableError

if TYPE_CHECKING:
    from modelplane.store.db import Database

__all__ = ["FastReader", "FastRow"]


class FastRow:
    """What a reader returns: the column values by name in ``_mapping`` (as a Row has)."""

    __slots__ = ("_mapping",)

    def __init__(self, mapping: dict[str, Any]) -> None:
        self._mapping = mapping


class _Compiled:
    def __init__(self, stmt: Select[Any], dialect: Any) -> None:
        compiled = self.compiled = stmt.compile(dialect=dialect)
        self.sql = str(compiled)
        self.positions = list(compiled.positiontup or [])
        self.binds: dict[str, Callable[[Any], Any] | None] = {
            name: compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in self.positions}
        columns = list(stmt.selected_columns)
        self.keys: list[str] = [str(c.key) for c in columns]
        self.results = [c.type.dialect_impl(dialect).result_processor(dialect, None)
                        for c in columns]

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        # construct_params fills in the values a statement carries itself (a LIMIT)
        values = self.compiled.construct_params(dict(params))
        out = []
        for name in self.positions:
            value = values[name]
            process = self.binds[name]
            out.append(process(value) if process is not None else value)
        return out

    def row(self, values: tuple[Any, ...]) -> FastRow:
        return FastRow({key: (p(v) if p is not None and v is not None else v)
                        for key, p, v in zip(self.keys, self.results, values, strict=True)})


class FastReader:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.path = db.sqlite_path
        self._local = threading.local()
        self._compiled: dict[int, _Compiled] = {}
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def first(self, stmt: Select[Any] | Any, params: Mapping[str, Any]) -> Any:
        """The first row of ``stmt`` with ``params`` (None when there is none)."""
        if self.path is None:
            with self.db.connection_scope(readonly=True) as conn:
                return conn.execute(stmt, dict(params)).first()
        compiled = self._compiled.get(id(stmt))
        if compiled is None:
            compiled = self._compiled[id(stmt)] = _Compiled(stmt, self.db.engine.dialect)
        try:
            values = self._connection().execute(compiled.sql, compiled.args(params)).fetchone()
        except sqlite3.Error as exc:
            raise StorageUnavailableError(f"the metadata database is unavailable: {exc}") from exc
        return None if values is None else compiled.row(values)

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """This thread's raw read-only connection inside one read transaction, so that
        several statements see the same state (SQLite files only: check ``self.path``).
        Rows come back as the driver returns them, without result processing."""
        try:
            conn = self._connection()
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StorageUnavailableError(f"the metadata database is unavailable: {exc}") from exc

    def write(self, statements: list[tuple[str, list[tuple[Any, ...]]]]) -> None:
        """Run ``(sql, rows)`` executemany pairs in one ``BEGIN IMMEDIATE`` transaction on
        this thread's raw write connection (SQLite files only: check ``self.path``)."""
        conn: sqlite3.Connection | None = getattr(self._local, "writer", None)
        if conn is None:
            conn = self._open(readonly=False)
            self._local.writer = conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for sql, rows in statements:
                    conn.executemany(sql, rows)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.IntegrityError as exc:
            from modelplane.core.errors import AlreadyExistsError, NotFoundError

            if "FOREIGN KEY" in str(exc):
                raise NotFoundError("a referenced record does not exist",
                                    details={"reason": str(exc)}) from exc
            raise AlreadyExistsError("a record with the same key already exists",
                                     details={"reason": str(exc)}) from exc
        except sqlite3.Error as exc:
            raise StorageUnavailableError(f"the metadata database is unavailable: {exc}") from exc

    def _open(self, *, readonly: bool) -> sqlite3.Connection:
        self.db.ensure_schema()
        conn = sqlite3.connect(self.path or "", timeout=30, check_same_thread=False,
                               isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA query_only = ON" if readonly else "PRAGMA foreign_keys = ON")
        if not readonly:
            conn.execute("PRAGMA synchronous = NORMAL")
        with self._lock:
            self._connections.append(conn)
        return conn

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._open(readonly=True)
        return conn

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()
