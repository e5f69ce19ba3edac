"""The code version of a run: the git commit and whether the work tree is dirty."""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

__all__ = ["code_version"]


@functools.lru_cache(maxsize=8)
def _git_version(directory: str) -> tuple[str | None, bool | None]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=directory, capture_output=True, text=True,
                              timeout=5, check=True).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit or None, dirty


def code_version(directory: str | None = None) -> tuple[str | None, bool | None]:
    """``(commit, dirty)`` of the repository holding the running script (or the current
    folder); ``(None, None)`` outside a git repository or without git."""
    if directory is None:
        main = getattr(sys.modules.get("__main__"), "__file__", None)
        directory = str(Path(main).resolve().parent) if main else str(Path.cwd())
    return _git_version(directory)
