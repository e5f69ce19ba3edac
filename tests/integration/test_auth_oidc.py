"""Sign-in with an identity provider's JWTs, against keys and a JWKS endpoint this test
makes itself: a valid token is accepted with its role claim, others get 401 with why."""

from __future__ import annotations

import json
import threading
import time
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

jwt = pytest.importorskip("jwt", reason="the OIDC tests need PyJWT (pip install -e '.[dev]')")

with warnings.catch_warnings():  # starlette's TestClient warns about httpx on import
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

ISSUER = "https://idp.example.test"


@pytest.fixture(scope="module")
def keys() -> Iterator[tuple[Any, Any, str]]:
    from cryptography.hazmat.primitives.asymmetric import rsa

    good = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(good.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield good, other, f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    server.shutdown()
    server.server_close()


def _token(key: Any, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": "modelplane", "sub": "u-123", "iat": now,
            "exp": now + 300, **claims}
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": "k1"})


def test_jwts_from_the_configured_issuer(keys: Any, tmp_path: Path) -> None:
    from modelplane.core.config import Settings
    from modelplane.server.app import create_app

    good, other, jwks = keys
    settings = Settings(home=tmp_path / "home", prediction_log_process=False,
                        oidc_issuer=ISSUER, oidc_audience="modelplane", oidc_jwks_url=jwks)
    with TestClient(create_app(settings, auth=True)) as client:
        def call(token: str, method: str = "GET") -> Any:
            return client.request(method, "/api/v1/models" if method == "GET" else
                                  "/api/v1/experiments", json={"name": "e"} if
                                  method == "POST" else None,
                                  headers={"Authorization": f"Bearer {token}"})

        reader = _token(good, preferred_username="ann@example.test")
        assert call(reader).status_code == 200
        me = client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {reader}"})
        assert me.json()["user"] == "ann@example.test" and me.json()["role"] == "reader"
        assert call(reader, "POST").status_code == 403
        writer = _token(good, modelplane_role=["reader", "writer"])
        assert call(writer, "POST").status_code == 201
        for bad, reason in ((_token(other), "invalid_jwt"),  # signed by another key
                            (_token(good, aud="someone-else"), "invalid_jwt"),
                            (_token(good, iss="https://evil.test"), "invalid_jwt"),
                            (_token(good, exp=int(time.time()) - 60), "expired")):
            answer = call(bad)
            assert answer.status_code == 401, answer.text
            assert answer.json()["error"]["details"]["reason"] == reason
