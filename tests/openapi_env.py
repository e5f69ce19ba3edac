"""``openapi-python-client`` in a virtual environment of its own (``.venv-openapi`` at the
repository root), built on first use and rebuilt when :data:`REQUIREMENT` changes; the
tests generate a client from a live server's ``/openapi.json`` with it and run that
client in the same venv (it has the client's runtime: httpx and attrs). Not a dependency
of modelplane. ``make test`` builds it first."""

from __future__ import annotations

import fcntl
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv-openapi"
REQUIREMENT = "openapi-python-client==0.29.1"


def openapi_python() -> Path:
    """The venv's interpreter, built (with pip, from the registry) if missing or stale."""
    python = VENV / "bin" / "python"
    stamp = VENV / ".requirement"
    if python.exists() and stamp.exists() and stamp.read_text() == REQUIREMENT:
        return python
    with open(ROOT / ".venv-openapi.lock", "w") as lock:  # test workers build it once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if python.exists() and stamp.exists() and stamp.read_text() == REQUIREMENT:
            return python
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", REQUIREMENT], check=True)
        stamp.write_text(REQUIREMENT)
    return python


if __name__ == "__main__":
    print(openapi_python())
