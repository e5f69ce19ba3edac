"""Peer tools live in their own virtual environments under ``benchmarks/.venvs/``, so
their dependencies never touch modelplane's. Created on first use with pip."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

VENVS = Path(__file__).resolve().parent / ".venvs"


def peer_python(name: str, requirements: list[str]) -> Path | None:
    """The interpreter of the ``name`` venv (created with ``requirements`` if missing);
    None when it cannot be created (no network): the peer column is then left out."""
    venv = VENVS / name
    python = venv / "bin" / "python"
    stamp = venv / ".requirements"
    wanted = "\n".join(requirements)
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    print(f"setting up the {name} benchmark venv ({', '.join(requirements)}) ...",
          file=sys.stderr)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *requirements], check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"could not set up {name}: {exc}; skipping it", file=sys.stderr)
        return None
    stamp.write_text(wanted)
    return python
