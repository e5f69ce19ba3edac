"""The model runtime in process: load by URI, verify, warm up, hot swap, hooks."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelplane.client import Client
from modelplane.core.errors import IntegrityCheckError, InvalidArgumentError, NotFoundError
from modelplane.serving.loading import load_version
from modelplane.serving.runtime import ModelRuntime, ServeSpec

# these tests serve python-flavor models they define: pickles, loaded under the opt-in
pytestmark = pytest.mark.usefixtures("trust_pickles")


class Constant:
    """A python model answering ``value`` for every row (tells versions apart)."""

    def __init__(self, value: float, fail: bool = False) -> None:
        self.value = value
        self.fail = fail

    def predict(self, x: Any) -> Any:
        if self.fail:
            raise RuntimeError("broken model")
        return np.full(len(x), self.value)


def log(client: Client, model: Any, example: Any, name: str = "m", **kw: Any) -> Any:
    return client.log_model(None, model, name, input_example=example, **kw)


def wait_for(condition: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_app_serves_a_version_only_after_warm_up(forest: Any, cancer: Any) -> None:
    from fastapi.testclient import TestClient

    from modelplane.server.app import create_app

    frame, _ = cancer
    client = Client()
    log(client, forest, frame[:5], "cancer", stage="production")
    app = create_app(serve=["models:/cancer@production"], serving={"cache_size": 10})
    with TestClient(app) as http:
        wait_for(lambda: http.get("/v2/health/ready").status_code == 200)
        served = app.state.serving.models["cancer"]
        assert served.current.fast_path == "forest"
        answer = http.post("/predict/cancer", json=frame.iloc[3].to_dict())
        again = http.post("/predict/cancer", json=frame.iloc[3].to_dict())
        assert answer.json() == again.json()
        assert answer.json()["predictions"] == forest.predict(frame[3:4]).tolist()
        assert served.cache.hits == 1 and served.cache.misses == 1
        assert "modelplane_serving_cache_hits_total{model=\"cancer\"} 1.0" in (
            http.get("/metrics").text)


def test_damaged_cache_copy_is_fetched_again_and_a_damaged_store_refused(
        forest: Any, cancer: Any) -> None:
    client = Client()
    version = log(client, forest, cancer[0][:5])
    root = client.models.fetch(version.artifact_digest)
    pickle_file = root / "model" / "model.skops"
    pickle_file.write_bytes(b"tampered")
    loaded = load_version(client.models, version)  # re-fetched, verified, loads
    assert loaded.example is not None and pickle_file.read_bytes() != b"tampered"
    for entry in client.artifacts.read_tree(version.artifact_digest):
        if entry["path"] == "model/model.skops":
            blob = Path(client.artifacts._blob_path(entry["digest"]))
            blob.write_bytes(b"tampered in the store")
    pickle_file.write_bytes(b"tampered")
    with pytest.raises(IntegrityCheckError):
        load_version(client.models, version)


async def _swap_under_load(client: Client, example: Any) -> tuple[list[int], list[Any]]:
    runtime = ModelRuntime(["models:/m@production"], models=client.models, poll_seconds=0.05)
    await runtime.start()
    await runtime.wait_ready()
    seen: list[int] = []
    failures: list[Any] = []
    stop = asyncio.Event()

    async def load() -> None:
        while not stop.is_set():
            try:
                handle = runtime.get("m")
                handle.inflight += 1
                try:
                    result = await handle.infer(handle.model.prepare(example))
                finally:
                    handle.inflight -= 1
                seen.append(int(result[0][0]))
            except Exception as exc:  # any failure fails the test
                failures.append(exc)
            await asyncio.sleep(0)

    workers = [asyncio.create_task(load()) for _ in range(4)]
    await asyncio.sleep(0.2)
    await asyncio.to_thread(client.registry.set_stage, "m", 2, "production")
    deadline = asyncio.get_running_loop().time() + 20
    while runtime.models["m"].current.number != 2 or runtime.models["m"].retiring:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.1)
    stop.set()
    await asyncio.gather(*workers)
    await runtime.stop()
    return seen, failures


def test_hot_swap_when_the_stage_moves_loses_no_request() -> None:
    client = Client()
    example = np.ones((1, 3))
    log(client, Constant(1.0), example, stage="production")
    log(client, Constant(2.0), example)
    seen, failures = asyncio.run(_swap_under_load(client, example))
    assert failures == []
    assert seen[0] == 1 and seen[-1] == 2
    switched = seen.index(2)
    assert set(seen[switched + 8:]) == {2}  # after the swap (and the in-flight), only v2


class Flaky(Constant):
    """Works when logged; breaks once ``Flaky.broken`` is set (as a bad release would)."""

    broken = False

    def predict(self, x: Any) -> Any:
        if Flaky.broken:
            raise RuntimeError("broken model")
        return super().predict(x)


def test_a_version_that_fails_warm_up_is_not_swapped_in(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    client = Client()
    example = np.ones((1, 3))
    log(client, Constant(1.0), example, stage="production")
    log(client, Flaky(2.0), example)
    monkeypatch.setattr(Flaky, "broken", True)

    async def main() -> None:
        runtime = ModelRuntime(["m@production"], models=client.models, poll_seconds=0.05)
        await runtime.start()
        await runtime.wait_ready()
        await asyncio.to_thread(client.registry.set_stage, "m", 2, "production")
        await asyncio.sleep(0.5)
        served = runtime.models["m"]
        assert served.current.number == 1 and served.error is None
        handle = runtime.get("m")
        assert (await handle.infer(handle.model.prepare(example)))[0].tolist() == [1.0]
        await runtime.stop()

    asyncio.run(main())
    failures = [r for r in caplog.records if "failed its warm-up" in r.getMessage()]
    assert len(failures) == 1  # logged once, not retried until the stage moves again
    assert "still serving version 1" in failures[0].getMessage()


def test_broken_version_at_start_reports_not_ready() -> None:
    client = Client()
    example = np.ones((1, 3))
    version = log(client, Constant(1.0), example)
    client.artifacts.delete(version.artifact_digest)

    async def main() -> None:
        runtime = ModelRuntime(["m:1"], models=client.models, poll_seconds=0.05)
        await runtime.start()
        await asyncio.sleep(0.5)
        assert not runtime.ready
        with pytest.raises(Exception, match="not ready"):
            runtime.get("m")
        with pytest.raises(NotFoundError, match="not served here"):
            runtime.get("other")
        await runtime.stop()

    asyncio.run(main())


def test_serving_the_onnx_form(forest: Any, cancer: Any) -> None:
    pytest.importorskip("skl2onnx")
    frame, _ = cancer
    client = Client()
    log(client, forest, frame[:5], onnx=True)

    async def main() -> None:
        runtime = ModelRuntime([ServeSpec("m:1", format="onnx")], models=client.models)
        await runtime.start()
        await runtime.wait_ready()
        handle = runtime.get("m")
        assert handle.model.flavor == "onnx" and handle.fast_path == "onnx"
        labels, _ = await handle.infer(handle.model.prepare(frame[:10]))
        assert np.array_equal(labels, forest.predict(frame[:10]))
        await runtime.stop()

    asyncio.run(main())
    with pytest.raises(InvalidArgumentError, match="no 'onnx' form"):
        load_version(client.models, log(client, forest, frame[:5]), fmt="onnx")


def test_feature_service_hook() -> None:
    from modelplane.serving.features import feature_lookup_factory

    # with the feature store's lookup, an unknown service is refused at once
    client = Client()
    with pytest.raises(NotFoundError, match="feature service 'churn_fs' not found"):
        ModelRuntime([ServeSpec("m@production", feature_service="churn_fs")],
                     models=client.models,
                     feature_lookup=feature_lookup_factory(lambda: client.features))

    class Lookup:
        def enrich(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [{**r, "extra": 1.0} for r in records]

    runtime = ModelRuntime([ServeSpec("m@production", feature_service="churn_fs")],
                           models=client.models, feature_lookup=lambda name: Lookup())
    assert runtime.models["m"].features is not None


@pytest.mark.parametrize(("field", "value"), [
    ("max_batch_size", 0), ("max_wait_ms", -1), ("cache_size", -1), ("processes", -1),
    ("format", "tflite"), ("autocast", "fp8")])
def test_serve_spec_validation(field: str, value: Any) -> None:
    with pytest.raises(InvalidArgumentError, match=field):
        ServeSpec("m@production", **{field: value})
    with pytest.raises(InvalidArgumentError, match="invalid model URI"):
        ServeSpec("not a uri")


def test_the_same_model_twice_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="served twice"):
        ModelRuntime(["m@production", "m@staging"], models=Client().models)


class WhereAmI:
    """Answers the id of the process that ran it."""

    def predict(self, x: Any) -> Any:
        import os

        return np.full(len(x), os.getpid())


def test_a_process_pool_runs_cpu_bound_python_models() -> None:
    import os

    client = Client()
    example = np.ones((1, 2))
    log(client, WhereAmI(), example)

    async def main() -> set[int]:
        runtime = ModelRuntime([ServeSpec("m:1", processes=2)], models=client.models)
        await runtime.start()
        await runtime.wait_ready(timeout=120)
        handle = runtime.get("m")
        answers = await asyncio.gather(*(handle.infer(handle.model.prepare(example * i))
                                         for i in range(50)))
        await runtime.stop()
        return {int(a[0][0]) for a in answers}

    pids = asyncio.run(main())
    assert pids and os.getpid() not in pids and len(pids) <= 2


def test_records_with_text_columns_go_through_dataframes(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame = pd.DataFrame({"plan": ["a", "b", "a", "c"] * 10, "usage": np.arange(40.0)})
    target = (frame["usage"] > 20).astype(int)
    model = make_pipeline(make_column_transformer((OneHotEncoder(), ["plan"]),
                                                  remainder="passthrough"),
                          LogisticRegression()).fit(frame, target)
    client = Client()
    log(client, model, frame[:3])

    async def main() -> list[Any]:
        runtime = ModelRuntime(["m:1"], models=client.models)
        await runtime.start()
        await runtime.wait_ready()
        handle = runtime.get("m")
        records = [{"plan": "b", "usage": 30.0}, {"plan": "a", "usage": 1}]
        answers = await asyncio.gather(*(handle.infer(handle.model.prepare(r))
                                         for r in records))
        await runtime.stop()
        return [int(a[0][0]) for a in answers]

    assert asyncio.run(main()) == [1, 0]


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_an_unexpected_error_is_a_500_naming_the_request_id(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient

    from modelplane.server.app import create_app
    from modelplane.server.routes import predict_routes

    client = Client()
    log(client, Constant(1.0), np.ones((1, 2)))

    def broken(body: bytes) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(predict_routes, "records", broken)
    with TestClient(create_app(serve=["m:1"], serving_only=True)) as http:
        wait_for(lambda: http.get("/v2/health/ready").status_code == 200)
        answer = http.post("/predict/m", json={"input": [1, 2]},
                           headers={"x-request-id": "bug-1"})
        assert answer.status_code == 500 and answer.headers["x-request-id"] == "bug-1"
        assert answer.json()["error"]["details"]["request_id"] == "bug-1"
        assert http.get("/api/v1/health").status_code == 200  # serving-only lets health by
        assert http.get("/api/v1/models").status_code == 404  # and nothing else
        assert http.post("/v2/models/m/infer", json={"inputs": [
            {"name": "input", "shape": [1, 2], "datatype": "FP64", "data": [1, 2]}]}
        ).json()["outputs"][0]["data"] == [1.0]
