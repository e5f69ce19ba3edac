"""``RedisOnlineStore``: online features in Redis (shared by every replica).

Each entity row of a view version is one string key ``PREFIX + namespace + ":" + key``
whose value is ``"<event time us>|<encoded values>"``: reading N entities is one ``GET`` or
``MGET``, one round trip. A write is one Lua script (atomic in Redis): it first reads every
current value, then sets the rows that are the same age or newer; nothing that can fail
runs after the first write, so a batch is stored completely or not at all.

Reads are the hot path of serving: each thread sends them on a connection of its own
(made by redis-py from the URL: auth, database, TLS, unix sockets), so a read is one packed
command and one reply, without redis-py's pool checkout and per-command bookkeeping, which
cost more than the round trip itself. The ``hiredis`` parser is used when it is installed
(the ``redis`` extra installs it). A read is retried once on a dropped connection (it is
idempotent). redis-py is imported lazily.

Every call is bounded (socket and connect timeouts from the config) and goes through a
:class:`CircuitBreaker`: while Redis is known down or stalled, a call answers 503 at once
instead of holding a server thread for a timeout.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from modelplane.core.breaker import CircuitBreaker
from modelplane.core.errors import StorageUnavailableError
from modelplane.features.online import OnlineRow

__all__ = ["RedisOnlineStore", "RedisOnlineStoreConfig"]

# KEYS: row keys; ARGV: "ts|value" per key. Reads all first, then writes.
_WRITE = """
local keep = {}
for i = 1, #KEYS do
  local cur = redis.call('GET', KEYS[i])
  if cur then
    local a = tonumber(string.sub(cur, 1, string.find(cur, '|', 1, true) - 1))
    local b = tonumber(string.sub(ARGV[i], 1, string.find(ARGV[i], '|', 1, true) - 1))
    keep[i] = b < a
  else
    keep[i] = false
  end
end
local n = 0
for i = 1, #KEYS do
  if not keep[i] then redis.call('SET', KEYS[i], ARGV[i]); n = n + 1 end
end
return n
"""
_SCAN_BATCH = 1000


class _Reader:
    """A thread's read connection, closed when the thread ends (its locals are dropped)."""

    __slots__ = ("__weakref__", "conn", "pid")

    def __init__(self, conn: Any) -> None:
        self.conn, self.pid = conn, os.getpid()

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing: a dead socket is fine
            self.conn.disconnect()

    __del__ = close


@dataclass(frozen=True)
class RedisOnlineStoreConfig:
    """``redis://HOST:PORT/DB`` with an optional ``key_prefix`` query parameter (default
    ``modelplane:``) so several installations can share one database; ``timeout`` and
    ``connect_timeout`` bound every socket wait (seconds)."""

    url: str
    key_prefix: str = "modelplane:"
    timeout: float = 2.0
    connect_timeout: float = 2.0
    breaker_reset_seconds: float = 5.0
    type: Literal["redis"] = "redis"

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisOnlineStoreConfig:
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        prefix = query.pop("key_prefix", "modelplane:")
        return cls(url=urlunsplit(parts._replace(query=urlencode(query))), key_prefix=prefix,
                   **options)


class RedisOnlineStore:
    """:class:`~modelplane.features.online.OnlineStore` on Redis."""

    def __init__(self, config: RedisOnlineStoreConfig) -> None:
        import redis

        self.config = config
        self.url = config.url
        self._errors: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError)
        self._client = redis.Redis.from_url(config.url, socket_timeout=config.timeout,
                                            socket_connect_timeout=config.connect_timeout)
        self.breaker = CircuitBreaker("the online store (Redis)",
                                      reset_seconds=config.breaker_reset_seconds,
                                      stall_seconds=min(1.0, config.timeout))
        self._write = self._client.register_script(_WRITE)
        self._retry_on: type[Exception] = redis.ConnectionError
        self._local = threading.local()
        self._readers: weakref.WeakSet[_Reader] = weakref.WeakSet()
        self._lock = threading.Lock()

    def _reader(self) -> Any:
        """This thread's read connection (a new one in a forked child)."""
        reader: _Reader | None = getattr(self._local, "reader", None)
        if reader is not None and reader.pid == os.getpid():
            return reader.conn
        pool = self._client.connection_pool
        reader = _Reader(pool.connection_class(**pool.connection_kwargs))
        self._local.reader = reader
        with self._lock:
            self._readers.add(reader)
        return reader.conn

    def _fetch(self, *args: str) -> Any:
        """One command and its reply on this thread's read connection (connected on first
        use); retried once when the connection was dropped (a restarted server)."""
        with self.breaker.guard():
            return self._fetch_once(args)

    def _fetch_once(self, args: tuple[str, ...]) -> Any:
        for attempt in (0, 1):
            conn = self._reader()
            try:
                if len(args) == 2 and args[0] == "GET":  # the one-entity read, packed here
                    key = args[1].encode()
                    packed: Any = [b"*2\r\n$3\r\nGET\r\n$%d\r\n%b\r\n" % (len(key), key)]
                else:
                    packed = conn.pack_command(*args)
                conn.send_packed_command(packed, check_health=False)
                return conn.read_response()
            except self._errors as exc:
                conn.disconnect()
                if attempt or not isinstance(exc, self._retry_on):
                    raise StorageUnavailableError(
                        f"online store (Redis) is unavailable: {exc}") from exc
        raise AssertionError("unreachable")

    def _key(self, namespace: str, key: str) -> str:
        return f"{self.config.key_prefix}{namespace}:{key}"

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        with self.breaker.guard():
            try:
                return fn(*args, **kwargs)
            except self._errors as exc:
                raise StorageUnavailableError(
                    f"online store (Redis) is unavailable: {exc}") from exc

    def write(self, namespace: str, rows: Sequence[OnlineRow]) -> int:
        if not rows:
            return 0
        keys = [self._key(namespace, k) for k, _, _ in rows]
        values = [f"{t}|{v}" for _, t, v in rows]
        return int(self._call(self._write, keys=keys, args=values))

    def read(self, namespace: str, keys: Sequence[str]) -> list[tuple[int, str | bytes] | None]:
        prefix = f"{self.config.key_prefix}{namespace}:"
        if len(keys) == 1:
            raw = [self._fetch("GET", prefix + keys[0])]
        elif keys:
            raw = self._fetch("MGET", *[prefix + k for k in keys])
        else:
            return []
        out: list[tuple[int, str | bytes] | None] = []
        for value in raw:
            if value is None:
                out.append(None)
            else:
                cut = value.index(b"|")
                out.append((int(value[:cut]), value[cut + 1:]))
        return out

    def delete_namespace(self, namespace: str) -> None:
        pattern = self._key(namespace, "*").replace("[", "\\[").replace("]", "\\]")
        batch: list[bytes] = []
        for key in self._call(self._client.scan_iter, match=pattern, count=_SCAN_BATCH):
            batch.append(key)
            if len(batch) >= _SCAN_BATCH:
                self._call(self._client.unlink, *batch)
                batch = []
        if batch:
            self._call(self._client.unlink, *batch)

    def close(self) -> None:
        with self._lock:
            readers, self._readers = list(self._readers), weakref.WeakSet()
        for reader in readers:
            reader.close()
        self._local = threading.local()
        self._client.close()
