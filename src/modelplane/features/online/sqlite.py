"""``SqliteOnlineStore``: online features in one SQLite file (the default, nothing to start).

One table ``online_rows(namespace, key, event_ts, value)`` WITHOUT ROWID, keyed by
(namespace, key): reading an entity is one primary-key lookup. Each thread keeps its own
connection (WAL mode, so readers never wait for a writer); statements are cached by the
sqlite3 module. A write is one ``BEGIN IMMEDIATE`` transaction and an upsert that keeps
the stored row when it is newer.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy.engine import make_url

from modelplane.core.errors import StorageUnavailableError
from modelplane.features.online import OnlineRow

__all__ = ["SqliteOnlineStore", "SqliteOnlineStoreConfig"]

_SCHEMA = """CREATE TABLE IF NOT EXISTS online_rows (
    namespace TEXT NOT NULL, key TEXT NOT NULL, event_ts INTEGER NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (namespace, key)) WITHOUT ROWID"""
_UPSERT = """INSERT INTO online_rows (namespace, key, event_ts, value) VALUES (?, ?, ?, ?)
    ON CONFLICT (namespace, key) DO UPDATE SET event_ts = excluded.event_ts,
    value = excluded.value WHERE excluded.event_ts >= online_rows.event_ts"""
_READ_ONE = "SELECT event_ts, value FROM online_rows WHERE namespace = ? AND key = ?"
_CHUNK = 500


@dataclass(frozen=True)
class SqliteOnlineStoreConfig:
    """``sqlite:///PATH`` (``sqlite:///:memory:`` is refused: threads could not share it)."""

    path: str
    type: Literal["sqlite"] = "sqlite"
    busy_timeout_s: float = 30.0

    @classmethod
    def from_url(cls, url: str) -> SqliteOnlineStoreConfig:
        database = make_url(url).database
        if not database or database == ":memory:":
            from modelplane.core.errors import ConfigurationError

            raise ConfigurationError("MODELPLANE_ONLINE_STORE_URL: expected sqlite:///PATH",
                                     details={"field": "MODELPLANE_ONLINE_STORE_URL"})
        return cls(path=database)


class SqliteOnlineStore:
    """:class:`~modelplane.features.online.OnlineStore` in a SQLite file."""

    def __init__(self, config: SqliteOnlineStoreConfig) -> None:
        self.config = config
        self.url = f"sqlite:///{config.path}"
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        Path(config.path).parent.mkdir(parents=True, exist_ok=True)
        self._conn().execute(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        try:
            conn = sqlite3.connect(self.config.path, timeout=self.config.busy_timeout_s,
                                   isolation_level=None, check_same_thread=False,
                                   cached_statements=256)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error as exc:
            raise StorageUnavailableError(
                f"online store {self.config.path!r} is unavailable: {exc}") from exc
        self._local.conn, self._local.pid = conn, os.getpid()
        with self._lock:
            self._all.append(conn)
        return conn

    def write(self, namespace: str, rows: Sequence[OnlineRow]) -> int:
        if not rows:
            return 0
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                before = conn.total_changes
                conn.executemany(_UPSERT, [(namespace, k, t, v) for k, t, v in rows])
                written = conn.total_changes - before
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            raise StorageUnavailableError(f"online store write failed: {exc}") from exc
        return written

    def read(self, namespace: str, keys: Sequence[str]) -> list[tuple[int, str | bytes] | None]:
        conn = self._conn()
        if len(keys) == 1:
            row = conn.execute(_READ_ONE, (namespace, keys[0])).fetchone()
            return [row]
        found: dict[str, tuple[int, str]] = {}
        for i in range(0, len(keys), _CHUNK):
            chunk = keys[i:i + _CHUNK]
            sql = ("SELECT key, event_ts, value FROM online_rows WHERE namespace = ? AND key IN "
                   f"({','.join('?' * len(chunk))})")
            for key, ts, value in conn.execute(sql, (namespace, *chunk)):
                found[key] = (ts, value)
        return [found.get(k) for k in keys]

    def delete_namespace(self, namespace: str) -> None:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("DELETE FROM online_rows WHERE namespace = ?", (namespace,))
        conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            with contextlib.suppress(sqlite3.ProgrammingError):  # closed elsewhere already
                conn.close()
        self._local = threading.local()
