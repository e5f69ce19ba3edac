"""Where alert webhooks may go: the allow-list, private ranges, secret headers."""

from __future__ import annotations

import pytest

from modelplane.core.errors import InvalidArgumentError
from modelplane.monitoring.actions import ActionRegistry
from modelplane.monitoring.webhooks import WebhookGuard, check_headers, resolve_headers


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:9/hook", "http://localhost/x", "http://[::1]/x", "http://10.1.2.3/x",
    "http://192.168.0.10/x", "http://169.254.169.254/latest/meta-data", "http://0.0.0.0/",
    "http://172.16.5.4/", "http://[fe80::1]/x"])
def test_non_public_addresses_are_refused_by_default(url: str) -> None:
    with pytest.raises(InvalidArgumentError, match="is refused") as info:
        WebhookGuard.parse("").check(url)
    assert info.value.details["field"] == "url" and info.value.details["host"]


def test_public_addresses_pass_without_a_list_and_listed_ones_with_it() -> None:
    assert WebhookGuard.parse("").check("https://8.8.8.8/hook") == "8.8.8.8"
    guard = WebhookGuard.parse("127.0.0.1, 10.0.0.0/8, hooks.example.com, *.corp.example")
    assert guard.check("http://127.0.0.1:8080/x") == "127.0.0.1"
    assert guard.check("http://10.9.9.9/x") == "10.9.9.9"
    with pytest.raises(InvalidArgumentError, match="not on the allow-list"):
        guard.check("https://8.8.8.8/hook")  # a list set: only what it lists
    with pytest.raises(InvalidArgumentError, match="is refused"):
        guard.check("http://192.168.1.1/x")


def test_a_listed_name_may_resolve_to_a_private_address() -> None:
    assert WebhookGuard.parse("localhost").check("http://localhost:1/x") == "localhost"
    with pytest.raises(InvalidArgumentError, match="non-public address"):
        WebhookGuard.parse("").check("http://localhost:1/x")


def test_rule_creation_refuses_a_private_host_with_422() -> None:
    registry = ActionRegistry()
    with pytest.raises(InvalidArgumentError, match=r"'127\.0\.0\.1' is refused") as info:
        registry.validate([{"type": "webhook", "url": "http://127.0.0.1:1/x"}])
    assert info.value.http_status == 422
    assert ActionRegistry(webhook_allow="127.0.0.1").validate(
        [{"type": "webhook", "url": "http://127.0.0.1:1/x"}])


def test_secret_headers_must_be_environment_references(monkeypatch: pytest.MonkeyPatch
                                                       ) -> None:
    with pytest.raises(InvalidArgumentError, match="looks secret"):
        check_headers({"Authorization": "Bearer abc"})
    with pytest.raises(InvalidArgumentError, match="looks secret"):
        check_headers({"X-Api-Key": "abc"})
    check_headers({"Authorization": "env:HOOK_TOKEN", "X-Team": "ml"})
    monkeypatch.setenv("HOOK_TOKEN", "Bearer s3cret")
    assert resolve_headers({"Authorization": "env:HOOK_TOKEN"}) == {
        "Authorization": "Bearer s3cret"}
    monkeypatch.delenv("HOOK_TOKEN")
    with pytest.raises(InvalidArgumentError, match="not set"):
        resolve_headers({"Authorization": "env:HOOK_TOKEN"})
