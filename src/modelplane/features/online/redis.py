"""``RedisOnlineStore``: online features in Redis (shared by every replica).

Each entity row of a view version is one string key ``PREFIX + namespace + ":" + key``
whose value is ``"<event time us>|<encoded values>"``: reading N entities is one ``MGET``.
A write is one Lua script (atomic in Redis): it first reads every current value, then
sets the rows that are the same age or newer; nothing that can fail runs after the first
write, so a batch is stored completely or not at all. redis-py is imported lazily.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

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


@dataclass(frozen=True)
class RedisOnlineStoreConfig:
    """``redis://HOST:PORT/DB`` with an optional ``key_prefix`` query parameter (default
    ``modelplane:``) so several installations can share one database."""

    url: str
    key_prefix: str = "modelplane:"
    type: Literal["redis"] = "redis"

    @classmethod
    def from_url(cls, url: str) -> RedisOnlineStoreConfig:
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        prefix = query.pop("key_prefix", "modelplane:")
        return cls(url=urlunsplit(parts._replace(query=urlencode(query))), key_prefix=prefix)


class RedisOnlineStore:
    """:class:`~modelplane.features.online.OnlineStore` on Redis."""

    def __init__(self, config: RedisOnlineStoreConfig) -> None:
        import redis

        self.config = config
        self.url = config.url
        self._errors: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError)
        self._client = redis.Redis.from_url(config.url, socket_timeout=10,
                                            socket_connect_timeout=5)
        self._write = self._client.register_script(_WRITE)

    def _key(self, namespace: str, key: str) -> str:
        return f"{self.config.key_prefix}{namespace}:{key}"

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except self._errors as exc:
            raise StorageUnavailableError(f"online store (Redis) is unavailable: {exc}") from exc

    def write(self, namespace: str, rows: Sequence[OnlineRow]) -> int:
        if not rows:
            return 0
        keys = [self._key(namespace, k) for k, _, _ in rows]
        values = [f"{t}|{v}" for _, t, v in rows]
        return int(self._call(self._write, keys=keys, args=values))

    def read(self, namespace: str, keys: Sequence[str]) -> list[tuple[int, str | bytes] | None]:
        if len(keys) == 1:
            raw = [self._call(self._client.get, self._key(namespace, keys[0]))]
        else:
            raw = self._call(self._client.mget, [self._key(namespace, k) for k in keys])
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
        self._client.close()
