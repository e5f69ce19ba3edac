"""The online store contract, on SQLite and on the real Redis (``MODELPLANE_TEST_REDIS_URL``)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelplane.core.errors import ConfigurationError
from modelplane.features.online import OnlineStore, open_online_store


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'online.db'}"
    url = str(request.getfixturevalue("redis_url"))
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}key_prefix=mptest-{uuid.uuid4().hex[:10]}:"  # this test's keys only


@pytest.fixture
def store(store_url: str) -> Iterator[OnlineStore]:
    online = open_online_store(store_url)
    yield online
    for ns in ("v1", "v2", "big"):
        online.delete_namespace(ns)
    online.close()


def _payload(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def test_write_then_read_in_key_order(store: OnlineStore) -> None:
    assert store.write("v1", [("a", 10, "[1]"), ("b", 20, '["x", null]')]) == 2
    got = store.read("v1", ["b", "missing", "a"])
    assert [None if g is None else (g[0], _payload(g[1])) for g in got] == [
        (20, '["x", null]'), None, (10, "[1]")]
    assert store.read("v1", ["a"])[0] is not None
    assert store.read("nothing-here", ["a", "b"]) == [None, None]
    assert store.write("v1", []) == 0


def test_newer_or_equal_rows_win_older_rows_are_ignored(store: OnlineStore) -> None:
    store.write("v1", [("a", 100, "[1]"), ("b", 100, "[1]")])
    assert store.write("v1", [("a", 50, "[old]"), ("b", 100, "[same-time]")]) == 1
    assert store.write("v1", [("a", 101, "[new]")]) == 1
    got = store.read("v1", ["a", "b"])
    assert [(g[0], _payload(g[1])) for g in got if g] == [(101, "[new]"), (100, "[same-time]")]


def test_negative_and_large_event_times(store: OnlineStore) -> None:
    store.write("v1", [("a", -5_000_000, "[1]"), ("b", 2**52, "[2]")])
    store.write("v1", [("a", -6_000_000, "[older]")])
    assert [g[0] for g in store.read("v1", ["a", "b"]) if g] == [-5_000_000, 2**52]


def test_a_write_failing_midway_stores_nothing(store: OnlineStore) -> None:
    """The failure comes from the backend in the middle of the batch: SQLite cannot bind a
    value of the third row; Redis finds a hash under the third row's key (WRONGTYPE)."""
    store.write("v1", [("a", 1, "[1]")])
    bad: object = "[2]"
    if hasattr(store, "_client"):
        store._client.hset(store._key("v1", "c"), "x", "1")  # type: ignore[attr-defined]
    else:
        bad = object()
    with pytest.raises(Exception):  # noqa: B017 - each backend raises its own error here
        store.write("v1", [("a", 2, "[2]"), ("b", 2, "[2]"), ("c", 2, bad)])  # type: ignore[list-item]
    got = store.read("v1", ["a", "b"])
    assert got[0] is not None and got[0][0] == 1 and got[1] is None


def test_namespaces_are_separate_and_deletable(store: OnlineStore) -> None:
    store.write("v1", [("a", 1, "[1]")])
    store.write("v2", [("a", 2, "[2]")])
    store.delete_namespace("v1")
    assert store.read("v1", ["a"]) == [None]
    assert store.read("v2", ["a"])[0] is not None


def test_many_keys_and_threads(store: OnlineStore) -> None:
    rows = [(f"k{i}", i, f"[{i}]") for i in range(3000)]
    store.write("big", rows)
    keys = [f"k{i}" for i in range(0, 3000, 3)] + ["nope"]
    got = store.read("big", keys)
    assert [g[0] if g else None for g in got] == [*range(0, 3000, 3), None]
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            for _ in range(50):
                assert store.read("big", ["k7", "k8"])[0] is not None
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    store.write("big", [("k7", 10**6, "[x]")])
    for t in threads:
        t.join()
    assert errors == []


def test_rows_persist_across_instances(store_url: str, store: OnlineStore) -> None:
    store.write("v1", [("a", 5, "[5]")])
    other = open_online_store(store_url)
    try:
        got = other.read("v1", ["a"])[0]
        assert got is not None and got[0] == 5
    finally:
        other.close()


def test_bad_url_names_the_setting() -> None:
    with pytest.raises(ConfigurationError, match="MODELPLANE_ONLINE_STORE_URL"):
        open_online_store("memcached://x")
    with pytest.raises(ConfigurationError, match="sqlite:///PATH"):
        open_online_store("sqlite:///:memory:")


@pytest.mark.redis
def test_redis_reads_survive_a_dropped_connection(redis_url: str) -> None:
    """Reads use a connection per thread; when the server drops it (a restart, a killed
    client), the next read reconnects once, transparently."""
    sep = "&" if "?" in redis_url else "?"
    online = open_online_store(f"{redis_url}{sep}key_prefix=mptest-{uuid.uuid4().hex[:10]}:")
    try:
        online.write("v1", [("a", 1, "[1]")])
        assert online.read("v1", ["a"])[0] is not None
        reader = online._reader()  # type: ignore[attr-defined]
        reader.send_command("CLIENT", "ID")
        client_id = reader.read_response()
        online._client.execute_command("CLIENT", "KILL", "ID", client_id)  # type: ignore[attr-defined]
        got = online.read("v1", ["a", "b"])
        assert got[0] is not None and got[0][0] == 1 and got[1] is None
        assert online._reader() is reader  # type: ignore[attr-defined]
    finally:
        online.delete_namespace("v1")
        online.close()


@pytest.mark.redis
def test_redis_read_connections_end_with_their_threads(redis_url: str) -> None:
    import gc

    sep = "&" if "?" in redis_url else "?"
    online = open_online_store(f"{redis_url}{sep}key_prefix=mptest-{uuid.uuid4().hex[:10]}:")
    try:
        online.write("v1", [("a", 1, "[1]")])
        threads = [threading.Thread(target=online.read, args=("v1", ["a"])) for _ in range(5)]
        for t in threads:
            t.start()
            t.join()
        online.read("v1", ["a"])
        gc.collect()
        assert len(online._readers) == 1  # type: ignore[attr-defined]  # this thread's only
    finally:
        online.delete_namespace("v1")
        online.close()
