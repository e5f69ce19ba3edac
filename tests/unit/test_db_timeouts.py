"""Bounded calls to PostgreSQL (issue 18 item 4), against the real server: a slow
statement is cut by ``statement_timeout``; a hung server (a proxy that stops forwarding,
as a stopped or partitioned one does) by the client-side deadline; after a few such
failures the circuit opens and calls fail at once with a 503 naming the database; a
backup's snapshot runs unbounded."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from modelplane.core.breaker import CircuitBreaker
from modelplane.core.errors import NotFoundError, StorageUnavailableError
from modelplane.store.db import Database
from tests.faultproxy import FreezableProxy

postgres = pytest.mark.postgres


def _sleep(db: Database, seconds: float) -> None:
    with db.connection_scope(readonly=True) as conn:
        conn.execute(text("SELECT pg_sleep(:s)"), {"s": seconds})


@postgres
def test_statement_timeout_cuts_a_slow_query_and_unbounded_lifts_it(postgres_url: str) -> None:
    db = Database(postgres_url, statement_timeout_ms=300, connect_timeout=2)
    try:
        db.ensure_schema()  # migrations run unbounded
        started = time.perf_counter()
        with pytest.raises(StorageUnavailableError) as info:
            _sleep(db, 5)
        assert time.perf_counter() - started < 2.0
        assert info.value.details["reason"] == "statement_timeout"
        assert "did not answer in time" in info.value.message

        with db.engine.connect() as conn, db.unbounded(conn):  # as a backup does
            assert conn.execute(text("SELECT pg_sleep(0.6), 1")).scalar_one() is not None
            conn.commit()
            assert conn.execute(text("SHOW statement_timeout")).scalar_one() == "0"
            conn.commit()
        with db.engine.connect() as conn:  # back in the pool, bounded again
            assert conn.execute(text("SHOW statement_timeout")).scalar_one() == "300ms"
        _sleep(db, 0.01)
    finally:
        db.dispose()


@postgres
def test_backup_is_not_cut_by_the_statement_timeout(postgres_url: str, tmp_path: Path
                                                    ) -> None:
    """A table locked by another transaction for longer than the statement timeout: the
    backup's snapshot waits for it instead of failing."""
    from modelplane.artifacts.store import get_artifact_store
    from modelplane.ops.backup import _tables, backup

    db = Database(postgres_url, statement_timeout_ms=200, connect_timeout=2)
    other = create_engine(postgres_url)
    try:
        db.ensure_schema()
        table = _tables()[0].name
        locked, release = threading.Event(), threading.Event()

        def hold_lock() -> None:
            with other.begin() as conn:
                conn.execute(text(f'LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE'))
                locked.set()
                release.wait(10)

        holder = threading.Thread(target=hold_lock)
        holder.start()
        assert locked.wait(10)
        with pytest.raises(StorageUnavailableError), \
                db.connection_scope(readonly=True) as conn:  # a normal call is cut
            conn.execute(text(f'SELECT count(*) FROM "{table}"'))
        threading.Timer(0.8, release.set).start()
        store = get_artifact_store(str(tmp_path / "artifacts"))
        out = tmp_path / "backup.tar"
        started = time.perf_counter()
        backup(db, store, str(out))  # waits on the lock past 200 ms, and succeeds
        assert time.perf_counter() - started > 0.5
        assert out.exists() and out.stat().st_size > 0
        holder.join()
    finally:
        release.set()
        other.dispose()
        db.dispose()


@postgres
def test_hung_server_fails_fast_then_the_circuit_opens_and_recovers(postgres_url: str
                                                                    ) -> None:
    proxy, proxied = FreezableProxy.for_url(postgres_url)
    db = Database(proxied, statement_timeout_ms=300, connect_timeout=1,
                  breaker_reset_seconds=1.0)
    try:
        db.ensure_schema()
        _sleep(db, 0)
        proxy.freeze()
        took = []
        for _ in range(3):  # each one gives up on its deadline (no reply ever comes)
            started = time.perf_counter()
            with pytest.raises(StorageUnavailableError) as info:
                _sleep(db, 0)
            took.append(time.perf_counter() - started)
            assert info.value.details["backend"] == "database"
        assert max(took) < 4.0, took
        assert db.breaker is not None and db.breaker.state == "open"

        started = time.perf_counter()  # open: at once, naming the backend
        with pytest.raises(StorageUnavailableError) as info:
            _sleep(db, 0)
        assert time.perf_counter() - started < 0.1
        assert "the metadata database is unavailable" in info.value.message
        assert info.value.details["circuit"] == "open"

        proxy.thaw()
        time.sleep(1.1)  # half-open: one trial call, which succeeds and closes it
        _sleep(db, 0)
        assert db.breaker.state == "closed"
    finally:
        proxy.close()
        db.dispose()


def test_breaker_counts_only_outages_and_sheds_stalled_calls() -> None:
    breaker = CircuitBreaker("thing", failure_threshold=2, reset_seconds=0.2,
                             max_in_flight=4, max_waiting=2, stall_seconds=0.05)
    for _ in range(5):  # an answer that is an error (not found) is not an outage
        with pytest.raises(NotFoundError), breaker.guard():
            raise NotFoundError("no such row")
    assert breaker.state == "closed"
    for _ in range(2):
        with pytest.raises(StorageUnavailableError), breaker.guard():
            raise StorageUnavailableError("down")
    assert breaker.state == "open"
    with pytest.raises(StorageUnavailableError, match="thing is unavailable"), breaker.guard():
        pass
    time.sleep(0.25)
    assert breaker.state == "half_open"
    with breaker.guard():
        pass
    assert breaker.state == "closed"

    # the bulkhead: two calls stuck past stall_seconds -> the next fails at once
    stuck = [breaker.guard(), breaker.guard()]
    for guard in stuck:
        guard.__enter__()
    time.sleep(0.06)
    with pytest.raises(StorageUnavailableError, match="waiting on it"), breaker.guard():
        pass
    for guard in stuck:
        guard.__exit__(None, None, None)
    with breaker.guard():
        pass
    assert breaker.snapshot()["rejected"] == 2
