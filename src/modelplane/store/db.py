"""The metadata database: engines by URL, sessions, and the one seam where backend
errors become modelplane errors.

SQLite (the default) runs in WAL mode with a busy timeout and foreign keys on; a write
session starts with ``BEGIN IMMEDIATE`` so two processes allocating the next version
number queue on the write lock instead of failing on a stale snapshot. PostgreSQL runs
through psycopg 3 with a connection pool.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.pool import StaticPool

from modelplane.core.config import on_reset
from modelplane.core.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    NotFoundError,
    StorageUnavailableError,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from modelplane.store.fastread import FastReader

__all__ = ["Database", "get_database", "translate_db_error"]

SQLITE_BUSY_TIMEOUT_MS = 30_000
_READONLY = "modelplane_readonly"


def _sqlite_path(url: str) -> str | None:
    """The file path of a SQLite URL, or None for an in-memory database."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return database


def _orjson_dumps(value: Any) -> str:
    import orjson

    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()


def _orjson_loads(value: Any) -> Any:
    import orjson

    # SQLite hands back bare numbers for JSON scalars computed in SQL
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _json_codecs() -> dict[str, Any]:
    """orjson for JSON columns when installed (several times faster than json). Module
    functions, not closures: psycopg warns that closures registered as codecs leak."""
    try:
        import orjson  # noqa: F401
    except ImportError:
        return {}
    return {"json_serializer": _orjson_dumps, "json_deserializer": _orjson_loads}


def build_engine(url: str) -> Engine:
    """A SQLAlchemy engine for ``url`` with modelplane's connection settings."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    if parsed.get_backend_name() == "postgresql":
        return create_engine(
            url,
            **_json_codecs(),
            pool_size=int(os.environ.get("MODELPLANE_DB_POOL_SIZE", "10")),
            max_overflow=20,
            pool_recycle=300,
        )
    raise InvalidArgumentError(f"unsupported database URL {url!r}")


def _sqlite_engine(url: str) -> Engine:
    path = _sqlite_path(url)
    if path is None:
        engine = create_engine(
            url, connect_args={"check_same_thread": False}, poolclass=StaticPool,
            **_json_codecs(),
        )
    else:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            pool_size=8,
            max_overflow=16,
            **_json_codecs(),
        )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from pysqlite so BEGIN is ours to emit.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        if path is not None:
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        readonly = conn.get_execution_options().get(_READONLY, False)
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

    return engine


def translate_db_error(exc: DBAPIError) -> Exception:
    """The modelplane error for a database error (the one translation seam)."""
    text = str(exc.orig) if exc.orig is not None else str(exc)
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if isinstance(exc, IntegrityError):
        if sqlstate == "23505" or "UNIQUE constraint failed" in text:
            return AlreadyExistsError("a record with the same key already exists",
                                      details={"reason": text.splitlines()[0]})
        if sqlstate == "23503" or "FOREIGN KEY constraint failed" in text:
            return NotFoundError("a referenced record does not exist",
                                 details={"reason": text.splitlines()[0]})
        return InvalidArgumentError("the record breaks a database constraint",
                                    details={"reason": text.splitlines()[0]})
    if isinstance(exc, OperationalError):
        return StorageUnavailableError(
            f"the metadata database is unavailable: {text.splitlines()[0]}"
        )
    return StorageUnavailableError(f"metadata database error: {text.splitlines()[0]}")


class Database:
    """One metadata database: its engine, sessions and schema state.

    Build it through :func:`get_database` so a process shares one engine per URL.
    """

    def __init__(self, url: str, *, engine: Engine | None = None) -> None:
        self.url = url
        self.engine = engine or build_engine(url)
        self.dialect = self.engine.dialect.name
        self._readonly_engine = self.engine.execution_options(**{_READONLY: True})
        # sessionmakers are built on first use: paths that only use Core connections
        # (pipelines, the registry) never import sqlalchemy.orm (~60 ms at start-up)
        self._session_factories: tuple[sessionmaker[Session], sessionmaker[Session]] | None = None
        self._schema_ready = False
        self._schema_lock = threading.Lock()
        self._fast: FastReader | None = None

    @property
    def fast(self) -> FastReader:
        """Single-statement reads on a raw per-thread connection (see ``fastread``)."""
        reader = self._fast
        if reader is None:
            from modelplane.store.fastread import FastReader

            reader = self._fast = FastReader(self)
        return reader

    @property
    def sqlite_path(self) -> str | None:
        return _sqlite_path(self.url) if self.dialect == "sqlite" else None

    @contextmanager
    def session_scope(self, *, readonly: bool = False) -> Iterator[Session]:
        """A session that commits on success, rolls back on error, and translates
        database errors into the modelplane error tree."""
        self.ensure_schema()
        factories = self._session_factories
        if factories is None:
            from sqlalchemy.orm import sessionmaker

            factories = self._session_factories = (
                sessionmaker(self.engine, expire_on_commit=False),
                sessionmaker(self._readonly_engine, expire_on_commit=False))
        session = factories[1 if readonly else 0]()
        try:
            yield session
            session.commit()
        except DBAPIError as exc:
            session.rollback()
            raise translate_db_error(exc) from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def connection_scope(self, *, readonly: bool = False) -> Iterator[Connection]:
        """Like :meth:`session_scope` but a bare Core connection: no ORM session, for the
        hottest paths (a metric write, a lookup by alias)."""
        self.ensure_schema()
        engine = self._readonly_engine if readonly else self.engine
        try:
            with engine.begin() as conn:
                yield conn
        except DBAPIError as exc:
            raise translate_db_error(exc) from exc

    def ensure_schema(self) -> None:
        """Bring the schema to head once per process (cheap after the first call)."""
        if self._schema_ready:
            return
        with self._schema_lock:
            if not self._schema_ready:
                from modelplane.store.migrate import ensure_head

                ensure_head(self)
                self._schema_ready = True

    def dispose(self) -> None:
        if self._fast is not None:
            self._fast.close()
        self.engine.dispose()


_databases: dict[tuple[int, str], Database] = {}
_databases_lock = threading.Lock()


def get_database(url: str | None = None) -> Database:
    """The process-wide :class:`Database` for ``url`` (default: the configured one)."""
    if url is None:
        from modelplane.core.config import get_settings

        url = get_settings().database_url
    key = (os.getpid(), url)
    db = _databases.get(key)
    if db is None:
        with _databases_lock:
            db = _databases.get(key)
            if db is None:
                db = _databases[key] = Database(url)
    return db


@on_reset
def _forget_databases() -> None:
    with _databases_lock:
        for db in _databases.values():
            db.dispose()
        _databases.clear()
