from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120
        ) -> subprocess.CompletedProcess[str]:
    """Run the real ``modelplane`` entry point in a subprocess."""
    return subprocess.run([sys.executable, "-m", "modelplane", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=timeout)


class LiveServer:
    def __init__(self, proc: subprocess.Popen[str], url: str) -> None:
        self.proc = proc
        self.url = url

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)


def spawn_server(*extra: str, env: dict[str, str] | None = None,
                 wait: bool = True) -> LiveServer:
    """Start ``modelplane server`` under uvicorn on a free loopback port; returns once
    ``/api/v1/health`` answers (at once with ``wait=False``: then call
    :func:`wait_healthy`). Stop it with :func:`stop_server`."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelplane", "server", "--port", str(port),
         "--log-level", "warning", *extra],
        env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )
    server = LiveServer(proc, f"http://127.0.0.1:{port}")
    if wait:
        wait_healthy(server)
    return server


def wait_healthy(server: LiveServer, timeout: float = 60) -> None:
    """Wait for ``/api/v1/health``; a server that exits or stays unhealthy is stopped and
    its output raised."""
    proc = server.proc
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output = proc.stdout.read() if proc.stdout else ""
            stop_server(server)
            raise RuntimeError(f"server exited: {output}")
        try:
            if httpx.get(f"{server.url}/api/v1/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    stop_server(server)
    raise RuntimeError(f"server did not become healthy in {timeout:g} s")


def stop_server(server: LiveServer) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()
    if server.proc.stdout:
        server.proc.stdout.close()


@pytest.fixture
def start_server(mp_home: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start ``modelplane server`` under uvicorn on a free loopback port (see
    :func:`spawn_server`); every server started is stopped after the test."""
    started: list[LiveServer] = []

    def start(*extra: str, env: dict[str, str] | None = None) -> LiveServer:
        server = spawn_server(*extra, env=env)
        started.append(server)
        return server

    yield start
    for server in started:
        stop_server(server)
