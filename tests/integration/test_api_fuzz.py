"""Never a 500 for bad input: every route in the OpenAPI schema, called with hostile path
and query values (huge and negative numbers, overlong and odd strings, windows of a
million years) and with empty or malformed bodies, answers 2xx or 4xx."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")

HOSTILE = ["99999999999999999999", "-1", "0", "x" * 300, "%00", "..", "ü€😀",
           "1e309", "99999999999d", "NaN", "models:/"]
QUERY_VALUES: dict[str, list[str]] = {
    "integer": ["99999999999999999999", "-5", "abc"],
    "number": ["1e309", "-1e309", "nan"],
    "string": ["99999999999d", "x" * 2000, "ü€😀", "1..0", "metrics.a >"],
    "boolean": ["maybe"],
}


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from modelplane.client import Client
    from modelplane.core.config import Settings
    from modelplane.server.app import create_app

    home: Path = tmp_path_factory.mktemp("fuzz") / "home"
    settings = Settings(home=home, prediction_log_process=False)
    Client(settings).database.ensure_schema()
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def _routes(http: Any) -> list[tuple[str, str, dict[str, Any]]]:
    spec = http.get("/openapi.json").json()
    out = []
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            out.append((method.upper(), path, op))
    return out


def _fill(path: str, value: str) -> str:
    return re.sub(r"\{[^}]+\}", value.replace("/", "%2F"), path)


def test_hostile_path_and_query_values_never_give_a_500(http: Any) -> None:
    failures = []
    for method, path, op in _routes(http):
        params = [p for p in op.get("parameters", []) if p.get("in") == "query"]
        for value in HOSTILE if "{" in path else ["-"]:
            url = _fill(path, value)
            queries: list[dict[str, str]] = [{}]
            for p in params:
                kind = p.get("schema", {}).get("type") or next(
                    (s.get("type") for s in p.get("schema", {}).get("anyOf", [])
                     if s.get("type") not in (None, "null")), "string")
                queries += [{p["name"]: v} for v in QUERY_VALUES.get(kind, ["x"])]
            for query in queries:
                r = http.request(method, url, params=query,
                                 json={} if method in ("POST", "PUT", "PATCH") else None)
                if r.status_code >= 500:
                    failures.append(f"{method} {url} {query} -> {r.status_code} {r.text[:200]}")
    assert not failures, "\n".join(failures[:30])


@pytest.mark.parametrize("body", [b"{", b"[]", b'"x"', b"null", b'{"name": 1e999}',
                                  b'{"name": "' + b"x" * 5000 + b'"}'])
def test_malformed_bodies_never_give_a_500(http: Any, body: bytes) -> None:
    failures = []
    for method, path, _ in _routes(http):
        if method not in ("POST", "PUT", "PATCH"):
            continue
        r = http.request(method, _fill(path, "fuzz"), content=body,
                         headers={"content-type": "application/json"})
        if r.status_code >= 500:
            failures.append(f"{method} {path} -> {r.status_code} {r.text[:200]}")
    assert not failures, "\n".join(failures[:30])
