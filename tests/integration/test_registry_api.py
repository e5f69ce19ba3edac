"""The registry REST API through the real server (uvicorn): the full flow on SQLite and
PostgreSQL, and the error statuses and envelopes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from modelplane.registry import STAGES
from tests.integration.conftest import LiveServer

API = "/api/v1"
WEIGHTS = b"weights"
DIGEST = hashlib.sha256(WEIGHTS).hexdigest()


def _version(client: httpx.Client, name: str, **extra: Any) -> dict[str, Any]:
    client.put(f"{API}/artifacts/blobs/{DIGEST}", content=WEIGHTS).raise_for_status()
    body = {"artifact_digest": DIGEST, "flavor": "sklearn", **extra}
    response = client.post(f"{API}/models/{name}/versions", json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    return error  # type: ignore[no-any-return]


def test_registry_flow_through_the_real_server(
        start_server: Callable[..., LiveServer], database_url: str) -> None:
    server = start_server(env={"MODELPLANE_DATABASE_URL": database_url})
    with server.client() as c:
        created = c.post(f"{API}/models", json={"name": "churn", "description": "d",
                                                "tags": {"team": "risk"}})
        assert created.status_code == 201 and created.json()["tags"] == {"team": "risk"}
        assert _error(c.post(f"{API}/models", json={"name": "churn"}), 409)["code"] == (
            "already_exists")

        v1 = _version(c, "churn", metrics={"auc": 0.9}, run_id="run1", tags={"k": "v"},
                      signature={"inputs": []}, input_example=[[1, 2]], actor="alice")
        assert (v1["version"], v1["uri"], v1["stage"]) == (1, "models:/churn:1", "development")
        assert v1["created_by"] == "alice" and v1["tags"] == {"k": "v"}
        for _ in range(2):
            _version(c, "churn")
        assert _version(c, "fresh")["version"] == 1  # the model is created on the way

        listed = c.get(f"{API}/models/churn/versions", params={"max_results": 2}).json()
        assert [v["version"] for v in listed["versions"]] == [3, 2]
        rest = c.get(f"{API}/models/churn/versions",
                     params={"page_token": listed["next_page_token"]}).json()
        assert [v["version"] for v in rest["versions"]] == [1]
        assert rest["next_page_token"] is None
        assert c.get(f"{API}/models/churn/versions/1").json()["metrics"] == {"auc": 0.9}
        patched = c.patch(f"{API}/models/churn/versions/1", json={"description": "first"})
        assert patched.json()["description"] == "first"
        assert c.patch(f"{API}/models/churn", json={"description": "x"}).json()[
            "description"] == "x"
        assert c.put(f"{API}/models/churn/tags/owner", json={"value": "bob"}).json()[
            "tags"] == {"team": "risk", "owner": "bob"}
        assert c.delete(f"{API}/models/churn/tags/owner").json()["tags"] == {"team": "risk"}
        assert c.put(f"{API}/models/churn/versions/2/tags/a.b", json={"value": "1"}).json()[
            "tags"] == {"a.b": "1"}

        for version in (1, 2, 3):
            moved = c.post(f"{API}/models/churn/versions/{version}/stage",
                           json={"stage": "production", "reason": "go", "actor": "ops"})
            assert moved.json()["stage"] == "production"
        assert c.get(f"{API}/models/churn/versions/2").json()["stage"] == "archived"
        back = c.post(f"{API}/models/churn/rollback", json={"stage": "production"})
        assert back.status_code == 200 and back.json()["version"] == 2
        resolved = c.get(f"{API}/models/resolve", params={"uri": "models:/churn@production"})
        assert resolved.json()["version"] == 2
        for uri, version in (("models:/churn/latest", 3), ("models:/churn/Production", 2)):
            assert c.get(f"{API}/models/resolve", params={"uri": uri}).json()[
                "version"] == version

        put = c.put(f"{API}/models/churn/aliases/champion", json={"version": 3})
        assert put.json() == {"name": "churn", "alias": "champion", "version": 3}
        assert c.get(f"{API}/models/churn/aliases/champion").json()["version"] == 3
        assert c.get(f"{API}/models/resolve", params={"uri": "churn@champion"}).json()[
            "aliases"] == ["champion"]
        assert c.get(f"{API}/models/churn").json()["aliases"] == {"champion": 3}
        assert c.delete(f"{API}/models/churn/aliases/champion").status_code == 204
        _error(c.get(f"{API}/models/churn/aliases/champion"), 404)

        history = c.get(f"{API}/models/churn/history").json()["entries"]
        assert [e["action"] for e in history] == [
            "create", "create", "create", "stage", "stage", "stage", "rollback", "alias",
            "alias_delete"]
        assert history[4]["displaced_version"] == 1 and history[4]["actor"] == "ops"
        assert len(c.get(f"{API}/models/churn/history", params={"version": 1}).json()[
            "entries"]) == 3

        found = c.get(f"{API}/model-versions/search", params={
            "filter": "name = 'churn' and (stage = 'production' or metrics.auc > 0.5)",
            "order_by": "version"}).json()["versions"]
        assert [v["version"] for v in found] == [1, 2]

        _error(c.delete(f"{API}/models/churn/versions/2"), 409)
        assert c.delete(f"{API}/models/churn/versions/2",
                        params={"force": "true"}).status_code == 204
        assert c.delete(f"{API}/models/churn").status_code == 204
        assert "'churn' not found" in _error(c.get(f"{API}/models/churn"), 404)["message"]
        names = [m["name"] for m in c.get(f"{API}/models").json()["models"]]
        assert names == ["fresh"]


@pytest.fixture
def client(start_server: Callable[..., LiveServer]) -> Iterator[httpx.Client]:
    with start_server().client() as http:
        yield http


def test_unknown_model_and_version_are_404_naming_them(client: httpx.Client) -> None:
    _version(client, "churn-classifier")
    error = _error(client.get(f"{API}/models/churn-clasifier"), 404)
    assert error["code"] == "not_found"
    assert "'churn-clasifier' not found; did you mean 'churn-classifier'" in error["message"]
    assert error["details"]["suggestions"] == ["churn-classifier"]
    error = _error(client.get(f"{API}/models/churn-classifier/versions/9"), 404)
    assert "version 9 of model 'churn-classifier' not found" in error["message"]
    _error(client.get(f"{API}/models/nope/versions"), 404)
    _error(client.get(f"{API}/models/nope/history"), 404)
    _error(client.post(f"{API}/models/nope/versions/1/stage", json={"stage": "staging"}), 404)


def test_invalid_stage_is_422_listing_the_valid_ones(client: httpx.Client) -> None:
    _version(client, "churn")
    error = _error(client.post(f"{API}/models/churn/versions/1/stage",
                               json={"stage": "prod"}), 422)
    assert error["code"] == "invalid_argument"
    assert all(stage in error["message"] for stage in STAGES)
    assert error["details"]["allowed"] == list(STAGES)


def test_filter_syntax_errors_are_422_with_the_position(client: httpx.Client) -> None:
    error = _error(client.get(f"{API}/model-versions/search",
                              params={"filter": "stage = 'production' und"}), 422)
    assert error["details"]["position"] == 21 and "position 21" in error["message"]
    error = _error(client.get(f"{API}/model-versions/search",
                              params={"order_by": "metrics.auc sideways"}), 422)
    assert error["details"]["field"] == "order_by"


def test_bad_inputs_are_422_naming_the_field(client: httpx.Client) -> None:
    _version(client, "churn")
    cases = [
        (client.post(f"{API}/models", json={"name": ".hidden"}), "name"),
        (client.post(f"{API}/models/churn/versions", json={"flavor": "sk"}),
         "artifact_digest"),
        (client.post(f"{API}/models/churn/versions",
                     json={"artifact_digest": "xyz", "flavor": "sk"}), "artifact_digest"),
        (client.put(f"{API}/models/churn/aliases/123", json={"version": 1}), "alias"),
        (client.put(f"{API}/models/churn/aliases/production", json={"version": 1}), "alias"),
        (client.put(f"{API}/models/churn/aliases/Latest", json={"version": 1}), "alias"),
        (client.get(f"{API}/models/churn/versions/abc"), "version"),
        (client.get(f"{API}/models", params={"page_token": "garbage"}), "page_token"),
        (client.get(f"{API}/models/resolve", params={"uri": "s3://x"}), "uri"),
    ]
    for response, field in cases:
        error = _error(response, 422)
        assert field in error["message"] or error["details"].get("field") == field, error
    assert "models:/NAME:VERSION" in cases[-1][0].json()["error"]["message"]


def test_a_version_of_an_artifact_never_uploaded_is_422_naming_the_digest(
        client: httpx.Client) -> None:
    missing = hashlib.sha256(b"never uploaded").hexdigest()
    error = _error(client.post(f"{API}/models/ghost/versions",
                               json={"artifact_digest": missing, "flavor": "sklearn"}), 422)
    assert missing in error["message"] and error["details"]["field"] == "artifact_digest"
    assert client.get(f"{API}/models/ghost").status_code == 404


def test_conflicts_are_409(client: httpx.Client) -> None:
    _version(client, "churn")
    error = _error(client.post(f"{API}/models/churn/rollback", json={}), 409)
    assert error["code"] == "invalid_state" and "no previous production" in error["message"]
    client.post(f"{API}/models/churn/versions/1/stage", json={"stage": "production"})
    assert _error(client.delete(f"{API}/models/churn/versions/1"), 409)["code"] == (
        "invalid_state")
    assert _error(client.post(f"{API}/models", json={"name": "churn"}), 409)["code"] == (
        "already_exists")


def test_search_models_and_pagination(client: httpx.Client) -> None:
    for name, team in [("a-churn", "risk"), ("b-churn", "growth"), ("fraud", "risk")]:
        client.post(f"{API}/models", json={"name": name, "tags": {"team": team}})
    found = client.get(f"{API}/models", params={"filter": "tags.team = 'risk'"}).json()
    assert [m["name"] for m in found["models"]] == ["a-churn", "fraud"]
    first = client.get(f"{API}/models", params={"max_results": 2}).json()
    second = client.get(f"{API}/models", params={"page_token": first["next_page_token"]})
    assert [m["name"] for m in first["models"] + second.json()["models"]] == [
        "a-churn", "b-churn", "fraud"]
    _error(client.get(f"{API}/models", params={"max_results": 0}), 422)
