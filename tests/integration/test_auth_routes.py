"""Every route in the OpenAPI document (and every UI page) has a declared role, and the
server holds it: no token -> 401, a token of too small a role -> 403, the right role ->
neither (the route may still answer 404 or 422 for the made-up names used here)."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from modelplane.auth.roles import LADDER
from modelplane.server.auth.policy import PUBLIC_PATHS, ROUTE_ROLES, role_for

with warnings.catch_warnings():  # starlette's TestClient warns about httpx on import
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

BELOW = {"reader": "predict", "writer": "reader", "maintainer": "writer", "admin": "maintainer"}
ROLES = ("predict", *LADDER)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    from modelplane.core.config import Settings
    from modelplane.server.app import create_app

    home = tmp_path_factory.mktemp("authroutes")
    app = create_app(Settings(home=home, prediction_log_process=False), auth=True)
    auth = app.state.client.auth
    tokens = {}
    for role in ROLES:
        auth.create_user(f"u-{role}", "reader" if role == "predict" else role)
        tokens[role] = auth.create_token(f"u-{role}", "t", role=role)[1]
    with TestClient(app) as client:
        yield client, tokens


def _openapi_routes(client: TestClient) -> list[tuple[str, str]]:
    spec = client.get("/openapi.json").json()
    return [(method.upper(), path) for path, ops in spec["paths"].items() for method in ops]


def _fill(path: str) -> str:
    return re.sub(r"\{(\w+)(:path)?\}", lambda m: "1" if m.group(1) == "version" else
                  ("a/b" if m.group(2) or m.group(1) == "path" else "nosuch"), path)


def _call(client: TestClient, method: str, path: str, token: str | None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    kwargs: dict[str, Any] = {"headers": headers}
    if method in ("POST", "PUT", "PATCH"):
        kwargs["json"] = {}
    return client.request(method, _fill(path), **kwargs)


def test_every_openapi_route_declares_a_role(server: Any) -> None:
    client, _ = server
    routes = _openapi_routes(client)
    assert len(routes) > 200
    undeclared = [f"{m} {p}" for m, p in routes
                  if p not in PUBLIC_PATHS and role_for(m, p) is None]
    assert undeclared == [], f"declare these in server/auth/policy.py: {undeclared}"


def test_every_route_401_403_and_allowed(server: Any) -> None:
    client, tokens = server
    failures = []
    for method, path in _openapi_routes(client):
        if path in PUBLIC_PATHS:
            assert _call(client, method, path, None).status_code not in (401, 403)
            continue
        needed = role_for(method, path)
        assert needed is not None
        missing = _call(client, method, path, None)
        if missing.status_code != 401:
            failures.append(f"{method} {path} without a token: {missing.status_code}")
        if needed in BELOW:  # nothing is below predict
            low = _call(client, method, path, tokens[BELOW[needed]])
            if low.status_code != 403:
                failures.append(f"{method} {path} as {BELOW[needed]}: {low.status_code}")
        ok = _call(client, method, path, tokens[needed])
        if ok.status_code in (401, 403):
            failures.append(f"{method} {path} as {needed}: {ok.status_code} {ok.text[:200]}")
    assert failures == []


def test_ui_pages_and_hidden_routes_are_declared(server: Any) -> None:
    client, tokens = server
    for key, needed in ROUTE_ROLES.items():
        method, path = key.split(" ", 1)
        if method != "GET" or path.startswith(("/api", "/v2", "/metrics")):
            continue
        assert _call(client, method, path, None).status_code == 401
        assert _call(client, method, path, tokens[BELOW[needed]]).status_code == 403
        assert _call(client, method, path, tokens[needed]).status_code not in (401, 403)


def test_a_route_without_a_declared_role_is_refused_to_everyone(tmp_path: Any) -> None:
    from modelplane.core.config import Settings
    from modelplane.server.app import create_app

    app = create_app(Settings(home=tmp_path, prediction_log_process=False), auth=True)
    app.get("/api/v1/undeclared")(lambda: {"open": True})
    auth = app.state.client.auth
    auth.create_user("root", "admin")
    _, admin = auth.create_token("root")
    with TestClient(app) as client:
        answer = client.get("/api/v1/undeclared", headers={"Authorization": f"Bearer {admin}"})
    assert answer.status_code == 403
    assert "no declared role" in answer.json()["error"]["message"]


def test_serving_routes_take_the_predict_scope(server: Any) -> None:
    client, tokens = server
    for path in ("/predict/nosuch", "/v2/models/nosuch/infer"):
        assert client.post(path, json={}).status_code == 401
        for role in ROLES:
            got = client.post(path, json={}, headers={"Authorization": f"Bearer {tokens[role]}"})
            assert got.status_code not in (401, 403), (path, role, got.text)
    assert client.get("/v2/health/live").status_code == 200  # probes stay open
    assert client.get("/metrics").status_code == 401
    predict = {"Authorization": f"Bearer {tokens['predict']}"}
    assert client.get("/metrics", headers=predict).status_code == 403
    assert client.get("/api/v1/models", headers=predict).status_code == 403
