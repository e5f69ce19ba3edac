"""Who may make a server run a pickle: registering a malicious version does not, unless
the server was started with --allow-pickle or an admin allowed the model; the CLI and the
registry show which versions are pickles."""

from __future__ import annotations

import asyncio
import pickle
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelplane.client import Client
from modelplane.core.errors import InvalidArgumentError
from modelplane.flavors import save_model
from modelplane.registry.entities import ModelVersion
from modelplane.serving.runtime import ModelRuntime
from tests.integration.conftest import LiveServer, cli


class Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return (exec, (f"with open({str(self.marker)!r}, 'w') as f: f.write('code ran')",))


class Echo:
    def predict(self, data: Any) -> Any:
        return np.asarray(data)[:, 0]


def _register_malicious(client: Client, name: str, marker: Path) -> ModelVersion:
    """What an attacker allowed to register versions can do: a python-flavor version whose
    pickle runs code, moved to production."""
    with tempfile.TemporaryDirectory() as tmp:
        save_model(Echo(), Path(tmp) / "model", input_example=np.ones((2, 3)))
        (Path(tmp) / "model" / "model.pkl").write_bytes(pickle.dumps(Payload(marker)))
        digest = client.artifacts.put_dir(tmp)
    version = client.registry.create_version(name, artifact_digest=digest, flavor="python",
                                             model_meta={"pickled": False})  # a lie
    return client.registry.set_stage(name, version.version, "production")


def _ready(server: LiveServer, name: str, seconds: float) -> tuple[int, str]:
    deadline = time.monotonic() + seconds
    with server.client() as http:
        while True:
            answer = http.get(f"/v2/models/{name}/ready")
            if answer.status_code == 200 or time.monotonic() > deadline:
                return answer.status_code, answer.text
            time.sleep(0.2)


def test_a_server_does_not_run_a_registered_pickle_without_the_opt_in(
        start_server: Callable[..., LiveServer], tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    client = Client()
    version = _register_malicious(client, "evil", marker)
    assert version.pickled  # detected as python flavor, whatever model_meta claimed

    server = start_server("--serve", "models:/evil@production")
    status, _ = _ready(server, "evil", 8)
    assert status == 400 and not marker.exists()  # OIP: not ready is a 400
    with server.client() as http:
        error = http.post("/predict/evil", json=[[1, 2, 3]]).json()["error"]
    assert "allow" in error["message"] and "pickle" in error["message"]

    server = start_server("--serve", "models:/evil@production", "--allow-pickle")
    deadline = time.monotonic() + 30
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert marker.read_text() == "code ran"  # the harm is real once allowed


def test_an_admin_setting_lets_servers_load_one_model_s_pickles(tmp_path: Path) -> None:
    client = Client()
    client.log_model(None, Echo(), "echo", input_example=np.ones((2, 3)), stage="production")

    async def serve() -> tuple[bool, str | None]:
        runtime = ModelRuntime(["models:/echo@production"], models=client.models,
                               poll_seconds=0.05)
        await runtime.start()
        try:
            with pytest.raises(TimeoutError):
                await runtime.wait_ready(timeout=3)
            refused = runtime.models["echo"].error
            client.registry.set_allow_pickle("echo", True)
            # a failed version is retried when the URI moves: the next release loads
            client.log_model(None, Echo(), "echo", input_example=np.ones((2, 3)),
                             stage="production")
            await runtime.wait_ready(timeout=20)
            return runtime.models["echo"].current is not None, refused
        finally:
            await runtime.stop()

    loaded, refused = asyncio.run(serve())
    assert refused is not None and "allow-pickle" in refused
    assert loaded and client.registry.get_model("echo").allow_pickle
    assert client.load_model("models:/echo@production").predict(np.ones((1, 3))).tolist() == [1]


def test_the_allow_pickle_tag_is_reserved_for_the_admin_call() -> None:
    client = Client()
    client.registry.create_model("m")
    for call in (lambda: client.registry.set_model_tag("m", "modelplane.allow_pickle", "true"),
                 lambda: client.registry.create_model("n", tags={
                     "modelplane.allow_pickle": "true"})):
        with pytest.raises(InvalidArgumentError) as info:
            call()
        assert "reserved" in info.value.message
    assert not client.registry.get_model("m").allow_pickle


def test_the_cli_shows_pickles_and_an_admin_allows_them(tmp_path: Path) -> None:
    from sklearn.linear_model import LinearRegression

    client = Client()
    x = np.arange(12.0).reshape(4, 3)
    client.log_model(None, LinearRegression().fit(x, x[:, 0]), "mixed", input_example=x)
    client.log_model(None, Echo(), "mixed", input_example=x)
    table = cli("models", "versions", "mixed")
    assert table.returncode == 0, table.stderr
    rows = {line.split("│")[1].strip(): line for line in table.stdout.splitlines()
            if line.count("│") > 3 and line.split("│")[1].strip().isdigit()}
    assert "PICKLE" in rows["2"] and "safe" in rows["1"]
    allowed = cli("models", "allow-pickle", "mixed")
    assert allowed.returncode == 0 and "may now load" in allowed.stdout
    assert "allowed to load" in cli("models", "show", "mixed").stdout
    assert cli("models", "allow-pickle", "mixed", "--revoke").returncode == 0
    assert not client.registry.get_model("mixed").allow_pickle
    missing = cli("models", "allow-pickle", "nope")
    assert missing.returncode == 1 and missing.stderr.startswith("error:")
