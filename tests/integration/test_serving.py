"""``modelplane serve`` as a real server on a loopback port: the Open Inference Protocol,
``/predict``, bad input, limits, a model that raises, hot swap under load, ``/metrics``,
and tritonclient (a client nobody here wrote)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from modelplane.client import Client
from modelplane.core.config import Settings
from tests.integration.conftest import cli, free_port

# these tests serve python-flavor models they define: pickles, loaded under the opt-in
pytestmark = pytest.mark.usefixtures("trust_pickles")

LIMIT = 100_000


def _constant(value: float) -> Any:
    class Constant:  # defined in a function: pickled by value, loads in the server
        def predict(self, x: Any) -> Any:
            return np.full(len(x), value)

    return Constant()


def _raises_on_negative() -> Any:
    class Fragile:
        def predict(self, x: Any) -> Any:
            if (np.asarray(x)[:, 0] < 0).any():
                raise ValueError("negative input")
            return np.asarray(x)[:, 0] * 2

    return Fragile()


class Served:
    def __init__(self, url: str, client: Client, frame: Any, forest: Any) -> None:
        self.url, self.registry_client, self.frame, self.forest = url, client, frame, forest

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier

    home = tmp_path_factory.mktemp("serving") / "home"
    client = Client(Settings(home=home))
    frame, target = load_breast_cancer(return_X_y=True, as_frame=True)
    forest = RandomForestClassifier(n_estimators=10, random_state=0).fit(frame, target)
    client.log_model(None, forest, "cancer", input_example=frame[:5], stage="production")
    client.log_model(None, _raises_on_negative(), "fragile", input_example=np.ones((1, 3)),
                     stage="production")
    client.log_model(None, _constant(1.0), "swap", input_example=np.ones((1, 2)),
                     stage="production")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELPLANE_")}
    env.update(MODELPLANE_HOME=str(home), MODELPLANE_SERVING_POLL_SECONDS="0.2",
               MODELPLANE_MAX_REQUEST_BYTES=str(LIMIT),
               MODELPLANE_ALLOW_PICKLE="true")  # fragile and swap are python models
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelplane", "serve", "models:/cancer@production",
         "models:/fragile@production", "models:/swap@production", "--cache-size", "1000",
         "--port", str(port), "--log-level", "warning"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120  # a busy machine: the first skops import is slow
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"serve exited: {proc.stdout.read() if proc.stdout else ''}")
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("serve did not become ready in 120 s")
        time.sleep(0.1)
    yield Served(url, client, frame, forest)
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout:
        proc.stdout.close()


def _columns(frame: Any, rows: slice) -> list[dict[str, Any]]:
    part = frame[rows]
    return [{"name": c, "shape": [len(part)], "datatype": "FP64",
             "data": part[c].tolist()} for c in frame.columns]


def test_health_and_metadata_from_the_signature(served: Served) -> None:
    with served.http() as http:
        assert http.get("/v2/health/live").status_code == 200
        assert http.get("/v2/health/ready").json() == {"ready": True}
        server = http.get("/v2").json()
        assert server["name"] == "modelplane" and "binary_tensor_data" in server["extensions"]
        meta = http.get("/v2/models/cancer")
        assert meta.status_code == 200 and meta.headers["x-model-version"] == "1"
        body = meta.json()
        assert body["versions"] == ["1"] and body["platform"] == "modelplane_sklearn"
        assert [i["name"] for i in body["inputs"]] == list(served.frame.columns)
        assert body["inputs"][0] == {"name": "mean radius", "datatype": "FP64", "shape": [-1]}
        assert body["outputs"] == [
            {"name": "label", "datatype": "INT64", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP64", "shape": [-1, 2]}]
        assert http.get("/v2/models/cancer/versions/1").status_code == 200
        assert http.get("/v2/models/cancer/ready").json()["ready"] is True
        assert http.get("/v2/models/cancer/versions/1/ready").status_code == 200


def test_oip_infer_by_columns_and_as_one_tensor(served: Served) -> None:
    frame, forest = served.frame, served.forest
    with served.http() as http:
        by_columns = http.post("/v2/models/cancer/infer",
                               json={"id": "q1", "inputs": _columns(frame, slice(0, 3))},
                               headers={"x-request-id": "trace-7"})
        one_tensor = http.post("/v2/models/cancer/versions/1/infer", json={"inputs": [
            {"name": "x", "shape": [3, 30], "datatype": "FP64",
             "data": frame[:3].to_numpy().tolist()}]})
    for answer in (by_columns, one_tensor):
        assert answer.status_code == 200, answer.text
        assert answer.headers["x-model-version"] == "1"
        outputs = {o["name"]: o for o in answer.json()["outputs"]}
        assert outputs["label"]["data"] == forest.predict(frame[:3]).tolist()
        assert outputs["probabilities"]["shape"] == [3, 2]
    assert by_columns.json()["id"] == "q1" and by_columns.headers["x-request-id"] == "trace-7"
    assert len(one_tensor.headers["x-request-id"]) == 32


def test_predict_records(served: Served) -> None:
    frame, forest = served.frame, served.forest
    records = frame[:4].to_dict(orient="records")
    with served.http() as http:
        one = http.post("/predict/cancer", json=records[0])
        many = http.post("/predict/cancer", json=records)
    assert one.status_code == 200 and many.status_code == 200
    assert one.headers["x-model-version"] == "1" and "x-request-id" in one.headers
    body = many.json()
    assert body["model"] == "cancer" and body["version"] == 1
    assert body["predictions"] == forest.predict(frame[:4]).tolist()
    assert np.allclose(body["probabilities"], forest.predict_proba(frame[:4]))
    assert body["classes"] == [0, 1]
    assert one.json()["predictions"] == body["predictions"][:1]


def test_bad_input_is_4xx_naming_the_input(served: Served) -> None:
    record = served.frame.iloc[0].to_dict()
    missing = {k: v for k, v in record.items() if k != "mean area"}
    with served.http() as http:
        answers = {
            "missing": http.post("/predict/cancer", json=missing),
            "dtype": http.post("/predict/cancer", json={**record, "mean area": "big"}),
            "shape": http.post("/predict/cancer", json={**record, "mean area": [1, 2]}),
            "not json": http.post("/predict/cancer", content=b"{nope"),
            "scalar": http.post("/predict/cancer", json=3),
            "model": http.post("/predict/nosuch", json=record),
            "method": http.get("/predict/cancer"),
        }
        oip = {
            "features": http.post("/v2/models/cancer/infer", json={"inputs": [
                {"name": "x", "shape": [1, 29], "datatype": "FP64", "data": [0.0] * 29}]}),
            "missing": http.post("/v2/models/cancer/infer",
                                 json={"inputs": _columns(served.frame, slice(0, 1))[1:]}),
            "datatype": http.post("/v2/models/cancer/infer", json={"inputs": [
                {**c, "datatype": "BYTES", "data": ["a"]} if c["name"] == "mean area" else c
                for c in _columns(served.frame, slice(0, 1))]}),
            "count": http.post("/v2/models/cancer/infer", json={"inputs": [
                {"name": "x", "shape": [2, 30], "datatype": "FP64", "data": [0.0] * 30}]}),
            "output": http.post("/v2/models/cancer/infer", json={
                "inputs": _columns(served.frame, slice(0, 1)), "outputs": [{"name": "nope"}]}),
            "model": http.post("/v2/models/nosuch/infer", json={"inputs": []}),
            "version": http.post("/v2/models/cancer/versions/7/infer", json={"inputs": []}),
            "route": http.get("/v2/models/cancer/whatever"),
        }
    detail = answers["missing"].json()["error"]
    assert answers["missing"].status_code == 422 and detail["details"]["field"] == "mean area"
    assert "mean area" in detail["message"] and "missing" in detail["message"]
    dtype = answers["dtype"].json()["error"]
    assert answers["dtype"].status_code == 422 and "mean area" in dtype["message"]
    assert dtype["details"]["expected"] == "float64"
    assert answers["shape"].status_code == 422
    assert answers["not json"].status_code == 400 and answers["scalar"].status_code == 422
    assert answers["model"].status_code == 404 and "nosuch" in answers["model"].text
    assert answers["method"].status_code == 405
    for name, answer in oip.items():
        assert 400 <= answer.status_code < 500, (name, answer.text)
        assert isinstance(answer.json()["error"], str), name  # the protocol's error shape
    assert "[-1, 30]" in oip["features"].json()["error"]
    assert "'mean radius' is missing" in oip["missing"].json()["error"]
    assert "mean area" in oip["datatype"].json()["error"]
    assert "needs 60 values, got 30" in oip["count"].json()["error"]
    assert "unknown output 'nope'" in oip["output"].json()["error"]
    assert oip["model"].status_code == 404 and oip["version"].status_code == 404
    assert "version 7" in oip["version"].json()["error"]


def test_body_over_the_limit_is_413(served: Served) -> None:
    big = b"[" + b"1," * (LIMIT // 2) + b"1]"
    with served.http() as http:
        plain = http.post("/predict/cancer", content=big)
        streamed = http.post("/v2/models/cancer/infer", content=iter([big[:60_000],
                                                                       big[60_000:]]))
        assert http.post("/predict/cancer", json=served.frame.iloc[0].to_dict()
                         ).status_code == 200
    assert plain.status_code == 413 and plain.json()["error"]["details"]["limit_bytes"] == LIMIT
    assert streamed.status_code == 413 and str(LIMIT) in streamed.json()["error"]


def test_a_model_that_raises_is_500_with_the_request_id_and_serving_goes_on(
        served: Served) -> None:
    with served.http() as http:
        failed = http.post("/predict/fragile", json={"input": [-1.0, 0.0, 0.0]},
                           headers={"x-request-id": "req-boom"})
        oip_failed = http.post("/v2/models/fragile/infer", json={"inputs": [
            {"name": "input", "shape": [1, 3], "datatype": "FP64", "data": [-1, 0, 0]}]})
        fine = http.post("/predict/fragile", json=[{"input": [2.0, 0.0, 0.0]}])
        other = http.post("/predict/cancer", json=served.frame.iloc[1].to_dict())
    assert failed.status_code == 500
    error = failed.json()["error"]
    assert "req-boom" in error["message"] and error["details"]["request_id"] == "req-boom"
    assert "negative input" in error["message"] and failed.headers["x-request-id"] == "req-boom"
    assert oip_failed.status_code == 500
    assert oip_failed.headers["x-request-id"] in oip_failed.json()["error"]
    assert fine.status_code == 200 and fine.json()["predictions"] == [4.0]
    assert other.status_code == 200


@pytest.mark.slow
def test_hot_swap_when_production_moves_fails_no_request(served: Served) -> None:
    stop = threading.Event()
    logs: list[list[tuple[int, str, Any]]] = [[] for _ in range(4)]

    def load(log: list[tuple[int, str, Any]]) -> None:
        with served.http() as http:
            while not stop.is_set():
                answer = http.post("/predict/swap", json={"input": [0.5, 0.5]})
                body = answer.json()
                log.append((answer.status_code, answer.headers.get("x-model-version", ""),
                            body.get("predictions", body)))

    threads = [threading.Thread(target=load, args=(log,)) for log in logs]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.3)
        registry = served.registry_client
        version = served.registry_client.log_model(None, _constant(2.0), "swap",
                                                   input_example=np.ones((1, 2)))
        registry.registry.set_stage("swap", version.version, "production")
        deadline = time.monotonic() + 30
        while not any(entry[1] == "2" for log in logs for entry in log[-3:]):
            assert time.monotonic() < deadline, "the server never swapped"
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    entries = [entry for log in logs for entry in log]
    assert entries and all(status == 200 for status, _, _ in entries), [
        e for e in entries if e[0] != 200][:5]
    assert {v for _, v, _ in entries} == {"1", "2"}
    for _, version_header, predictions in entries:  # each answer from the version it names
        assert predictions == [float(version_header)]
    for log in logs:  # per client, once on version 2, never back
        versions = [v for _, v, _ in log]
        assert versions == sorted(versions)


def test_metrics(served: Served) -> None:
    with served.http() as http:
        for _ in range(3):
            http.post("/predict/cancer", json=served.frame.iloc[5].to_dict())
        http.post("/predict/cancer", json={"nothing": 1})
        text = http.get("/metrics")
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/plain")
    body = text.text
    for line in ('modelplane_serving_requests_total{model="cancer",status="200",version="1"}',
                 'modelplane_serving_requests_total{model="cancer",status="422",version="1"}',
                 'modelplane_serving_request_duration_seconds_bucket{le="+Inf",model="cancer"}',
                 'modelplane_serving_batch_size_count{model="cancer"}',
                 'modelplane_serving_queue_depth{model="cancer"} 0.0',
                 'modelplane_serving_cache_hits_total{model="cancer"}',
                 'modelplane_serving_cache_misses_total{model="cancer"}',
                 'modelplane_serving_model_load_duration_seconds{model="cancer",version="1"}',
                 'modelplane_serving_model_loaded{model="cancer",version="1"} 1.0'):
        assert line in body, line
    hits = [ln for ln in body.splitlines()
            if ln.startswith('modelplane_serving_cache_hits_total{model="cancer"}')]
    assert float(hits[0].split()[-1]) >= 2


def test_tritonclient_infers_against_our_server(served: Served) -> None:
    httpclient = pytest.importorskip("tritonclient.http")
    frame, forest = served.frame, served.forest
    triton = httpclient.InferenceServerClient(url=served.url.removeprefix("http://"))
    try:
        assert triton.is_server_live() and triton.is_server_ready()
        assert triton.is_model_ready("cancer")
        meta = triton.get_model_metadata("cancer")
        assert meta["inputs"][0]["name"] == "mean radius"
        rows = frame[:4].to_numpy()
        binary = httpclient.InferInput("x", list(rows.shape), "FP64")
        binary.set_data_from_numpy(rows)  # binary tensor extension
        result = triton.infer("cancer", [binary])  # outputs binary by default
        assert result.as_numpy("label").tolist() == forest.predict(frame[:4]).tolist()
        assert result.as_numpy("probabilities").shape == (4, 2)
        columns = []
        for name in frame.columns:  # JSON tensors, one per signature column
            tensor = httpclient.InferInput(name, [4], "FP64")
            tensor.set_data_from_numpy(frame[name].to_numpy()[:4], binary_data=False)
            columns.append(tensor)
        wanted = [httpclient.InferRequestedOutput("label", binary_data=False)]
        answer = triton.infer("cancer", columns, model_version="1", outputs=wanted)
        assert answer.as_numpy("label").tolist() == forest.predict(frame[:4]).tolist()
        assert answer.as_numpy("probabilities") is None
        with pytest.raises(Exception, match="unknown input"):
            bad = httpclient.InferInput("x", [1, 3], "FP64")
            bad.set_data_from_numpy(np.zeros((1, 3)))
            triton.infer("cancer", [bad])
    finally:
        triton.close()


def test_serve_refuses_unknown_models_on_one_line(mp_home: Path) -> None:
    result = cli("serve", "models:/nosuch@production", "--port", str(free_port()))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "nosuch" in lines[0]
    bad = cli("serve", "not a uri")
    assert bad.returncode == 1 and "invalid model URI" in bad.stderr


def test_serve_help_lists_the_options() -> None:
    result = cli("serve", "--help")
    assert result.returncode == 0
    for option in ("--port", "--workers", "--max-batch-size", "--max-wait-ms",
                   "--cache-size", "--format"):
        assert option in result.stdout
    assert json.loads(json.dumps({"ok": True}))


def test_served_predictions_reach_the_monitoring_log(served: Served) -> None:
    """Every answer (and every model failure) is logged off the request path, joined to
    its request id, so health and delayed labels work on served traffic."""
    records = served.frame[:1].to_dict(orient="records")
    monitoring = served.registry_client.monitoring
    before = monitoring.health("cancer", "1h").overall.requests  # earlier tests' traffic
    with served.http() as http:
        for i in range(20):
            r = http.post("/predict/cancer", json=records, headers={"x-request-id": f"mon-{i}"})
            assert r.status_code == 200
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        health = monitoring.health("cancer", "1h")
        if health.overall.requests >= before + 20:
            break
        time.sleep(0.3)
    assert health.overall.requests >= before + 20
    joined = monitoring.log_labels("cancer", [{"request_id": f"mon-{i}", "label": 1}
                                              for i in range(20)])
    accepted = joined["accepted"] if isinstance(joined, dict) else joined.accepted
    assert accepted == 20


def test_oip_is_strict_as_triton_is(served: Served) -> None:
    """Datatypes as advertised (or safely widened), values in range, ids as sent, and one
    answer for what the server does not implement, through tritonclient and raw HTTP."""
    httpclient = pytest.importorskip("tritonclient.http")
    from tritonclient.utils import InferenceServerException

    frame, forest = served.frame, served.forest
    triton = httpclient.InferenceServerClient(url=served.url.removeprefix("http://"))
    try:
        advertised = {i["name"]: i["datatype"]
                      for i in triton.get_model_metadata("cancer")["inputs"]}
        assert set(advertised.values()) == {"FP64"}

        def tensors(datatype: str, cast: str) -> list[Any]:
            out = []
            for name in frame.columns:
                tensor = httpclient.InferInput(name, [2], datatype)
                tensor.set_data_from_numpy(frame[name].to_numpy()[:2].astype(cast),
                                           binary_data=False)
                out.append(tensor)
            return out

        exact = triton.infer("cancer", tensors("FP64", "float64"))  # as advertised
        assert exact.as_numpy("label").tolist() == forest.predict(frame[:2]).tolist()
        widened = triton.infer("cancer", tensors("FP32", "float32"))  # FP32 -> FP64
        assert widened.as_numpy("label").shape == (2,)
        with pytest.raises(InferenceServerException,
                           match="input 'mean radius': datatype INT64 does not match the "
                                 "model's FP64") as refused:
            triton.infer("cancer", tensors("INT64", "int64"))
        assert refused.value.status() == "400"
        for probe in (triton.get_model_repository_index,
                      lambda: triton.get_model_config("cancer"),
                      lambda: triton.get_inference_statistics("cancer")):
            with pytest.raises(InferenceServerException, match="no such endpoint"):
                probe()
    finally:
        triton.close()
    columns = _columns(frame, slice(0, 1))
    with served.http() as http:
        overflow = http.post("/v2/models/cancer/infer", json={"inputs": [
            {**c, "datatype": "FP32", "data": [1e39]} if c["name"] == "mean area" else c
            for c in columns]})
        assert overflow.status_code == 400
        assert overflow.json() == {"error": "input 'mean area': value 1e+39 is out of range "
                                            "for FP32"}
        too_big = http.post("/v2/models/cancer/infer", content=json.dumps(
            {"inputs": columns}).replace("[" + json.dumps(columns[0]["data"][0]) + "]",
                                         "[1e400]", 1),
            headers={"content-type": "application/json"})
        assert too_big.status_code == 400 and isinstance(too_big.json()["error"], str)
        ragged = http.post("/v2/models/cancer/infer", json={"inputs": [
            {**c, "shape": [2], "data": c["data"] * 2} if c["name"] == "mean area" else c
            for c in columns]})
        assert ragged.status_code == 400 and "different batch sizes" in ragged.json()["error"]
        numbered = http.post("/v2/models/cancer/infer", json={"id": 42, "inputs": columns})
        assert numbered.status_code == 200 and numbered.json()["id"] == 42
        for path in ("/v2/repository/index", "/v2/models/cancer/config",
                     "/v2/models/cancer/stats", "/v2/models/cancer/versions/1/stats"):
            for method in ("GET", "POST", "PUT", "DELETE"):
                answer = http.request(method, path)
                assert answer.status_code == 404, (method, path, answer.text)
                assert isinstance(answer.json()["error"], str)
        assert http.delete("/v2/models/cancer").status_code == 405
        assert http.get("/v2/models/cancer/infer").status_code == 405
