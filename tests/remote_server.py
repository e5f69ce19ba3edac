"""A live ``modelplane server`` in a thread of the test process, for the contract suites'
``remote`` cases: uvicorn on a free loopback port, real HTTP, its own home (so each test
starts from an empty platform, as the embedded cases do). The server's own embedded
client (``server.client``) is what a serving replica would write through (deployment
stats, leases); the remote client under test sees only the URL.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

__all__ = ["ThreadServer", "thread_server"]


class ThreadServer:
    def __init__(self, url: str, app: Any) -> None:
        self.url = url
        self.app = app

    @property
    def client(self) -> Any:
        """The server's embedded client (its one wiring)."""
        return self.app.state.client


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def thread_server(home: Path, **settings: Any) -> Iterator[ThreadServer]:
    """Serve ``create_app`` for a fresh home (``settings`` override the defaults) until
    the block ends."""
    import uvicorn

    from modelplane.core.config import Settings
    from modelplane.server.app import create_app

    # the tests drive canary analysis and alert rules themselves (tick, evaluate)
    values: dict[str, Any] = {"home": home, "prediction_log_process": False,
                              "deployment_poll_seconds": 3600.0,
                              "alert_interval_seconds": 3600.0}
    values.update(settings)
    app = create_app(Settings(**values))
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"test-server-{port}", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        httpx.get(f"{url}/api/v1/health", timeout=5).raise_for_status()
        yield ThreadServer(url, app)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        app.state.client.close()
