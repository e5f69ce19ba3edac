"""Run heartbeats: a live run says so; a run whose process died is marked failed.

An :class:`~modelplane.tracking.run.ActiveRun` refreshes ``runs.heartbeat_at`` every
``MODELPLANE_RUN_HEARTBEAT_SECONDS`` from the thread that already flushes its metrics
(so a process that is killed, even with SIGKILL, stops beating at once). A run still
``running`` whose heartbeat is older than ``MODELPLANE_RUN_STALE_SECONDS`` is marked
``failed`` by :func:`fail_stale`, which the server runs periodically and every client
process runs once when its first run starts. Runs that never sent a heartbeat (created
through the REST API by another tool, or by an older client) are left alone; for those
``modelplane runs fail-stale`` checks the recorded process on this host.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update

from modelplane.core.timeutil import utcnow
from modelplane.store.db import Database
from modelplane.store.tables import runs

__all__ = ["beat", "fail_stale"]


def beat(db: Database, run_ids: list[str], now: datetime | None = None) -> None:
    """Refresh the heartbeat of the given runs that are still running."""
    if not run_ids:
        return
    with db.session_scope() as session:
        session.execute(update(runs).where(runs.c.id.in_(run_ids), runs.c.status == "running")
                        .values(heartbeat_at=now or utcnow()))


def fail_stale(db: Database, stale_seconds: float, now: datetime | None = None) -> list[str]:
    """Mark ``failed`` the running runs whose heartbeat stopped ``stale_seconds`` ago;
    returns their ids."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=stale_seconds)
    with db.session_scope() as session:
        ids = list(session.execute(select(runs.c.id).where(
            runs.c.status == "running", runs.c.heartbeat_at.is_not(None),
            runs.c.heartbeat_at < cutoff)).scalars())
        if ids:
            session.execute(update(runs).where(runs.c.id.in_(ids), runs.c.status == "running")
                            .values(status="failed", end_time=now))
    return ids
