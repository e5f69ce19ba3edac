"""The web UI in a real headless Chromium: Debian's ``chromium`` (or the binary named by
``MODELPLANE_TEST_CHROMIUM``) driven by Playwright, against a real ``modelplane server``
over a home filled by :mod:`tests.ui.seed`, with predictions sent over HTTP.

One server and one browser per module; a fresh page per test. Without the browser (or
the ``playwright`` package) the tests skip with the reason; under ``CI=true`` they fail.
Every page a test visits must load without a JavaScript error or a failed request.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import _in_ci
from tests.integration.conftest import LiveServer, spawn_server, stop_server, wait_healthy
from tests.ui import seed

CHROMIUM_ENV = "MODELPLANE_TEST_CHROMIUM"
DEFAULT_CHROMIUM = "/usr/bin/chromium"


def _unavailable(reason: str) -> None:
    if _in_ci():
        pytest.fail(f"{reason}, and CI=true forbids skipping the browser tests")
    pytest.skip(reason)


def chromium_path() -> str:
    """The Chromium binary to drive; skip (or fail under CI=true) when there is none."""
    path = os.environ.get(CHROMIUM_ENV, "").strip() or DEFAULT_CHROMIUM
    found = shutil.which(path)
    if found is None:
        _unavailable(f"browser tests need Chromium at {path} (apt-get install chromium, or "
                     f"set {CHROMIUM_ENV}); not found")
    return str(found)


@dataclass
class UIServer:
    server: LiveServer
    ids: dict[str, Any]

    @property
    def url(self) -> str:
        return self.server.url


def _server_env(home: Path) -> dict[str, str]:
    """The environment of the test process without its modelplane settings, plus the
    seeded home (the server must see only what the seed wrote)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MODELPLANE_") or k.startswith("MODELPLANE_TEST_")}
    # rules are evaluated by the test, once (not by the server's timer meanwhile)
    return {**env, "MODELPLANE_HOME": str(home), "MODELPLANE_ALERT_INTERVAL_SECONDS": "3600"}


def _send_traffic(http: httpx.Client) -> None:
    seed.send_traffic(http)
    deadline = time.monotonic() + 30  # the prediction log is written asynchronously
    while time.monotonic() < deadline:
        health = http.get(f"/api/v1/monitoring/{seed.MODEL}/health").json()
        if health["overall"]["requests"] >= seed.ROWS:
            break
        time.sleep(0.1)
    else:
        raise RuntimeError(f"the prediction log did not reach {seed.ROWS} rows in 30 s")
    http.post(f"/api/v1/monitoring/{seed.MODEL}/rules/evaluate").raise_for_status()
    alerts = http.get(f"/api/v1/monitoring/{seed.MODEL}/alerts").json()["alerts"]
    assert [a["rule_name"] for a in alerts] == ["x1-drift"], alerts


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UIServer]:
    from modelplane.core.config import Settings

    home = tmp_path_factory.mktemp("ui") / "mphome"
    server = spawn_server(env=_server_env(home), wait=False)  # starts while the seed runs
    try:
        ids = seed.seed(Settings(home=home))
        wait_healthy(server)
        with server.client() as http:
            _send_traffic(http)
        yield UIServer(server, ids)
    finally:
        stop_server(server)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    path = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("browser tests need the playwright package (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=path, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, ui_server: UIServer) -> Iterator[Any]:
    """A fresh page on the UI server. Fails the test on any JavaScript error, any 5xx,
    and any failed stylesheet, script or image (a page itself may be a 404 on purpose)."""
    context = browser.new_context(base_url=ui_server.url, viewport={"width": 1280,
                                                                   "height": 900})
    context.set_default_timeout(10_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(f"{tab.url}: {exc}"))
    tab.on("console", lambda msg: errors.append(f"{tab.url}: {msg.text}")
           if msg.type == "error" and not msg.text.startswith("Failed to load resource")
           else None)  # failed loads are judged by their responses, below
    tab.on("response", lambda r: errors.append(f"{r.url}: HTTP {r.status}")
           if r.status >= 500 or (r.status >= 400 and r.request.resource_type != "document")
           else None)
    yield tab
    context.close()
    assert not errors, f"errors in the pages: {errors}"
