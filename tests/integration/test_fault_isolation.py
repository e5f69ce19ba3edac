"""A hung backend must not stall unrelated routes (issue 18 item 4).

Redis is hung the way a stopped (SIGSTOP) server is: a proxy in front of the real Redis
keeps every connection open and stops forwarding. 60 concurrent online lookups then get a
quick 503 naming the online store (timeouts, then the open circuit), while
``/api/v1/health`` and ``/api/v1/models`` keep answering at once; when Redis is back,
lookups succeed again without a restart.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pandas as pd
import pytest

from modelplane.core.config import reset_settings
from modelplane.features import Entity, FeatureStore, FeatureView, Field, Float64
from tests.faultproxy import FreezableProxy
from tests.integration.conftest import LiveServer

pytestmark = [pytest.mark.redis, pytest.mark.slow]

NOW = datetime.now(UTC).replace(microsecond=0)
LOOKUP = {"features": ["driver_stats:trips"], "entities": {"driver_id": [1]}}


def _define_features() -> None:
    t = pd.Timestamp(NOW)
    frame = pd.DataFrame({"driver_id": [1, 2], "event_timestamp": [t, t],
                          "trips": [10.0, 20.0]})
    driver = Entity("driver", join_keys=["driver_id"])
    view = FeatureView("driver_stats", entities=[driver], source=frame, ttl=timedelta(hours=1),
                       schema=[Field("trips", Float64)])
    store = FeatureStore()
    store.apply([view])
    store.materialize(NOW - timedelta(days=1), NOW)
    store.close()


def _timed_get(http: httpx.Client, path: str) -> tuple[int, float]:
    started = time.perf_counter()
    status = http.get(path).status_code
    return status, time.perf_counter() - started


def test_hung_redis_does_not_stall_other_routes(
        redis_url: str, start_server: Callable[..., LiveServer],
        monkeypatch: pytest.MonkeyPatch) -> None:
    proxy, proxied = FreezableProxy.for_url(redis_url)
    sep = "&" if "?" in proxied else "?"
    online_url = f"{proxied}{sep}key_prefix=mptest-{uuid.uuid4().hex[:10]}:"
    monkeypatch.setenv("MODELPLANE_ONLINE_STORE_URL", online_url)
    monkeypatch.setenv("MODELPLANE_REDIS_TIMEOUT_SECONDS", "1")
    monkeypatch.setenv("MODELPLANE_BREAKER_RESET_SECONDS", "2")
    reset_settings()
    try:
        _define_features()
        server = start_server()
        with server.client() as http:
            ok = http.post("/api/v1/features/online", json=LOOKUP)
            assert ok.status_code == 200, ok.text
            assert http.get("/api/v1/health").json()["backends"]["online_store"][
                "state"] == "closed"

            proxy.freeze()

            def lookup(_: int) -> tuple[httpx.Response, float]:
                started = time.perf_counter()
                with httpx.Client(base_url=server.url, timeout=60) as own:
                    response = own.post("/api/v1/features/online", json=LOOKUP)
                return response, time.perf_counter() - started

            with ThreadPoolExecutor(60) as pool:
                lookups = [pool.submit(lookup, i) for i in range(60)]
                time.sleep(0.3)  # the lookups are in: every one of them waits on Redis
                others = [_timed_get(http, "/api/v1/health"), _timed_get(http, "/api/v1/models"),
                          _timed_get(http, "/api/v1/health")]
                results = [f.result() for f in lookups]

            # before this fix: 9.4 s for health and models, lookups up to 20 s
            assert all(status == 200 for status, _ in others), others
            assert max(took for _, took in others) < 3.0, others
            statuses = {r.status_code for r, _ in results}
            assert statuses == {503}, statuses
            assert max(took for _, took in results) < 8.0, [t for _, t in results]
            error = results[0][0].json()["error"]
            assert error["code"] == "storage_unavailable"
            assert "online store (Redis)" in error["message"], error

            # the circuit is open: a lookup fails at once, health says which backend
            started = time.perf_counter()
            fast = http.post("/api/v1/features/online", json=LOOKUP)
            assert fast.status_code == 503 and time.perf_counter() - started < 0.5
            assert "online store (Redis)" in fast.json()["error"]["message"]
            health = http.get("/api/v1/health")
            assert health.status_code == 200
            body = health.json()
            assert body["status"] == "degraded"
            assert body["backends"]["online_store"]["state"] == "open"
            assert body["backends"]["database"]["state"] == "closed"

            proxy.thaw()  # Redis is back: after the reset time a trial call closes it
            deadline = time.monotonic() + 15
            while True:
                again = http.post("/api/v1/features/online", json=LOOKUP)
                if again.status_code == 200 or time.monotonic() > deadline:
                    break
                time.sleep(0.3)
            assert again.status_code == 200, again.text
            assert again.json()["features"]["trips"]["values"] == [10.0]
            assert http.get("/api/v1/health").json()["status"] == "ok"
    finally:
        proxy.close()
