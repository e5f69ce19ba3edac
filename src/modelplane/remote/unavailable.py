"""The error for what a remote client cannot do (yet): said plainly, never worked around.

A remote client never opens a local database or artifact store in place of the server's:
a capability without a REST path raises :func:`not_available` at first use.
"""

from __future__ import annotations

from modelplane.core.errors import ConfigurationError

__all__ = ["not_available"]


def not_available(capability: str) -> ConfigurationError:
    """``<capability> is not available in remote mode yet; ...`` (422, naming the setting)."""
    return ConfigurationError(
        f"{capability} is not available in remote mode yet; unset MODELPLANE_SERVER_URL "
        "to use it embedded",
        details={"field": "MODELPLANE_SERVER_URL", "capability": capability})
