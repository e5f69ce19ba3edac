"""Load a feature repo: the definitions declared at module level in a folder of Python files
(a folder, never one file: the repo is the whole project, and applying one file of it would
remove what the others declare).

Files are imported with the repo folder first on ``sys.path`` (so they can import each
other) and as the working directory (so relative source paths resolve against the repo).
Files and folders whose names start with ``.`` or ``_`` are skipped, as are virtual
environments.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any

from modelplane.core.errors import InvalidArgumentError, NotFoundError
from modelplane.features.definitions import (
    Entity,
    FeatureService,
    FeatureView,
    OnDemandFeatureView,
)

__all__ = ["load_repo"]

_SKIP = {"venv", ".venv", "env", "site-packages", "node_modules", "__pycache__"}


def _files(root: Path) -> list[Path]:
    out = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if any(p.startswith((".", "_")) or p in _SKIP for p in parts):
            continue
        out.append(path)
    return out


def load_repo(path: str | os.PathLike[str]) -> list[Any]:
    """Every Entity, FeatureView, OnDemandFeatureView and FeatureService the repo's files
    define at module level, in the order found."""
    root = Path(path).resolve()
    if root.is_file():  # one file of a repo would be the whole project: apply would prune
        raise InvalidArgumentError(
            f"feature repo {str(path)!r} is a file; give the repo folder instead "
            f"({str(Path(path).parent) or '.'!r}): every Python file in it is loaded, and the "
            "folder's name is the project", details={"field": "path"})
    if not root.is_dir():
        raise NotFoundError(f"feature repo {str(path)!r} does not exist; expected the folder "
                            "of Python files that declare the definitions",
                            details={"field": "path"})
    folder = root
    found: dict[int, Any] = {}
    previous_cwd = os.getcwd()
    sys.path.insert(0, str(folder))
    os.chdir(folder)
    try:
        for file in _files(root):
            module = ".".join(file.relative_to(folder).with_suffix("").parts)
            sys.modules.pop(module, None)
            try:
                loaded = importlib.import_module(module)
            except Exception as exc:  # the user's code: report where it failed
                raise InvalidArgumentError(
                    f"feature repo file {file.name}: {type(exc).__name__}: {exc}",
                    details={"field": "path", "file": str(file)}) from exc
            for value in vars(loaded).values():
                if isinstance(value, Entity | FeatureView | OnDemandFeatureView |
                              FeatureService):
                    found.setdefault(id(value), value)
    finally:
        os.chdir(previous_cwd)
        sys.path.remove(str(folder))
    return list(found.values())
