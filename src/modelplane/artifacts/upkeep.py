"""Clean-up after crashes: partial uploads left in ``tmp/`` by a killed writer.

A write streams into ``tmp/<random>.part`` and is renamed into place when complete; a
process killed mid-write leaves the part behind (137 MB after 15 killed trainers). A part
not modified for ``max_age_seconds`` (an upload in progress keeps touching its part) is
removed: when a process first opens the store, and periodically in the server.
"""

from __future__ import annotations

import logging
import os
import posixpath
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelplane.artifacts.store import ArtifactStore

__all__ = ["remove_stale_parts"]

log = logging.getLogger("modelplane.artifacts")


def _mtime(info: dict[str, Any]) -> float | None:
    for key in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = info.get(key)
        if isinstance(value, int | float):
            return float(value)
        stamp = getattr(value, "timestamp", None)
        if callable(stamp):
            return float(stamp())
    return None


def remove_stale_parts(store: ArtifactStore, max_age_seconds: float,
                       now: float | None = None) -> tuple[int, int]:
    """Remove parts in ``tmp/`` untouched for ``max_age_seconds``; (files, bytes) removed."""
    now = time.time() if now is None else now
    tmp = posixpath.join(store.root, "tmp")
    removed = freed = 0
    parts: list[tuple[str, float | None, int]]
    if store.is_local:
        try:
            entries = [(e.path, e.stat()) for e in os.scandir(tmp) if e.is_file()]
        except FileNotFoundError:
            return 0, 0
        parts = [(path, st.st_mtime, st.st_size) for path, st in entries]
    else:
        try:
            infos = store.fs.ls(tmp, detail=True)
        except (FileNotFoundError, OSError):
            return 0, 0
        parts = [(i["name"], _mtime(i), int(i.get("size") or 0)) for i in infos
                 if i.get("type") == "file"]
    for path, mtime, size in parts:
        if mtime is None or now - mtime < max_age_seconds:
            continue
        try:
            store.fs.rm(path)
        except (FileNotFoundError, OSError):  # finished (renamed) or removed meanwhile
            continue
        removed, freed = removed + 1, freed + size
    if removed:
        log.warning("removed %d stale partial upload(s) (%d bytes) from %s", removed, freed, tmp)
    return removed, freed
