"""What checking tokens costs: per request, and on serving throughput.

- ``token check``: the auth middleware around a no-op ASGI app, auth on (a valid bearer
  token, checked against the in-memory cache) against auth off, one call of each per round
  in random order; the cost is the median of the paired differences (target <= 20 us);
- ``cache lookup``: ``AuthService.cached`` alone; ``first check``: ``authenticate`` of a
  token not seen yet (the scrypt hash and one database read, paid once per token per
  cache period per replica);
- ``serving``: ``/predict`` on a served scikit-learn model (a 30-feature logistic
  regression, skops format) through the whole app in process (httpx's ASGI transport,
  16 concurrent clients), auth on and off back to back in each round (the order
  alternating); the figure is the median of the per-round ratios; target: throughput
  with auth on >= 95% of auth off.

Run: ``python benchmarks/auth.py [--quick]``.
"""

from __future__ import annotations

import asyncio
import gc
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import Row, print_table, row

BENCHMARK = "auth"
TARGET_US = 20.0
TARGET_RATIO = 0.95


def _scope(token: str | None) -> dict[str, Any]:
    headers = [(b"host", b"bench"), (b"accept", b"application/json")]
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    return {"type": "http", "method": "GET", "path": "/api/v1/models", "headers": headers,
            "query_string": b"", "client": ("127.0.0.1", 5000)}


async def _noop(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def _send(message: Any) -> None:
    return None


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b""}


def check_cost(home: Path, reps: int) -> list[Row]:
    from modelplane.client import Client
    from modelplane.core.config import Settings
    from modelplane.server.auth.middleware import AuthMiddleware

    auth = Client(Settings(home=home), remote=False).auth
    auth.create_user("bench", "reader")
    firsts = []
    for i in range(5):
        _, fresh = auth.create_token("bench", f"t{i}")
        start = time.perf_counter()
        auth.authenticate(fresh)
        firsts.append(time.perf_counter() - start)
    _, token = auth.create_token("bench", "hot")
    auth.authenticate(token)
    on = AuthMiddleware(_noop, auth=auth, enabled=True)
    off = AuthMiddleware(_noop, auth=auth, enabled=False)
    loop = asyncio.new_event_loop()
    variants = {"on": lambda: loop.run_until_complete(on(_scope(token), _receive, _send)),
                "off": lambda: loop.run_until_complete(off(_scope(None), _receive, _send)),
                "lookup": lambda: auth.cached(token)}
    samples: dict[str, list[int]] = {k: [] for k in variants}
    items = list(variants.items())
    for fn in variants.values():
        for _ in range(200):
            fn()
    rng = random.Random(0)
    gc.disable()
    try:
        for _ in range(reps):
            rng.shuffle(items)
            for name, fn in items:
                start = time.perf_counter_ns()
                fn()
                samples[name].append(time.perf_counter_ns() - start)
    finally:
        gc.enable()
        loop.close()
    cost = statistics.median(a - b for a, b in zip(samples["on"], samples["off"],
                                                   strict=True)) / 1000
    lookup = statistics.median(samples["lookup"]) / 1000
    return [
        row(BENCHMARK, "token check per request", round(cost, 2), "us",
            target=f"<= {TARGET_US:g} us", ok=cost <= TARGET_US,
            note=f"middleware auth on - off, median of {reps} paired rounds"),
        row(BENCHMARK, "cache lookup", round(lookup, 2), "us"),
        row(BENCHMARK, "first check of a token", round(statistics.median(firsts) * 1000, 1),
            "ms", note="scrypt + one database read, once per token per process"),
    ]


def _serving_home(home: Path) -> dict[str, float]:
    import numpy as np
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    from modelplane.client import Client
    from modelplane.core.config import Settings

    frame, target = load_breast_cancer(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=5000).fit(frame, target)
    client = Client(Settings(home=home), remote=False)
    client.log_model(None, model, "cancer", input_example=frame[:5], stage="production")
    assert np.isfinite(model.predict_proba(frame[:1])).all()
    return {str(k): float(v) for k, v in frame.iloc[0].items()}


async def _throughput(app: Any, headers: dict[str, str], record: dict[str, float],
                      seconds: float, concurrency: int = 16) -> float:
    import httpx

    done = 0
    stop = time.perf_counter() + seconds
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < stop:
                answer = await client.post("/predict/cancer", json=record, headers=headers)
                if answer.status_code != 200:
                    raise RuntimeError(f"predict answered {answer.status_code}: {answer.text}")
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done / (time.perf_counter() - started)


async def _start(app: Any) -> Any:
    """Run the app's lifespan startup (the serving layer loads models then); returns a
    coroutine function that shuts it down."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"},
                                    "state": {}}, inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    started = await outbox.get()
    if started["type"] != "lifespan.startup.complete":
        raise RuntimeError(f"app startup failed: {started}")

    async def stop() -> None:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await task

    return stop


def serving(home: Path, rounds: int, seconds: float) -> list[Row]:
    from modelplane.core.config import Settings
    from modelplane.server.app import create_app

    record = _serving_home(home)
    settings = Settings(home=home, prediction_log=False)
    apps = {flag: create_app(settings, serve=["models:/cancer@production"],
                             serving_only=True, auth=flag) for flag in (True, False)}
    auth = apps[True].state.client.auth
    auth.create_user("app", "reader")
    _, token = auth.create_token("app", "bench", role="predict")
    # the same request to both: the auth-off app ignores the header, so the difference
    # is the server's, not the client's (which shares this process)
    same = {"Authorization": f"Bearer {token}"}
    headers = {True: same, False: same}

    async def run() -> dict[bool, list[float]]:
        rates: dict[bool, list[float]] = {True: [], False: []}
        stops = [await _start(app) for app in apps.values()]  # the runtime loads the model
        for app in apps.values():
            deadline = time.monotonic() + 120
            while not app.state.serving.ready and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
        for flag in (True, False):
            await _throughput(apps[flag], headers[flag], record, 0.5)  # warm-up
        for i in range(rounds):
            for flag in ((True, False) if i % 2 else (False, True)):
                rates[flag].append(await _throughput(apps[flag], headers[flag], record,
                                                     seconds))
        for stop in stops:
            await stop()
        return rates

    rates = asyncio.run(run())
    on, off = statistics.median(rates[True]), statistics.median(rates[False])
    # each round measures both, back to back: the median of the per-round ratios cancels
    # the machine's drift between rounds
    ratio = statistics.median(a / b for a, b in zip(rates[True], rates[False], strict=True))
    return [
        row(BENCHMARK, "serving req/s, auth off", round(off, 1), "req/s",
            note="in-process ASGI, 16 clients, /predict, 1 row"),
        row(BENCHMARK, "serving req/s, auth on", round(on, 1), "req/s",
            note="predict-scope token"),
        row(BENCHMARK, "serving throughput on/off", round(ratio, 3), "ratio",
            target=f">= {TARGET_RATIO:g}", ok=ratio >= TARGET_RATIO,
            note=f"median of {rounds} per-round ratios, {seconds:g} s each side"),
    ]


def main(quick: bool = False) -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        rows = check_cost(Path(tmp) / "check", 2000 if quick else 20000)
        rows += serving(Path(tmp) / "serve", 3 if quick else 15, 1.0 if quick else 1.5)
    return rows


if __name__ == "__main__":
    print_table(main(quick="--quick" in sys.argv), title="auth")
