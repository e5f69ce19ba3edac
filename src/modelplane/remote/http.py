"""``RemoteTransport``: the one HTTP connection a remote client keeps to ``modelplane server``.

One ``httpx.Client`` (a connection pool, thread-safe, so the metric flusher thread shares
it) under ``{server_url}/api/v1``. A request that cannot connect is tried again a few
times with a short backoff (it never reached the server, so even a POST is safe to
repeat); a read that times out or breaks is tried again only for idempotent methods.
When the server stays unreachable the call raises
:class:`~modelplane.core.errors.StorageUnavailableError` naming the URL.

An error answer carries the server's envelope ``{"error": {"code", "message",
"details"}}``; :func:`error_from_response` raises the same modelplane exception class,
message and details the embedded client would have raised, so callers cannot tell the
modes apart by their errors.
"""

from __future__ import annotations

import atexit
import json
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import httpx

from modelplane.core import errors
from modelplane.core.errors import ModelplaneError, StorageUnavailableError

__all__ = ["API_PREFIX", "RemoteTransport", "error_from_response", "segment"]

API_PREFIX = "/api/v1"
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 120.0  # a large upload is answered after the server stored and hashed it
RETRIES = 3
#: Idle connections are dropped here before the server drops them (uvicorn: after 5 s),
#: so a request is never written into a connection the server is closing.
KEEPALIVE = 2.0
BACKOFF = 0.1
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})

#: The server's error codes, back to the classes that made them.
_BY_CODE: dict[str, type[ModelplaneError]] = {
    cls.code: cls for cls in (
        errors.NotFoundError, errors.AlreadyExistsError, errors.InvalidArgumentError,
        errors.ConfigurationError, errors.InvalidStateError, errors.PermissionDeniedError,
        errors.UnauthenticatedError, errors.PayloadTooLargeError, errors.IntegrityCheckError,
        errors.StorageUnavailableError, errors.ModelplaneError)
}
#: For codes outside the tree (``method_not_allowed``, ``conflict``...): by status.
_BY_STATUS: dict[int, type[ModelplaneError]] = {
    400: errors.InvalidArgumentError, 401: errors.UnauthenticatedError,
    403: errors.PermissionDeniedError, 404: errors.NotFoundError,
    409: errors.InvalidStateError, 413: errors.PayloadTooLargeError,
    422: errors.InvalidArgumentError, 502: errors.StorageUnavailableError,
    503: errors.StorageUnavailableError, 504: errors.StorageUnavailableError,
}


def segment(value: str | int) -> str:
    """``value`` quoted as one URL path segment (``/`` included)."""
    return quote(str(value), safe="")


def error_from_response(response: httpx.Response) -> ModelplaneError:
    """The modelplane exception an error ``response`` stands for."""
    try:
        envelope = response.json()["error"]
        code, message = str(envelope["code"]), str(envelope["message"])
        details = envelope.get("details") or {}
    except (ValueError, KeyError, TypeError):  # not our envelope: a proxy, a wrong URL
        cls = _BY_STATUS.get(response.status_code, ModelplaneError)
        text = " ".join(response.text.split())[:200]
        return cls(f"the server at {response.request.url} answered {response.status_code}"
                   + (f": {text}" if text else ""), details={"status": response.status_code})
    cls = _BY_CODE.get(code) or _BY_STATUS.get(response.status_code, ModelplaneError)
    if not isinstance(details, dict):
        details = {"details": details}
    error = cls(message, details=details)
    if cls.code != code:  # keep what the server said in the instance
        error.code = code
    return error


class RemoteTransport:
    """Requests to one modelplane server; ``token`` goes in every request's
    ``Authorization: Bearer`` header; ``transport`` is for tests and custom stacks."""

    def __init__(self, server_url: str, *, timeout: float = READ_TIMEOUT,
                 connect_timeout: float = CONNECT_TIMEOUT, retries: int = RETRIES,
                 transport: httpx.BaseTransport | None = None,
                 token: str | None = None) -> None:
        self.server_url = server_url.rstrip("/")
        self.retries = retries
        headers = {"user-agent": _user_agent()}
        if token:  # every request carries it (the server checks it; see MODELPLANE_TOKEN)
            headers["authorization"] = f"Bearer {token}"
        self._options: dict[str, Any] = {
            "base_url": self.server_url + API_PREFIX, "transport": transport,
            "timeout": httpx.Timeout(timeout, connect=connect_timeout),
            "headers": headers,
            "limits": httpx.Limits(max_connections=32, max_keepalive_connections=8,
                                   keepalive_expiry=KEEPALIVE)}
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        _open.add(self)

    @property
    def _http(self) -> httpx.Client:
        """The connection pool, opened on first use and again after :meth:`close`."""
        client = self._client
        if client is None or client.is_closed:
            with self._lock:
                if self._client is None or self._client.is_closed:
                    self._client = httpx.Client(**self._options)
                client = self._client
        return client

    # -- requests ----------------------------------------------------------------------
    def request(self, method: str, path: str, *, params: Any = None, json_body: Any = None,
                content: Any = None, headers: Mapping[str, str] | None = None,
                allow: Iterable[int] = ()) -> httpx.Response:
        """Send and return the answer; an error answer (4xx/5xx) raises the modelplane
        error it carries, unless its status is in ``allow``. ``content`` may be a
        callable returning the body (called again for each try of a streamed upload)."""
        body_headers = dict(headers or {})
        data: Any = None
        if json_body is not None:
            data = json.dumps(json_body).encode()  # NaN and infinities pass, as the API takes
            body_headers["content-type"] = "application/json"
        response = self._send(method, path, params, data, content, body_headers)
        if response.is_error and response.status_code not in allow:
            raise error_from_response(response)
        return response

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=_params(params)).json()

    def post(self, path: str, body: Any = None, **params: Any) -> Any:
        return _json_or_none(self.request("POST", path, params=_params(params),
                                          json_body={} if body is None else body))

    def put(self, path: str, body: Any, **params: Any) -> Any:
        return _json_or_none(self.request("PUT", path, params=_params(params), json_body=body))

    def patch(self, path: str, body: Any) -> Any:
        return _json_or_none(self.request("PATCH", path, json_body=body))

    def delete(self, path: str, **params: Any) -> Any:
        return _json_or_none(self.request("DELETE", path, params=_params(params)))

    @contextmanager
    def stream(self, path: str) -> Iterator[httpx.Response]:
        """A GET whose body is read as it arrives (the caller iterates ``iter_bytes``)."""
        request = self._http.build_request("GET", path)
        response = self._attempt("GET", request, stream=True)
        try:
            if response.is_error:
                response.read()
                raise error_from_response(response)
            yield response
        finally:
            response.close()

    def close(self) -> None:
        """Close pooled connections (a later request opens new ones)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    # -- tries -------------------------------------------------------------------------
    def _send(self, method: str, path: str, params: Any, data: bytes | None, content: Any,
              headers: dict[str, str]) -> httpx.Response:
        def build() -> httpx.Request:
            body = content() if callable(content) else content
            return self._http.build_request(method, path, params=params,
                                            content=data if body is None else body,
                                            headers=headers)
        return self._attempt(method, build)

    def _attempt(self, method: str, request: Any, *, stream: bool = False) -> httpx.Response:
        delay = BACKOFF
        for attempt in range(self.retries + 1):
            built = request() if callable(request) else request
            try:
                return self._http.send(built, stream=stream)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                failure: httpx.TransportError = exc
            except httpx.TimeoutException as exc:
                if method not in _IDEMPOTENT:
                    raise self._unavailable(exc) from exc
                failure = exc
            except (httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError) as exc:
                if method not in _IDEMPOTENT:
                    raise self._unavailable(exc) from exc
                failure = exc
            if attempt == self.retries:
                raise self._unavailable(failure) from failure
            time.sleep(delay)
            delay *= 3
        raise AssertionError("unreachable")  # the loop returns or raises

    def _unavailable(self, exc: httpx.TransportError) -> StorageUnavailableError:
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            why = " ".join(str(exc).split()) or type(exc).__name__
            message = (f"cannot reach the modelplane server at {self.server_url} ({why}); "
                       "is `modelplane server` running there? (MODELPLANE_SERVER_URL)")
        elif isinstance(exc, httpx.TimeoutException):
            message = f"the modelplane server at {self.server_url} did not answer in time"
        else:
            message = (f"the connection to the modelplane server at {self.server_url} broke: "
                       f"{type(exc).__name__}")
        return StorageUnavailableError(message, details={"server_url": self.server_url})

    def __repr__(self) -> str:
        return f"<RemoteTransport {self.server_url}>"


_open: weakref.WeakSet[RemoteTransport] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    """Close pooled sockets at exit (registered when remote mode is first used, so it
    runs after runs still open at exit were ended through them)."""
    for transport in list(_open):
        transport.close()


def _params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Query parameters without the ``None`` ones; booleans as ``true``/``false``."""
    return {k: (str(v).lower() if isinstance(v, bool) else v)
            for k, v in params.items() if v is not None}


def _json_or_none(response: httpx.Response) -> Any:
    return response.json() if response.content else None


def _user_agent() -> str:
    from modelplane.__about__ import __version__

    return f"modelplane-client/{__version__}"
