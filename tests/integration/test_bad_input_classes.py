"""The classes of bad input that gave 500s (issue 18 item 5), each closed where every
route meets it: integers past 64 bits anywhere in a JSON body, absurd timestamps in
prediction records, input with missing values that the model refuses (a 4xx, counted as
one, failing no other request batched with it), and the upload body limit applying only
to upload routes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelplane.core.errors import InvalidArgumentError

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
BIG = 2**64 + 1


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any, str]]:
    """A TestClient on an app serving a scikit-learn model that refuses NaN, the client,
    and a run id."""
    import numpy as np
    import pandas as pd
    from fastapi.testclient import TestClient
    from sklearn.linear_model import LogisticRegression

    from modelplane.client import Client
    from modelplane.core.config import Settings
    from modelplane.server.app import create_app

    home: Path = tmp_path_factory.mktemp("badinput") / "home"
    settings = Settings(home=home, prediction_log_process=False, max_request_bytes=100_000)
    client = Client(settings)
    frame = pd.DataFrame(np.random.default_rng(0).random((30, 3)), columns=["a", "b", "c"])
    run = client.tracking.start_run("exp")
    model = LogisticRegression().fit(frame, (frame["a"] > 0.5).astype(int))
    client.log_model(run.id, model, "clf", input_example=frame[:2])
    with TestClient(create_app(settings, serve=["models:/clf/1"]),
                    raise_server_exceptions=False) as http:
        deadline = time.monotonic() + 60
        while http.get("/v2/health/ready").status_code != 200:
            assert time.monotonic() < deadline, "the model did not load"
            time.sleep(0.1)
        yield http, client, run.id


def _error(response: Any) -> dict[str, Any]:
    assert response.status_code == 422, (response.status_code, response.text)
    return response.json()["error"]  # type: ignore[no-any-return]


def test_integers_past_64_bits_are_a_422_naming_the_field(served: Any) -> None:
    http, _, run_id = served
    step = _error(http.post(f"/api/v1/runs/{run_id}/metrics",
                            json={"key": "k", "value": 1.0, "step": BIG}))
    assert step["details"]["field"] == "step" and "64 bits" in step["message"]
    batch = _error(http.post(f"/api/v1/runs/{run_id}/metrics",
                             json=[{"key": "k", "value": 1.0, "step": 1},
                                   {"key": "k", "value": -(2**70), "step": 2}]))
    assert batch["details"]["field"] == "1.value"
    profile = _error(http.post(f"/api/v1/runs/{run_id}/datasets", json={
        "name": "d", "digest": "a" * 64, "profile": {"columns": {"x": {"max": BIG}}}}))
    assert profile["details"]["field"] == "profile.columns.x.max"
    metadata = _error(http.patch("/api/v1/models/clf/versions/1",
                                 json={"metadata": {"n": [1, BIG]}}))
    assert metadata["details"]["field"] == "metadata.n.1"
    # the MLflow API too, in its own error format
    got = http.get("/api/2.0/mlflow/model-versions/get",
                   params={"name": "clf", "version": str(2**63)})
    assert got.status_code == 400 and got.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    # nothing half-written: the refused batch stored neither of its metrics
    assert http.get(f"/api/v1/runs/{run_id}/metrics/k/history").status_code == 404


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", 1e308,
                                  -1e12, 4102444800.0])
def test_absurd_prediction_times_are_refused(served: Any, when: Any) -> None:
    http, client, _ = served
    error = _error(http.post("/api/v1/monitoring/clf/predictions", json={"records": [
        {"request_id": "ok-1", "inputs": {"a": 1}}, {"request_id": "odd", "time": when}]}))
    assert error["details"]["field"] == "records[1]" and "time" in error["message"]
    with pytest.raises(InvalidArgumentError, match="time"):
        client.monitoring.log_predictions([{"request_id": "odd", "model": "clf",
                                            "time": when}])
    # nothing half-written: the good record of the refused batch is not there either
    assert client.monitoring.prediction_log("clf", "1h", request_id="ok-1") == []


def test_input_the_model_refuses_is_a_4xx_counted_as_a_client_error(served: Any) -> None:
    http, _, _ = served
    nulls = {"a": None, "b": None, "c": None}
    for body in (nulls, [nulls]):
        error = _error(http.post("/predict/clf", json=body))
        assert error["code"] == "invalid_input" and "missing values" in error["message"]
    metrics = http.get("/metrics").text
    counted = [line for line in metrics.splitlines()
               if line.startswith("modelplane_serving_requests_total") and 'model="clf"' in line]
    assert any('status="422"' in line for line in counted), counted
    assert not any('status="500"' in line for line in counted), counted


def test_one_bad_request_in_a_batch_fails_only_itself() -> None:
    from modelplane.serving.batching import DynamicBatcher

    def fn(items: list[Any]) -> list[Any]:
        if any(i is None for i in items):
            raise ValueError("cannot take None")
        return [i * 2 for i in items]

    async def main() -> list[Any]:
        batcher = DynamicBatcher(fn, max_batch_size=8, max_wait=0.05)
        batcher.start()
        futures = [batcher.submit(i) for i in (1, None, 3)]
        out = await asyncio.gather(*futures, return_exceptions=True)
        await batcher.close()
        return out

    good, bad, other = asyncio.run(main())
    assert (good, other) == (2, 6)
    assert isinstance(bad, ValueError)


def test_upload_limit_applies_only_to_upload_routes(served: Any) -> None:
    http, _, run_id = served
    body = b"x" * 200_000  # over this app's 100 kB request limit
    for path in ("/api/v1/models/artifacts/tags/k", "/api/v1/runs/artifacts/tags",
                 "/api/v1/experiments/artifacts/x/artifacts/y"):
        got = http.put(path, content=body, headers={"content-type": "application/json"})
        assert got.status_code == 413, (path, got.status_code)
    upload = http.put(f"/api/v1/runs/{run_id}/artifacts/big.bin", content=body)
    assert upload.status_code in (200, 201), upload.text
