"""The few filesystem operations the blob store needs, on the local disk, without fsspec.

A plain-path artifact root (the default) uses this: importing fsspec costs ~70 ms at
start-up, which a short-lived process (a cached pipeline run) pays for nothing. Any URL
(``file://``, ``s3://``, ``memory://``) still goes through fsspec.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import IO, Any

__all__ = ["LocalFileSystem"]


class LocalFileSystem:
    protocol = ("file", "local")

    def open(self, path: str, mode: str = "rb") -> IO[Any]:
        return open(path, mode)  # the caller closes it

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        os.makedirs(path, exist_ok=exist_ok)

    def mv(self, source: str, target: str) -> None:
        os.replace(source, target)

    def rm(self, path: str) -> None:
        if os.path.isdir(path):
            shutil.rmtree(path)
        else:
            os.remove(path)

    def size(self, path: str) -> int:
        return os.path.getsize(path)

    def find(self, base: str) -> list[str]:
        return sorted(_walk(base))


def _walk(base: str) -> Iterator[str]:
    for folder, _dirs, files in os.walk(base):
        for name in files:
            yield os.path.join(folder, name)
