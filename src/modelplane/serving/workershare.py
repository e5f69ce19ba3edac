"""Figures shared between the ``--workers`` processes of one server, so that ``/metrics``
answers for the whole server whichever worker the scrape reaches.

The command that starts the workers creates a private folder and names it in
``MODELPLANE_WORKER_METRICS_DIR``. Each worker writes a snapshot of its figures there
(``<name>-<pid>.json``, replaced atomically) every second and whenever it is scraped; a
scrape sums the snapshots of every worker. Counters and histograms of a worker that has
exited still count (Prometheus counters never go down); its gauges do not.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

from modelplane.core.procs import pid_alive

__all__ = ["ENV", "WorkerShare", "from_env", "shared_folder"]

ENV = "MODELPLANE_WORKER_METRICS_DIR"
log = logging.getLogger("modelplane.serving")


class WorkerShare:
    """Publishes this worker's snapshots into ``directory`` and gathers everyone's."""

    def __init__(self, directory: str | os.PathLike[str], interval_s: float = 1.0) -> None:
        self.directory = Path(directory)
        self.pid = os.getpid()
        self._sources: dict[str, Callable[[], Any]] = {}
        self._interval = interval_s
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def add(self, name: str, snapshot: Callable[[], Any]) -> None:
        """Publish ``snapshot()`` under ``name`` (every interval, and at each gather)."""
        self._sources[name] = snapshot
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True,
                                            name="modelplane-worker-metrics")
            self._thread.start()

    def publish(self, name: str) -> None:
        data = orjson.dumps(self._sources[name]())
        path = self.directory / f"{name}-{self.pid}.json"
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def gather(self, name: str) -> list[tuple[bool, Any]]:
        """``(alive, snapshot)`` of every worker that published ``name``, this one first
        (published now)."""
        self.publish(name)
        out: list[tuple[bool, Any]] = []
        for path in sorted(self.directory.glob(f"{name}-*.json")):
            try:
                pid = int(path.stem.rsplit("-", 1)[1])
                data = orjson.loads(path.read_bytes())
            except (OSError, ValueError, orjson.JSONDecodeError):
                continue  # a worker replacing its file right now, or not ours
            entry = (pid == self.pid or pid_alive(pid), data)
            if pid == self.pid:
                out.insert(0, entry)
            else:
                out.append(entry)
        return out

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            for name in list(self._sources):
                try:
                    self.publish(name)
                except Exception:  # a full disk must not take the server down
                    log.debug("could not publish %s figures", name, exc_info=True)

    def close(self) -> None:
        self._stop.set()


_shared: WorkerShare | None = None
_lock = threading.Lock()


def from_env() -> WorkerShare | None:
    """This process's share when ``MODELPLANE_WORKER_METRICS_DIR`` names a folder."""
    global _shared
    directory = os.environ.get(ENV)
    if not directory or not Path(directory).is_dir():
        return None
    with _lock:
        if _shared is None or str(_shared.directory) != directory:
            _shared = WorkerShare(directory)
        return _shared


@contextlib.contextmanager
def shared_folder(workers: int) -> Iterator[None]:
    """For ``workers`` > 1: a private folder named in the environment the worker
    processes inherit, removed afterwards."""
    if workers <= 1:
        yield
        return
    directory = tempfile.mkdtemp(prefix="modelplane-workers-")
    previous = os.environ.get(ENV)
    os.environ[ENV] = directory
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = previous
        shutil.rmtree(directory, ignore_errors=True)
