"""The real server under uvicorn on a loopback port."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.integration.conftest import LiveServer


@pytest.fixture
def server(start_server: Callable[..., LiveServer]) -> LiveServer:
    return start_server()


def test_health_reports_version_and_database(server: LiveServer) -> None:
    with server.client() as client:
        response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["database"] == "sqlite"


def test_request_id_is_echoed_or_made(server: LiveServer) -> None:
    with server.client() as client:
        given = client.get("/api/v1/health", headers={"x-request-id": "trace-42"})
        made = client.get("/api/v1/health")
        bad = client.get("/api/v1/health", headers={"x-request-id": "has spaces\tand tabs"})
    assert given.headers["x-request-id"] == "trace-42"
    assert len(made.headers["x-request-id"]) == 32
    assert bad.headers["x-request-id"] != "has spaces\tand tabs"


def test_errors_use_the_envelope_and_carry_the_request_id(server: LiveServer) -> None:
    with server.client() as client:
        missing = client.get("/api/v1/no-such-thing")
        wrong_method = client.delete("/api/v1/health")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert "/api/v1/no-such-thing" in missing.json()["error"]["message"]
    assert "x-request-id" in missing.headers
    assert wrong_method.status_code == 405
    assert set(wrong_method.json()["error"]) == {"code", "message", "details"}


def test_oversized_body_is_413(start_server: Callable[..., LiveServer]) -> None:
    server = start_server(env={"MODELPLANE_MAX_REQUEST_BYTES": "1000"})
    with server.client() as client:
        response = client.post("/api/v1/health", content=b"x" * 5000)
        chunked = client.post("/api/v1/health", content=iter([b"x" * 800, b"y" * 800]))
    assert response.status_code == 413
    assert response.json()["error"]["details"]["limit_bytes"] == 1000
    assert chunked.status_code in (405, 413)  # no route reads it; never a 500


def test_openapi_is_served(server: LiveServer) -> None:
    with server.client() as client:
        spec = client.get("/openapi.json").json()
    assert spec["info"]["title"] == "modelplane"
    assert "/api/v1/health" in spec["paths"]


def test_the_web_ui_is_served_at_the_root(server: LiveServer) -> None:
    html = {"accept": "text/html"}
    with server.client() as client:
        home = client.get("/", headers=html)
        css = client.get("/static/modelplane.css")
        js = client.get("/static/modelplane.js")
        unknown_page = client.get("/no-such-page", headers=html)
        unknown_api = client.get("/api/v1/no-such-thing", headers=html)
        unknown_for_a_program = client.get("/no-such-page")
    assert home.status_code == 200 and home.headers["content-type"].startswith("text/html")
    assert 'href="/experiments"' in home.text and 'href="/models"' in home.text
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert unknown_page.status_code == 404 and "no page at /no-such-page" in unknown_page.text
    assert unknown_api.json()["error"]["code"] == "not_found"  # the API keeps its envelope
    assert unknown_for_a_program.json()["error"]["code"] == "not_found"


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_a_serving_only_app_has_no_ui() -> None:
    from fastapi.testclient import TestClient

    from modelplane.server.app import create_app

    http = TestClient(create_app(serving_only=True))  # what `modelplane serve` runs
    for path in ("/", "/experiments", "/static/modelplane.css"):
        response = http.get(path, headers={"accept": "text/html"})
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/json", path
