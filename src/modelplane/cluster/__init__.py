"""The connection to a Ray cluster, shared by the executors that use one (pipeline steps,
distributed steps, batch inference): Ray is an optional extra, imported only here and only
when asked for, and a missing cluster or a missing Ray is a clear error.

What runs on the workers lives in ``modelplane.workers.ray_tasks`` (an entry point: it builds
a client); :func:`worker_entry` names it for Ray, which pickles it by reference and imports
it on the worker, the way the subprocess executor starts ``python -m
modelplane.workers.pipeline_step``.
"""

from __future__ import annotations

import importlib
import importlib.util
import socket
from typing import Any

from modelplane.core.errors import InvalidArgumentError, StorageUnavailableError

__all__ = ["INSTALL_HINT", "connect", "require_ray", "worker_entry"]

INSTALL_HINT = "install it with pip install 'modelplane[ray]'"
WORKER_MODULE = "modelplane.workers.ray_tasks"


def worker_entry(name: str) -> Any:
    """The function or class ``name`` of the Ray worker entry point module."""
    return getattr(importlib.import_module(WORKER_MODULE), name)


def require_ray(what: str = "the Ray executor") -> Any:
    """The ``ray`` module, or a clear error saying how to install it."""
    if importlib.util.find_spec("ray") is None:
        raise InvalidArgumentError(f"{what} needs Ray, which is not installed; {INSTALL_HINT}",
                                   details={"field": "executor"})
    import ray

    return ray


def connect(address: str | None = None) -> Any:
    """Connect this process to the Ray cluster at ``address`` (``HOST:PORT`` of the head's
    GCS, ``ray://HOST:10001`` through Ray Client, or ``auto``/None: ``RAY_ADDRESS`` or the
    cluster started on this machine) once; later calls reuse the connection."""
    ray = require_ray()
    target = (address or "").strip() or None
    if target not in (None, "auto"):
        _check_reachable(target)
    if ray.is_initialized():
        return ray
    import logging

    try:
        ray.init(address=target or "auto", log_to_driver=True, logging_level=logging.WARNING,
                 configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
        where = target or "auto (RAY_ADDRESS or a cluster started on this machine)"
        raise StorageUnavailableError(
            f"no Ray cluster at {where}: {str(exc).splitlines()[0] if str(exc) else exc!r}; "
            "start one with `ray start --head` or pass --ray-address",
            details={"field": "ray_address"}) from None
    return ray


def _check_reachable(address: str) -> None:
    hostport = address.removeprefix("ray://").rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise InvalidArgumentError(f"Ray address {address!r}: expected HOST:PORT, "
                                   "ray://HOST:PORT or auto", details={"field": "ray_address"})
    try:
        with socket.create_connection((host, int(port)), timeout=5):
            pass
    except OSError as exc:
        raise StorageUnavailableError(f"no Ray cluster at {address}: {exc.strerror or exc}",
                                      details={"field": "ray_address"}) from None
