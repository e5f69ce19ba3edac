"""Online stores: the latest feature row of each entity, for low-latency reads.

:class:`OnlineStore` is the seam; backends are chosen by the URL scheme of
``MODELPLANE_ONLINE_STORE_URL`` through :data:`BACKENDS` (lazy builders, so neither
``sqlite3`` nor ``redis`` is imported before it is used): ``sqlite:///PATH`` (the default,
in the home) and ``redis://HOST:PORT/DB`` / ``rediss://`` / ``unix://``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from modelplane.core.errors import ConfigurationError

if TYPE_CHECKING:
    from modelplane.core.config import Settings

__all__ = ["BACKENDS", "OnlineRow", "OnlineStore", "open_online_store"]

#: (entity key, event time in epoch microseconds, encoded feature values)
OnlineRow = tuple[str, int, str]


class OnlineStore(Protocol):
    """Rows of feature values by (namespace, entity key); a namespace is one view version.

    Contract every implementation keeps (``tests/contract/test_online_store.py``):

    - ``write`` is atomic: every row of the call is stored, or none (the previous values
      stay). A row replaces the stored one only when its event time is the same or newer,
      so an older backfill never overwrites a fresher push. Returns the number of rows
      the call stored.
    - ``read`` returns, for each key in order, ``(event_time_us, value)`` or None; a
      missing namespace reads as all None.
    - ``delete_namespace`` drops every row of a namespace; other namespaces are untouched.
    - An instance may be used from many threads; ``close`` releases its connections.
    """

    url: str

    def write(self, namespace: str, rows: Sequence[OnlineRow]) -> int: ...

    def read(self, namespace: str, keys: Sequence[str]) -> list[tuple[int, str | bytes] | None]:
        ...

    def delete_namespace(self, namespace: str) -> None: ...

    def close(self) -> None: ...


def _sqlite(url: str, _settings: Settings | None) -> OnlineStore:
    from modelplane.features.online.sqlite import SqliteOnlineStore, SqliteOnlineStoreConfig

    return SqliteOnlineStore(SqliteOnlineStoreConfig.from_url(url))


def _redis(url: str, settings: Settings | None) -> OnlineStore:
    from modelplane.features.online.redis import RedisOnlineStore, RedisOnlineStoreConfig

    options = {} if settings is None else {
        "timeout": settings.redis_timeout_seconds,
        "connect_timeout": settings.redis_connect_timeout_seconds,
        "breaker_reset_seconds": settings.breaker_reset_seconds}
    return RedisOnlineStore(RedisOnlineStoreConfig.from_url(url, **options))


BACKENDS: dict[str, Callable[[str, Settings | None], OnlineStore]] = {
    "sqlite": _sqlite, "redis": _redis, "rediss": _redis, "unix": _redis,
}


def open_online_store(url: str, settings: Settings | None = None) -> OnlineStore:
    """A new store for ``url`` (the caller owns it and closes it), with the timeouts of
    ``settings`` where the backend has any."""
    scheme = urlsplit(url).scheme.lower()
    builder = BACKENDS.get(scheme)
    if builder is None:
        raise ConfigurationError(
            f"MODELPLANE_ONLINE_STORE_URL: unsupported scheme {scheme or '(none)'!r}; expected "
            f"{', '.join(f'{s}://' for s in BACKENDS)}",
            details={"field": "MODELPLANE_ONLINE_STORE_URL"})
    return builder(url, settings)
