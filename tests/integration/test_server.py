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
