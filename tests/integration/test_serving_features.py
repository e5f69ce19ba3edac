"""Serve-time features: a served model names a FeatureService, requests carry entity keys,
the server reads the online store and builds the model input (``?explain=features``)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pytest

from modelplane.client import Client
from modelplane.core.config import Settings
from tests.integration.conftest import cli, free_port

# these tests serve python-flavor models they define: pickles, loaded under the opt-in
pytestmark = pytest.mark.usefixtures("trust_pickles")

pd = pytest.importorskip("pandas")
T0 = datetime(2024, 1, 1, tzinfo=UTC)


class Doubler:
    """Predicts 2 * x + y, so the answer shows which feature values the model saw."""

    def predict(self, frame: object) -> object:
        data = np.asarray(frame, dtype=float)
        return 2 * data[:, 0] + data[:, 1]


def _seed(home: Path) -> Client:
    from modelplane.features import Entity, FeatureService, FeatureView, Field, Float64

    client = Client(Settings(home=home))
    rows = pd.DataFrame({"user_id": [1, 2, 3], "x": [10.0, 20.0, 30.0], "y": [1.0, 2.0, 3.0],
                         "event_timestamp": [pd.Timestamp(T0)] * 3})
    user = Entity("user", join_keys=["user_id"])
    view = FeatureView("user_stats", entities=[user], source=rows,
                       schema=[Field("x", Float64), Field("y", Float64)])
    client.features.apply([view, FeatureService("scoring", [view])])
    client.features.materialize(T0, datetime.now(UTC), ["user_stats"], progress=False)
    example = pd.DataFrame({"x": [10.0], "y": [1.0]})
    client.log_model(None, Doubler(), "scorer", input_example=example, flavor="python",
                     stage="production")
    return client


def test_requests_with_entity_keys_get_online_features(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _seed(home)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELPLANE_")}
    env["MODELPLANE_HOME"] = str(home)
    env["MODELPLANE_ALLOW_PICKLE"] = "true"  # the scorer is a python-flavor pickle
    proc = subprocess.Popen([sys.executable, "-m", "modelplane", "serve",
                             "models:/scorer@production", "--feature-service", "scoring",
                             "--port", str(port), "--log-level", "warning"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        with httpx.Client(base_url=url, timeout=30) as http:
            one = http.post("/predict/scorer", json={"user_id": 2})
            assert one.status_code == 200, one.text
            assert one.json()["predictions"] == [42.0]
            many = http.post("/predict/scorer?explain=features",
                             json=[{"user_id": 1}, {"user_id": 3}])
            body = many.json()
            assert body["predictions"] == [21.0, 63.0]
            assert body["features"] == [{"user_id": 1, "x": 10.0, "y": 1.0},
                                        {"user_id": 3, "x": 30.0, "y": 3.0}]
            # no features online for that user: nulls, as the store reports them (a model
            # that cannot take nulls answers with its own error naming the column)
            unknown = http.post("/predict/scorer?explain=features", json={"user_id": 99})
            assert unknown.status_code == 200, unknown.text
            assert unknown.json()["features"] == [{"user_id": 99, "x": None, "y": None}]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()


def test_unknown_feature_service_is_one_line(mp_home: Path) -> None:
    client = Client()
    client.log_model(None, Doubler(), "scorer", input_example=pd.DataFrame({"x": [1.0],
                     "y": [1.0]}), flavor="python", stage="production")
    result = cli("serve", "models:/scorer@production", "--feature-service", "nope",
                 "--port", str(free_port()))
    assert result.returncode == 1
    assert "feature service 'nope' not found" in result.stderr
