"""Prometheus's own ``promtool`` for the tests (``promtool check metrics``).

PyPI has no promtool, so it comes from the Debian/Ubuntu ``prometheus`` package: fetched
with ``apt-get download`` (no root, nothing installed system-wide) and unpacked into
``.tools/`` at the repository root, once. ``$PROMTOOL`` or a ``promtool`` on ``PATH`` win.
``make test`` runs this module first; under ``CI=true`` a missing promtool fails the
tests that need it instead of skipping them.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / ".tools"


def promtool() -> Path | None:
    """The promtool binary, unpacked into ``.tools/`` if needed; None if unavailable."""
    found = os.environ.get("PROMTOOL") or shutil.which("promtool")
    if found:
        return Path(found)
    binary = TOOLS / "promtool"
    if binary.exists():
        return binary
    TOOLS.mkdir(exist_ok=True)
    with open(TOOLS / ".lock", "w") as lock:  # test workers fetch it once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if binary.exists():
            return binary
        if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
            return None
        with tempfile.TemporaryDirectory() as tmp:
            got = subprocess.run(["apt-get", "download", "prometheus"], cwd=tmp,
                                 capture_output=True, text=True)
            debs = list(Path(tmp).glob("prometheus_*.deb"))
            if got.returncode != 0 or not debs:
                return None
            subprocess.run(["dpkg", "-x", str(debs[0]), f"{tmp}/x"], check=True)
            shutil.copy2(f"{tmp}/x/usr/bin/promtool", binary)
    return binary


if __name__ == "__main__":
    print(promtool() or "promtool unavailable")
