"""The process's default platform, for module-level conveniences only.

``mp.start_run()``, ``mp.load_model()``, ``Pipeline.run()`` without a service and
``modelplane.pipelines.trigger()`` act on "the configured platform": a client built from
the settings on first use (``modelplane.fluent`` owns it). The package root installs the
provider here when ``modelplane`` is imported, so that code below the composition root can
offer those conveniences without importing it. Services never use this: they get their
collaborators in their constructors, from the composition root.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["default_platform", "install_default_platform"]

_provider: Callable[[], Any] | None = None


def install_default_platform(provider: Callable[[], Any]) -> None:
    """Set what :func:`default_platform` returns (the package root does this)."""
    global _provider
    _provider = provider


def default_platform() -> Any:
    """The configured platform (a ``modelplane.Client``), built on first use."""
    if _provider is None:  # only when modelplane.core is used without its package root
        from modelplane.core.errors import InvalidStateError

        raise InvalidStateError("no default platform is installed: import modelplane")
    return _provider()
