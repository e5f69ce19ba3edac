"""The full server's periodic clean-up after crashes (a daemon thread):

- partial uploads left in the artifact store's ``tmp/`` by killed writers
  (``artifacts.upkeep``), older than ``MODELPLANE_ARTIFACT_TMP_MAX_AGE_SECONDS``;
- runs still ``running`` whose heartbeat stopped ``MODELPLANE_RUN_STALE_SECONDS`` ago
  (their process died: ``tracking.heartbeat``) are marked failed.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modelplane.client import Client

__all__ = ["start_upkeep", "upkeep_once"]

log = logging.getLogger("modelplane.server")


def upkeep_once(client: Client) -> None:
    from modelplane.artifacts.store import ArtifactStore
    from modelplane.artifacts.upkeep import remove_stale_parts

    settings = client.settings
    if isinstance(client.artifacts, ArtifactStore):
        remove_stale_parts(client.artifacts, settings.artifact_tmp_max_age_seconds)
    failed = client.tracking.store.fail_stale_heartbeats(settings.run_stale_seconds)
    if failed:
        log.warning("marked %d run(s) failed: their heartbeat stopped (%s)", len(failed),
                    ", ".join(failed[:5]))


def start_upkeep(client: Client) -> threading.Event:
    """Run :func:`upkeep_once` now and periodically; set the returned event to stop."""
    stop = threading.Event()
    interval = min(60.0, client.settings.run_stale_seconds / 4)

    def loop() -> None:
        while True:
            try:
                upkeep_once(client)
            except Exception as exc:  # a database outage: try again next time
                log.warning("server upkeep failed: %s", exc)
            if stop.wait(interval):
                return

    threading.Thread(target=loop, name="modelplane-upkeep", daemon=True).start()
    return stop
