"""Where alert webhooks may go (``MODELPLANE_WEBHOOK_ALLOW``), checked when a rule is
created (a 422 naming the host) and again when it fires.

The allow-list is comma-separated: host names (``hooks.slack.com``), suffixes
(``*.corp.example``), addresses and networks (``10.1.2.3``, ``10.0.0.0/8``, ``::1``).
Empty, a webhook may go to any host whose every address is public; set, only to the
hosts it lists. Loopback, link-local, private, reserved, multicast and unspecified
addresses are refused unless listed (by name or by network), whatever the host name
resolves to. Header values that look like secrets (``Authorization``, cookies, anything
named like a token, key or secret) must be given as ``env:NAME``: the rule stores the
variable's name, the value is read when the webhook fires, and nothing secret is ever
stored or shown back.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from modelplane.core.errors import InvalidArgumentError

__all__ = ["WebhookGuard", "resolve_headers"]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_SECRET_HEADER = re.compile(r"authorization|cookie|token|secret|key|password|signature",
                            re.IGNORECASE)
_ENV_REF = re.compile(r"^env:([A-Za-z_][A-Za-z0-9_]*)$")


def _refused(host: str, why: str) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"webhook: host {host!r} is refused: {why}; an admin may allow it with "
        "MODELPLANE_WEBHOOK_ALLOW", details={"field": "url", "host": host})


@dataclass(frozen=True)
class WebhookGuard:
    names: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()
    networks: tuple[IPNetwork, ...] = ()
    listed: bool = field(default=False)

    @classmethod
    def parse(cls, allow: str) -> WebhookGuard:
        names, suffixes, networks = set(), [], []
        for raw in (allow or "").split(","):
            item = raw.strip().lower()
            if not item:
                continue
            if item.startswith("*."):
                suffixes.append(item[1:])
                continue
            try:
                networks.append(ipaddress.ip_network(item.strip("[]"), strict=False))
            except ValueError:
                names.add(item)
        return cls(frozenset(names), tuple(suffixes), tuple(networks),
                   bool(names or suffixes or networks))

    def check(self, url: str) -> str:
        """The URL's host when a webhook may call it, else ``InvalidArgumentError``."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme.lower() not in ("http", "https") or not host:
            raise InvalidArgumentError("webhook: url must be an http:// or https:// URL",
                                       details={"field": "url"})
        named = host in self.names or (bool(self.suffixes) and host.endswith(self.suffixes))
        for address in self._addresses(host):
            in_listed_network = any(address in net for net in self.networks)
            if self.listed and not (named or in_listed_network):
                raise _refused(host, "it is not on the allow-list")
            if not address.is_global and not (named or in_listed_network):
                raise _refused(host, f"it resolves to the non-public address {address}")
        return host

    @staticmethod
    def _addresses(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        try:
            return [ipaddress.ip_address(host.strip("[]"))]
        except ValueError:
            pass
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except OSError as exc:
            raise _refused(host, f"it does not resolve ({exc.strerror or exc})") from None
        return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


def check_headers(headers: Any) -> None:
    """Header values that look secret must be ``env:NAME`` references."""
    if headers is None:
        return
    if not isinstance(headers, dict):
        raise InvalidArgumentError("webhook: headers must be an object of strings",
                                   details={"field": "headers"})
    for name, value in headers.items():
        if not isinstance(value, str):
            raise InvalidArgumentError(f"webhook: header {name!r} must be a string",
                                       details={"field": f"headers.{name}"})
        if _SECRET_HEADER.search(str(name)) and not _ENV_REF.match(value):
            raise InvalidArgumentError(
                f"webhook: header {name!r} looks secret: give it as env:VARIABLE_NAME (read "
                "when the webhook fires) so the secret is never stored or shown",
                details={"field": f"headers.{name}"})


def resolve_headers(headers: dict[str, str] | None) -> dict[str, str]:
    """``env:NAME`` values replaced by the variable's value (a missing one is an error)."""
    out = {}
    for name, value in (headers or {}).items():
        match = _ENV_REF.match(value)
        if match:
            if match.group(1) not in os.environ:
                raise InvalidArgumentError(
                    f"webhook: header {name!r} names ${match.group(1)}, which is not set",
                    details={"field": f"headers.{name}"})
            value = os.environ[match.group(1)]
        out[name] = value
    return out
