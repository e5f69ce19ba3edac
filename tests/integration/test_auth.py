"""Identities over real HTTP and the CLI: tokens shown once and checked with reasons,
rate-limited failures, the audit log, a remote client's token, and a server bound beyond
loopback that refuses requests without a token."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelplane.auth.entities import Token
from modelplane.auth.hashing import hash_secret, new_token
from modelplane.core.timeutil import utcnow
from tests.integration.conftest import LiveServer, cli, free_port, stop_server, wait_healthy

with warnings.catch_warnings():  # starlette's TestClient warns about httpx on import
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture
def app_client(tmp_path: Path) -> Iterator[tuple[TestClient, Any]]:
    from modelplane.core.config import Settings
    from modelplane.server.app import create_app

    app = create_app(Settings(home=tmp_path / "home", prediction_log_process=False),
                     auth=True)
    with TestClient(app) as client:
        yield client, app.state.client.auth


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_bad_tokens_are_401_with_the_reason(app_client: Any) -> None:
    client, auth = app_client
    auth.create_user("ann", "writer")
    record, good = auth.create_token("ann", "ci")
    assert client.get("/api/v1/models", headers=_bearer(good)).status_code == 200
    cases = {"missing": {}, "malformed": _bearer("hello"),
             "unknown": _bearer(good[:-4] + "AAAA")}
    for reason, headers in cases.items():
        answer = client.get("/api/v1/models", headers=headers)
        assert answer.status_code == 401, reason
        assert answer.json()["error"]["details"]["reason"] == reason
        assert "MODELPLANE_TOKEN" in answer.json()["error"]["message"]
        assert answer.headers["www-authenticate"].startswith("Bearer")
    # expired: a token whose expiry has passed
    token_id, secret, text = new_token()
    salt, hashed = hash_secret(secret)
    owner = auth.get_user("ann")
    auth.store.create_token(Token(id=token_id, user="ann", name="old", role="writer",
                                  created_at=utcnow() - timedelta(days=2),
                                  expires_at=utcnow() - timedelta(days=1)),
                            owner.id, salt, hashed)
    answer = client.get("/api/v1/models", headers=_bearer(text))
    assert answer.status_code == 401 and answer.json()["error"]["details"]["reason"] == "expired"
    # revoked over the API by an admin: refused at once
    auth.create_user("root", "admin")
    _, admin = auth.create_token("root")
    revoked = client.delete(f"/api/v1/tokens/{record.id}", headers=_bearer(admin))
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    answer = client.get("/api/v1/models", headers=_bearer(good))
    assert answer.status_code == 401 and answer.json()["error"]["details"]["reason"] == "revoked"
    # a disabled user's tokens stop too
    _, other = auth.create_token("ann", "second")
    assert client.delete("/api/v1/users/ann", headers=_bearer(admin)).status_code == 200
    assert client.get("/api/v1/models", headers=_bearer(other)).json()["error"]["details"][
        "reason"] == "disabled"


def test_tokens_over_the_api_are_shown_once_and_stored_hashed(app_client: Any) -> None:
    client, auth = app_client
    auth.create_user("root", "admin")
    _, admin = auth.create_token("root")
    made = client.post("/api/v1/users", json={"name": "svc", "role": "writer",
                                               "kind": "service"}, headers=_bearer(admin))
    assert made.status_code == 201 and made.json()["kind"] == "service"
    created = client.post("/api/v1/tokens", json={"user": "svc", "name": "replica",
                                                  "role": "predict", "expires": "30d"},
                          headers=_bearer(admin))
    assert created.status_code == 201, created.text
    text = created.json()["token"]
    listed = client.get("/api/v1/tokens", params={"user": "svc"}, headers=_bearer(admin))
    assert text not in listed.text and listed.json()["tokens"][0]["role"] == "predict"
    stored = auth.store.get_token(created.json()["id"])
    assert text.split("_", 2)[2] not in repr(stored)  # only salt and hash are kept
    too_high = client.post("/api/v1/tokens", json={"user": "svc", "role": "admin"},
                           headers=_bearer(admin))
    assert too_high.status_code == 422 and too_high.json()["error"]["details"]["field"] == "role"
    bad = client.post("/api/v1/tokens", json={"user": "svc", "expires": "soon"},
                      headers=_bearer(admin))
    assert bad.status_code == 422 and bad.json()["error"]["details"]["field"] == "expires"
    me = client.get("/api/v1/whoami", headers=_bearer(admin)).json()
    assert me["user"] == "root" and me["role"] == "admin"


def test_failed_logins_are_rate_limited_and_audited(app_client: Any) -> None:
    client, auth = app_client
    auth.create_user("root", "admin")
    _, admin = auth.create_token("root")
    codes = [client.get("/api/v1/models", headers=_bearer(f"mp_{i:012x}_" + "A" * 43))
             .status_code for i in range(22)]
    assert codes[:20] == [401] * 20 and codes[20:] == [429, 429]
    # the limit is per address: the good token from here is refused until it passes
    assert client.get("/api/v1/models", headers=_bearer(admin)).status_code == 429
    failed = auth.audit(action="login.failed", limit=100)
    assert len(failed) == 20 and failed[0].reason == "unknown"


def test_every_write_is_audited_with_who_and_why(app_client: Any) -> None:
    client, auth = app_client
    auth.create_user("mia", "maintainer")
    _, token = auth.create_token("mia", "laptop")
    headers = {**_bearer(token), "x-modelplane-reason": "new churn model"}
    assert client.post("/api/v1/models", json={"name": "churn"},
                       headers=headers).status_code == 201
    assert client.delete("/api/v1/models/churn", headers=_bearer(token)).status_code == 403
    entries = auth.audit(actor="mia")
    assert [(e.action, e.status) for e in entries] == [
        ("DELETE /api/v1/models/{name}", 403), ("POST /api/v1/models", 201)]
    assert entries[1].actor == "mia/laptop" and entries[1].reason == "new churn model"
    assert entries[1].source and entries[1].request_id
    auth.create_user("root", "admin")
    _, admin = auth.create_token("root")
    page = client.get("/api/v1/audit", params={"actor": "mia", "action": "POST"},
                      headers=_bearer(admin))
    assert [e["target"] for e in page.json()["entries"]] == ["/api/v1/models"]


def test_cli_users_tokens_audit(mp_home: Path) -> None:
    made = cli("users", "create", "ops", "--admin")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("mp_") and "Shown once" in made.stderr
    listed = cli("tokens", "list")
    assert token not in listed.stdout and "ops" in listed.stdout
    token_id = token.split("_")[1]
    assert cli("tokens", "revoke", token_id).returncode == 0
    assert "revoked" in cli("tokens", "list").stdout
    again = cli("users", "create", "ops")
    assert again.returncode == 1 and again.stderr.startswith("error: user 'ops' already")
    bad = cli("tokens", "create", "ops", "--role", "root")
    assert bad.returncode == 1 and "unknown role 'root'" in bad.stderr
    log = cli("audit", "--action", "token.")
    assert "token.revoke" in log.stdout and "token.create" in log.stdout


def _non_loopback_address() -> str | None:
    """An address of this machine that is not loopback (a real interface)."""
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True,
                             timeout=5).stdout.split()
    except (OSError, subprocess.SubprocessError):
        out = []
    for address in out:
        if "." in address and not address.startswith("127."):
            with socket.socket() as sock:
                try:
                    sock.bind((address, 0))
                except OSError:
                    continue
            return address
    return None


@pytest.mark.slow
def test_server_beyond_loopback_refuses_requests_without_a_token(mp_home: Path) -> None:
    address = _non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address to bind to")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelplane", "server", "--host", address, "--port", str(port),
         "--log-level", "warning"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    server = LiveServer(proc, f"http://{address}:{port}")
    try:
        wait_healthy(server)
        url = server.url
        assert httpx.get(f"{url}/api/v1/models").status_code == 401
        assert httpx.post(f"{url}/api/v1/models", json={"name": "x"}).status_code == 401
        assert httpx.post(f"{url}/predict/x", json={}).status_code == 401
        made = cli("users", "create", "ci", "--role", "writer")
        token = made.stdout.strip()
        time.sleep(0.1)
        ok = httpx.post(f"{url}/api/v1/models", json={"name": "x"}, headers=_bearer(token))
        assert ok.status_code == 201
    finally:
        stop_server(server)
    # the first start made the first admin (its token was printed once, to the log)
    assert cli("users", "list").stdout.startswith("admin\tadmin")


def test_ui_deployment_actions_need_csrf_and_show_refusals(app_client: Any) -> None:
    import re

    client, auth = app_client
    core = client.app.state.client
    for stage in ("production", "staging"):
        version = core.registry.create_version(
            "m", artifact_digest=core.artifacts.put_bytes(stage.encode()), flavor="python")
        core.registry.set_stage("m", version.version, stage)
    core.deployments.create("live", "m", {"production": 80, "staging": 20})
    auth.create_user("mia", "maintainer")
    _, token = auth.create_token("mia", "browser")
    assert client.post("/login", data={"token": token, "next": "/deployments/live"},
                       follow_redirects=False).status_code == 303
    page = client.get("/deployments/live")
    assert "Switch" in page.text and "Promote canary" not in page.text  # no canary now
    csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text).group(1)
    forged = client.post("/deployments/live/switch", data={"to": "staging", "reason": "x"},
                         follow_redirects=False)
    assert forged.status_code == 403
    done = client.post("/deployments/live/switch", data={
        "to": "staging", "reason": "blue/green", "csrf_token": csrf}, follow_redirects=False)
    assert done.status_code == 303 and "notice=switched" in done.headers["location"]
    assert [v.weight for v in core.deployments.get("live").variants if v.name == "staging"] \
        == [100]
    refused = client.post("/deployments/live/abort", data={"reason": "r", "csrf_token": csrf},
                          follow_redirects=True)
    assert "refused:" in refused.text  # no canary to abort, said on the page
    switches = auth.audit(target="/deployments/live/switch")
    assert [(e.status, e.reason) for e in switches] == [(303, "blue/green"), (403, "")]
    assert switches[0].actor == "mia/browser"
    assert switches[0].action == "POST /deployments/{name}/{action}"


@pytest.mark.slow
def test_the_real_mlflow_client_sends_its_token(mp_home: Path) -> None:
    """MLflow's own client sends MLFLOW_TRACKING_TOKEN as a bearer token: a writer's
    token logs a run, a reader's is refused (403), none is refused (401)."""
    import os

    from tests.integration.conftest import spawn_server
    from tests.mlflow_env import mlflow_python

    python = mlflow_python()
    server = spawn_server("--auth")
    try:
        writer = cli("users", "create", "trainer", "--role", "writer").stdout.strip()
        reader = cli("users", "create", "viewer").stdout.strip()
        script = ("import mlflow, sys\n"
                  "try:\n"
                  "    mlflow.set_experiment('auth-demo')\n"
                  "    with mlflow.start_run():\n"
                  "        mlflow.log_metric('auc', 0.9)\n"
                  "    print('OK')\n"
                  "except Exception as exc:\n"
                  "    print('ERR', getattr(exc, 'error_code', ''), str(exc)[:200])\n")
        base = {k: v for k, v in os.environ.items() if not k.startswith("MODELPLANE_")}
        base.update(MLFLOW_TRACKING_URI=server.url, MLFLOW_HTTP_REQUEST_MAX_RETRIES="0",
                    MLFLOW_DISABLE_TELEMETRY="true", GIT_PYTHON_REFRESH="quiet")

        def run(token: str | None) -> str:
            env = {**base, **({"MLFLOW_TRACKING_TOKEN": token} if token else {})}
            return subprocess.run([str(python), "-c", script], env=env, capture_output=True,
                                  text=True, timeout=180).stdout.strip().splitlines()[-1]

        assert run(writer) == "OK"
        assert run(reader).startswith("ERR PERMISSION_DENIED")
        anonymous = run(None)
        assert anonymous.startswith("ERR") and ("401" in anonymous
                                                or "UNAUTHENTICATED" in anonymous)
    finally:
        stop_server(server)


def test_cross_site_writes_are_refused_even_without_auth(tmp_path: Path) -> None:
    from modelplane.core.config import Settings
    from modelplane.server.app import create_app

    app = create_app(Settings(home=tmp_path / "home", prediction_log_process=False))
    with TestClient(app) as client:
        evil = {"origin": "http://evil.example", "sec-fetch-site": "cross-site"}
        answer = client.post("/api/v1/models", json={"name": "x"}, headers=evil)
        assert answer.status_code == 403 and "cross-site" in answer.text
        form = client.post("/models/x/rollback", data={"reason": "r"},
                           headers={"sec-fetch-site": "cross-site"}, follow_redirects=False)
        assert form.status_code == 403
        same = {"origin": "http://testserver", "sec-fetch-site": "same-origin"}
        assert client.post("/api/v1/models", json={"name": "x"},
                           headers=same).status_code == 201
        assert client.post("/api/v1/models", json={"name": "y"}).status_code == 201  # no browser
        old = client.post("/api/v1/models", json={"name": "z"},
                          headers={"origin": "http://evil.example"})  # no Sec-Fetch-Site
        assert old.status_code == 403
