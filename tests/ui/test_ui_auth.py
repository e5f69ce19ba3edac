"""The web UI with auth on, in headless Chromium: sign in with a token, promote a version
with a reason and find it on the audit page; a reader sees no action buttons, and a
forged form post (no CSRF token) is refused."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import _in_ci
from tests.integration.conftest import LiveServer, spawn_server, stop_server
from tests.ui.conftest import _server_env

try:
    from playwright.sync_api import expect
except ImportError:
    if _in_ci():
        raise
    pytest.skip("browser tests need the playwright package (pip install -e '.[dev]')",
                allow_module_level=True)

pytestmark = pytest.mark.browser
MODEL = "fraud"


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict]]:
    from modelplane.client import Client
    from modelplane.core.config import Settings

    home: Path = tmp_path_factory.mktemp("uiauth") / "mphome"
    client = Client(Settings(home=home), remote=False)
    for n in range(2):
        digest = client.artifacts.put_bytes(f"model {n}".encode())
        client.registry.create_version(MODEL, artifact_digest=digest, flavor="python")
    tokens = {}
    for name, role in (("mia", "maintainer"), ("rob", "reader"), ("ada", "admin")):
        client.auth.create_user(name, role)
        tokens[role] = client.auth.create_token(name, "browser")[1]
    client.close()
    server = spawn_server("--auth", env=_server_env(home))
    try:
        yield server, tokens
    finally:
        stop_server(server)


@pytest.fixture
def context(browser: Any, auth_server: tuple[LiveServer, dict]) -> Iterator[Any]:
    server, _ = auth_server
    ctx = browser.new_context(base_url=server.url)
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


def _sign_in(page: Any, token: str, target: str) -> None:
    page.goto(target)  # not signed in: sent to the sign-in page, then back
    expect(page.locator("h1")).to_have_text("Sign in")
    page.fill("#token", token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(re.escape(target) + "$"))


def test_sign_in_promote_with_a_reason_and_see_it_audited(
        context: Any, auth_server: tuple[LiveServer, dict]) -> None:
    _, tokens = auth_server
    page = context.new_page()
    page.goto("/login")
    page.fill("#token", "mp_000000000000_" + "A" * 43)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#login-error")).to_contain_text("unknown token")
    _sign_in(page, tokens["maintainer"], f"/models/{MODEL}")
    cookie = next(c for c in context.cookies() if c["name"] == "mp_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    expect(page.locator("#signed-in")).to_contain_text("mia/browser (maintainer)")
    page.on("dialog", lambda dialog: dialog.accept())  # every action asks to confirm
    row = page.locator("#versions tr[data-version='2']")
    row.locator("select[name=stage]").select_option("production")
    row.locator(".stage-form input[name=reason]").fill("beats v1 on recall")
    row.get_by_role("button", name="Set stage").click()
    expect(page.locator("#action-notice")).to_have_text("version 2 is now in production")
    expect(page.locator("#versions tr[data-version='2']")).to_have_attribute(
        "data-stage", "production")
    expect(page.locator("#history tbody tr").first).to_contain_text("beats v1 on recall")
    expect(page.locator("#history tbody tr").first).to_contain_text("mia/browser")
    # a refusal is shown in place: rolling back staging, which has no earlier holder
    page.locator("#rollback-form select[name=stage]").select_option("staging")
    page.locator("#rollback-form input[name=reason]").fill("try it")
    page.locator("#rollback-form").get_by_role("button", name="Roll back").click()
    expect(page.locator("#action-error")).to_contain_text("refused:")
    # the admin finds the promotion on the audit page
    admin = context.browser.new_context(base_url=context.pages[0].url.split("/models")[0])
    try:
        audit = admin.new_page()
        _sign_in(audit, tokens["admin"], "/audit")
        hit = audit.locator("#audit tbody tr", has_text="beats v1 on recall")
        expect(hit).to_have_count(1)
        expect(hit).to_contain_text("mia/browser")
        expect(hit).to_contain_text(f"/models/{MODEL}/versions/2/stage")
    finally:
        admin.close()


def test_a_reader_sees_no_actions_and_a_forged_post_is_refused(
        context: Any, auth_server: tuple[LiveServer, dict]) -> None:
    server, tokens = auth_server
    page = context.new_page()
    _sign_in(page, tokens["reader"], f"/models/{MODEL}")
    expect(page.locator("#versions")).to_be_visible()
    expect(page.locator("form.act")).to_have_count(0)
    expect(page.get_by_role("button", name="Set stage")).to_have_count(0)
    assert page.goto("/audit").status == 403  # the audit page is for admins
    # a maintainer's browser session, posted to without the page's CSRF token
    session = tokens["maintainer"]
    forged = httpx.post(f"{server.url}/models/{MODEL}/versions/1/stage",
                        data={"stage": "archived", "reason": "forged"},
                        cookies={"mp_session": session}, follow_redirects=False)
    assert forged.status_code == 403 and "CSRF" in forged.text
    wrong = httpx.post(f"{server.url}/models/{MODEL}/versions/1/stage",
                       data={"stage": "archived", "reason": "forged", "csrf_token": "0" * 64},
                       cookies={"mp_session": session}, follow_redirects=False)
    assert wrong.status_code == 403
    stage = httpx.get(f"{server.url}/api/v1/models/{MODEL}/versions/1",
                      headers={"Authorization": f"Bearer {session}"}).json()["stage"]
    assert stage != "archived"  # nothing changed
