"""The module-level API: ``mp.start_run``, ``mp.active_run``, ``mp.load_model``.

A default :class:`~modelplane.client.Client` is built from the settings on first use and
rebuilt when ``mp.configure`` changes them. Active runs are a per-thread stack, so
``start_run(nested=True)`` inside a run records the parent.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from modelplane.core.config import on_reset
from modelplane.core.errors import InvalidStateError

if TYPE_CHECKING:
    from modelplane.client import Client
    from modelplane.flavors import LoadedModel
    from modelplane.tracking.run import ActiveRun

__all__ = ["active_run", "default_client", "load_model", "start_run"]

_client: Client | None = None
_client_lock = threading.Lock()
_local = threading.local()


def default_client() -> Client:
    global _client
    if _client is None:
        with _client_lock:
            if _client is None:
                from modelplane.client import Client

                _client = Client()
    return _client


@on_reset
def _forget_client() -> None:
    global _client
    _client = None


def _stack() -> list[ActiveRun]:
    if not hasattr(_local, "runs"):
        _local.runs = []
    stack: list[ActiveRun] = _local.runs
    while stack and stack[-1].ended:
        stack.pop()
    return stack


def active_run() -> ActiveRun | None:
    """The innermost run started with :func:`start_run` in this thread and not ended."""
    stack = _stack()
    return stack[-1] if stack else None


def start_run(experiment: str = "Default", *, name: str | None = None,
              params: dict[str, Any] | None = None, tags: dict[str, Any] | None = None,
              nested: bool = False, synchronous: bool = False) -> ActiveRun:
    """Start a run; use it as a context manager (a failure inside marks it failed)."""
    stack = _stack()
    parent = stack[-1] if stack else None
    if parent is not None and not nested:
        raise InvalidStateError(
            f"run {parent.id} is already active in this thread; end it first or pass "
            "nested=True to start a child run", details={"active_run": parent.id})
    run = default_client().start_run(experiment, name=name, params=params, tags=tags,
                                     parent_run_id=parent.id if parent else None,
                                     synchronous=synchronous)
    stack.append(run)
    return run


def load_model(uri: str, *, format: str | None = None, allow_pickle: bool = False) -> LoadedModel:
    """Load a registered model by URI: ``models:/name:3``, ``@champion``, ``@production``.
    A pickle-stored version (it runs code when loaded) needs ``allow_pickle=True``."""
    return default_client().load_model(uri, format=format, allow_pickle=allow_pickle)
