"""The metadata database: engines by URL, sessions, and the one seam where backend
errors become modelplane errors.

SQLite (the default) runs in WAL mode with a busy timeout and foreign keys on; a write
session starts with ``BEGIN IMMEDIATE`` so two processes allocating the next version
number queue on the write lock instead of failing on a stale snapshot. PostgreSQL runs
through psycopg 3 with a connection pool.

Every PostgreSQL call is bounded: a connect timeout, a server-side ``statement_timeout``
per connection, a client-side deadline a little longer (a stopped server enforces
nothing), a bounded wait for a pooled connection, and a :class:`CircuitBreaker` that
answers 503 at once while the database is known down. :meth:`Database.unbounded` lifts
the timeouts for one connection (backups and migrations run as long as they must).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.pool import StaticPool

from modelplane.core.breaker import CircuitBreaker
from modelplane.core.config import on_reset
from modelplane.core.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    NotFoundError,
    StorageUnavailableError,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from modelplane.core.config import Settings
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


def build_engine(url: str, *, statement_timeout_ms: int = 0,
                 connect_timeout: float = 5.0) -> Engine:
    """A SQLAlchemy engine for ``url`` with modelplane's connection settings
    (``statement_timeout_ms`` 0: no limit)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    if parsed.get_backend_name() == "postgresql":
        connect_args: dict[str, Any] = {"connect_timeout": max(1, round(connect_timeout))}
        if statement_timeout_ms:
            connect_args["options"] = f"-c statement_timeout={int(statement_timeout_ms)}"
        engine = create_engine(
            url,
            **_json_codecs(),
            connect_args=connect_args,
            pool_size=int(os.environ.get("MODELPLANE_DB_POOL_SIZE", "10")),
            max_overflow=20,
            pool_recycle=300,
            pool_timeout=max(connect_timeout, statement_timeout_ms / 1000),
        )
        if statement_timeout_ms:
            _bound_replies(engine, statement_timeout_ms / 1000 + connect_timeout)
        return engine
    raise InvalidArgumentError(f"unsupported database URL {url!r}")


_DEADLINE = "_modelplane_deadline"


def _bound_replies(engine: Engine, seconds: float) -> None:
    """Connections whose every wait for the server gives up after ``seconds``: the
    server-side statement_timeout answers first unless the server is hung (stopped,
    partitioned), when nothing else would."""
    factory = _deadline_connection_class()
    if factory is None:
        return

    @event.listens_for(engine, "do_connect")
    def _connect(_dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        conn = factory.connect(*cargs, **cparams)
        setattr(conn, _DEADLINE, seconds)
        return conn


_deadline_class: list[Any] = []


def _deadline_connection_class() -> Any:
    """A psycopg ``Connection`` whose waits have a deadline (None where this psycopg
    has no wait timeout)."""
    if _deadline_class:
        return _deadline_class[0]
    import inspect

    import psycopg

    timeout_error = getattr(psycopg.errors, "_WaitTimeout", None)
    if timeout_error is None or "timeout" not in inspect.signature(
            psycopg.Connection.wait).parameters:
        _deadline_class.append(None)
        return None

    class DeadlineConnection(psycopg.Connection):  # type: ignore[type-arg]
        def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
            deadline = getattr(self, _DEADLINE, None)
            try:
                return super().wait(gen, interval, timeout or deadline)
            except timeout_error as exc:  # type: ignore[misc]
                # mid-protocol: the connection is unusable, so close it (the pool drops it)
                self.pgconn.finish()
                raise psycopg.OperationalError(
                    f"no reply from the server within {timeout or deadline:g} s; "
                    "the connection is closed") from exc

    _deadline_class.append(DeadlineConnection)
    return DeadlineConnection


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
    if isinstance(exc, DataError):  # a value the column cannot hold (out of range)
        return InvalidArgumentError(f"a value is out of range: {text.splitlines()[0]}",
                                    details={"reason": text.splitlines()[0]})
    if isinstance(exc, OperationalError):
        if sqlstate == "57014":  # query_canceled: statement_timeout
            return StorageUnavailableError(
                f"the metadata database did not answer in time: {text.splitlines()[0]}",
                details={"backend": "database", "reason": "statement_timeout"})
        return StorageUnavailableError(
            f"the metadata database is unavailable: {text.splitlines()[0]}",
            details={"backend": "database"})
    return StorageUnavailableError(f"metadata database error: {text.splitlines()[0]}")


_UNSET = object()


def _set_bounds(raw: Any, statement_timeout_ms: int, deadline: Any) -> None:
    if raw.info.transaction_status != 0:  # not idle: a SET would join the transaction
        raise InvalidArgumentError("timeouts change only between transactions")
    raw.execute(f"SET statement_timeout = {int(statement_timeout_ms)}")
    raw.commit()
    if deadline is _UNSET:
        saved = getattr(raw, "_modelplane_saved_deadline", None)
        setattr(raw, _DEADLINE, saved)
    else:
        raw._modelplane_saved_deadline = getattr(raw, _DEADLINE, None)
        setattr(raw, _DEADLINE, deadline)


def _is_outage(exc: BaseException) -> bool:
    return isinstance(exc, StorageUnavailableError) and isinstance(
        exc.__cause__, OperationalError | PoolTimeoutError)


def _pool_timeout(exc: PoolTimeoutError) -> StorageUnavailableError:
    return StorageUnavailableError(
        "the metadata database is unavailable: no free connection in time (every pooled "
        "connection is busy or waiting on the server)", details={"backend": "database"})


def _quietly(fn: Any) -> None:
    """Roll back or close after a failure: a dead connection must not hide the error."""
    with suppress(DBAPIError):
        fn()


class Database:
    """One metadata database: its engine, sessions and schema state.

    Build it through :func:`get_database` so a process shares one engine per URL.
    """

    def __init__(self, url: str, *, engine: Engine | None = None,
                 statement_timeout_ms: int = 0, connect_timeout: float = 5.0,
                 breaker_reset_seconds: float = 5.0) -> None:
        self.url = url
        self.statement_timeout_ms = statement_timeout_ms
        self.engine = engine or build_engine(url, statement_timeout_ms=statement_timeout_ms,
                                             connect_timeout=connect_timeout)
        self.dialect = self.engine.dialect.name
        # a server behind a network can hang; a local SQLite file cannot
        self.breaker: CircuitBreaker | None = CircuitBreaker(
            "the metadata database", reset_seconds=breaker_reset_seconds,
            stall_seconds=min(1.0, connect_timeout),
        ) if self.dialect == "postgresql" else None
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
        with self.guard():
            session = factories[1 if readonly else 0]()
            try:
                yield session
                session.commit()
            except DBAPIError as exc:
                _quietly(session.rollback)
                raise translate_db_error(exc) from exc
            except PoolTimeoutError as exc:
                raise _pool_timeout(exc) from exc
            except BaseException:
                session.rollback()
                raise
            finally:
                _quietly(session.close)

    @contextmanager
    def connection_scope(self, *, readonly: bool = False) -> Iterator[Connection]:
        """Like :meth:`session_scope` but a bare Core connection: no ORM session, for the
        hottest paths (a metric write, a lookup by alias)."""
        self.ensure_schema()
        engine = self._readonly_engine if readonly else self.engine
        with self.guard():
            try:
                with engine.begin() as conn:
                    yield conn
            except DBAPIError as exc:
                raise translate_db_error(exc) from exc
            except PoolTimeoutError as exc:
                raise _pool_timeout(exc) from exc

    def guard(self) -> Any:
        """The breaker's guard around one call (nothing on SQLite): a timeout or a lost
        server counts against the database; any other answer counts as an answer."""
        if self.breaker is None:
            return nullcontext()
        return self.breaker.guard(_is_outage)

    @contextmanager
    def unbounded(self, conn: Connection) -> Iterator[Connection]:
        """``conn`` without the statement timeout and reply deadline while the block runs
        (a backup's snapshot, a migration waiting on another's lock). Call it outside a
        transaction."""
        if self.dialect != "postgresql" or not self.statement_timeout_ms:
            yield conn
            return
        raw = conn.connection.driver_connection
        _set_bounds(raw, 0, None)
        try:
            yield conn
        finally:
            try:
                _set_bounds(raw, self.statement_timeout_ms, _UNSET)
            except Exception:
                conn.invalidate()  # unknown state: never hand it back unbounded

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


_databases: dict[tuple[Any, ...], Database] = {}
_databases_lock = threading.Lock()


def get_database(url: str | None = None, settings: Settings | None = None) -> Database:
    """The process-wide :class:`Database` for ``url`` (default: the configured one), with
    the timeouts of ``settings`` (default: the configured ones)."""
    if settings is None:
        from modelplane.core.config import get_settings

        settings = get_settings()
    url = url or settings.database_url
    bounds = (settings.db_statement_timeout_ms, settings.db_connect_timeout_seconds,
              settings.breaker_reset_seconds)
    key = (os.getpid(), url, *bounds)
    db = _databases.get(key)
    if db is None:
        with _databases_lock:
            db = _databases.get(key)
            if db is None:
                db = _databases[key] = Database(
                    url, statement_timeout_ms=bounds[0], connect_timeout=bounds[1],
                    breaker_reset_seconds=bounds[2])
    return db


@on_reset
def _forget_databases() -> None:
    with _databases_lock:
        for db in _databases.values():
            db.dispose()
        _databases.clear()
