"""``--workers 2``: both workers answer, and ``/metrics`` of whichever worker a scrape
reaches counts the requests of both."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pandas as pd
import pytest

from modelplane.client import Client
from tests.integration.conftest import LiveServer

# these tests serve python-flavor models they define: pickles, loaded under the opt-in
pytestmark = pytest.mark.usefixtures("trust_pickles")


def _constant() -> Any:
    class Constant:  # defined in a function: pickled by value, loads in the server
        def predict(self, x: Any) -> Any:
            return np.full(len(x), 7.0)

    return Constant()


def _served(text: str) -> int:
    total = 0
    for line in text.splitlines():
        if (line.startswith("modelplane_serving_requests_total{") and 'model="seven"' in line
                and 'status="200"' in line):
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


def test_metrics_of_any_worker_count_every_worker(
        mp_home: Path, tmp_path: Path, start_server: Callable[..., LiveServer]) -> None:
    example = pd.DataFrame({"f0": [1.0], "f1": [2.0]})
    Client().log_model(None, _constant(), "seven", input_example=example, stage="production")
    shared_tmp = tmp_path / "tmp"
    shared_tmp.mkdir()
    server = start_server("--serve", "models:/seven@production", "--workers", "2",
                          env={"TMPDIR": str(shared_tmp)})
    deadline = time.monotonic() + 60
    while True:  # the second worker may still be loading the model
        try:
            if httpx.get(f"{server.url}/v2/models/seven/ready", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the model never became ready"
        time.sleep(0.2)

    def call(_: int) -> int:  # a new connection each time: the kernel spreads them
        until = time.monotonic() + 60
        with httpx.Client(base_url=server.url, timeout=30) as http:
            while True:  # 503: this worker is still loading the model; not yet counted
                status = http.post("/predict/seven", json=[{"f0": 1.0, "f1": 2.0}]
                                   ).status_code
                if status != 503 or time.monotonic() > until:
                    return status
                time.sleep(0.1)

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(call, range(80)))
    assert statuses == [200] * 80

    folder = next(shared_tmp.glob("modelplane-workers-*"))
    time.sleep(1.5)  # every worker publishes its figures each second
    per_worker = [_served_in(path) for path in folder.glob("serving-*.json")]
    assert len(per_worker) == 2 and all(n > 0 for n in per_worker), per_worker
    for _ in range(6):  # whichever worker answers the scrape, it counts all 80
        text = httpx.get(f"{server.url}/metrics", timeout=10).text
        assert _served(text) == 80, text[:2000]
        assert re.search(r'modelplane_serving_model_loaded\{model="seven",version="1"\} 1',
                         text)


def _served_in(path: Path) -> int:
    data = orjson.loads(path.read_bytes())
    return sum(n for model, _, status, n in data["requests"]
               if model == "seven" and status == 200)
