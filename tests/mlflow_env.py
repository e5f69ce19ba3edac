"""The mlflow client's own virtual environment (``.venv-mlflow`` at the repository root),
built from ``tests/mlflow-requirements.txt`` on first use (``make mlflow-venv`` builds it
too) and rebuilt when that file changes. The tests run mlflow code as scripts in it."""

from __future__ import annotations

import fcntl
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "tests" / "mlflow-requirements.txt"
VENV = ROOT / ".venv-mlflow"


def mlflow_python() -> Path:
    """The venv's interpreter, built (with pip, from the registry) if missing or stale."""
    python = VENV / "bin" / "python"
    stamp = VENV / ".requirements"
    wanted = REQUIREMENTS.read_text()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    with open(ROOT / ".venv-mlflow.lock", "w") as lock:  # test workers build it once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if python.exists() and stamp.exists() and stamp.read_text() == wanted:
            return python
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)],
                       check=True)
        stamp.write_text(wanted)
    return python


if __name__ == "__main__":
    print(mlflow_python())
