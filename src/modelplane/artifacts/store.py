"""A content-addressed blob store (sha256) over fsspec.

Layout under the root::

    blobs/ab/cdef0123...     one file per blob, named by its sha256 hex digest
    tmp/<random>.part        writes in progress (a killed writer's are removed when
                             stale: see ``upkeep``)

A write streams into ``tmp/`` while hashing and is then renamed to its digest, so a
crash (even SIGKILL) never leaves a partial blob under a real digest. Reads verify the
digest. A directory is stored as its files' blobs plus a JSON manifest blob (the
"tree"), whose digest names the whole directory.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import posixpath
import shutil
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO, Any, BinaryIO

from modelplane.core.errors import (
    IntegrityCheckError,
    InvalidArgumentError,
    NotFoundError,
    StorageUnavailableError,
)

__all__ = ["ArtifactStore", "BlobStore", "get_artifact_store", "validate_relative_path"]

CHUNK = 1 << 20
_HEX = frozenset("0123456789abcdef")
TREE_FORMAT = "modelplane.tree/1"


def validate_digest(digest: str) -> str:
    if len(digest) != 64 or not _HEX.issuperset(digest):
        raise InvalidArgumentError(
            f"invalid artifact digest {digest[:80]!r}: expected 64 lowercase hex characters",
            details={"field": "digest"},
        )
    return digest


def validate_relative_path(name: str, *, field: str = "path") -> str:
    """``name`` as a clean relative POSIX path; names that could escape a root are refused."""
    if not name or "\x00" in name or "\\" in name:
        raise InvalidArgumentError(f"invalid {field} {name!r}", details={"field": field})
    pure = PurePosixPath(name)
    if pure.is_absolute() or any(part in ("..", ".", "") for part in name.split("/")):
        raise InvalidArgumentError(
            f"invalid {field} {name!r}: expected a relative path without '..' or '.' parts",
            details={"field": field},
        )
    return str(pure)


class _VerifyingReader(io.RawIOBase):
    """A read-only stream that hashes as it goes and fails at EOF on a digest mismatch."""

    def __init__(self, raw: BinaryIO, digest: str) -> None:
        self._raw = raw
        self._digest = digest
        self._hash = hashlib.sha256()
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        if not data:
            self._finish()
            return 0
        self._hash.update(data)
        buffer[: len(data)] = data
        return len(data)

    def _finish(self) -> None:
        if not self._done:
            self._done = True
            if self._hash.hexdigest() != self._digest:
                raise IntegrityCheckError(
                    f"artifact {self._digest} is corrupt: its content no longer matches its digest",
                    details={"digest": self._digest},
                )

    def close(self) -> None:
        self._raw.close()
        super().close()


class BlobStore(ABC):
    """What every blob store (local, fsspec, the server's through REST) builds on its own
    ``put_file``, ``put_bytes`` and verifying ``open``: directory trees, bytes, files and
    a full verification, written once."""

    @abstractmethod
    def put_file(self, path: str | os.PathLike[str]) -> str: ...

    @abstractmethod
    def put_bytes(self, data: bytes) -> str: ...

    @abstractmethod
    def open(self, digest: str) -> io.BufferedReader: ...

    def put_dir(self, path: str | os.PathLike[str]) -> str:
        """Store every file under ``path`` and a manifest; return the manifest's digest."""
        base = Path(path)
        if not base.is_dir():
            raise NotFoundError(f"directory {str(path)!r} does not exist",
                                details={"field": "path"})
        entries = []
        for file in sorted(p for p in base.rglob("*") if p.is_file()):
            rel = file.relative_to(base).as_posix()
            size = file.stat().st_size
            entries.append({"path": rel, "digest": self.put_file(file), "size": size})
        manifest = {"format": TREE_FORMAT, "files": entries}
        return self.put_bytes(json.dumps(manifest, sort_keys=True).encode())


    def get_bytes(self, digest: str) -> bytes:
        with self.open(digest) as fh:
            return fh.read()

    def get_file(self, digest: str, dest: str | os.PathLike[str]) -> Path:
        """Copy the blob to ``dest`` (written beside it, then renamed; verified)."""
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.part")
        try:
            with self.open(digest) as src, open(tmp, "wb") as out:
                shutil.copyfileobj(src, out, CHUNK)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        return dest

    def read_tree(self, digest: str) -> list[dict[str, Any]]:
        """The manifest entries (path, digest, size) of a stored directory."""
        try:
            manifest = json.loads(self.get_bytes(digest))
        except (ValueError, UnicodeDecodeError):
            manifest = None
        if not isinstance(manifest, dict) or manifest.get("format") != TREE_FORMAT:
            raise InvalidArgumentError(f"artifact {digest} is not a directory tree",
                                       details={"digest": digest})
        for entry in manifest["files"]:
            validate_relative_path(entry["path"])
        return list(manifest["files"])

    def get_dir(self, digest: str, dest: str | os.PathLike[str]) -> Path:
        """Materialise a stored directory under ``dest``."""
        dest = Path(dest)
        for entry in self.read_tree(digest):
            self.get_file(entry["digest"], dest / entry["path"])
        dest.mkdir(parents=True, exist_ok=True)
        return dest

    def verify(self, digest: str) -> bool:
        """True when the blob's content matches its digest; False when it does not."""
        try:
            with self.open(digest) as fh:
                while fh.read(CHUNK):
                    pass
        except IntegrityCheckError:
            return False
        return True


class ArtifactStore(BlobStore):
    """Blobs by sha256 digest in a local folder or any fsspec URL."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        root = str(root)
        if "://" not in root:  # a plain path: the local disk, without importing fsspec
            from modelplane.artifacts.localfs import LocalFileSystem

            self.fs: Any = LocalFileSystem()
            path = os.path.abspath(root)
        else:
            import fsspec.core

            try:
                self.fs, path = fsspec.core.url_to_fs(root)
            except (ImportError, ValueError) as exc:
                raise StorageUnavailableError(
                    f"artifact store {root!r} is unavailable: {exc}") from exc
        self.root_url = root
        self.root = path.rstrip("/") or "/"
        self.protocols = _protocols(self.fs)
        self.is_local = "file" in self.protocols
        self._made: set[str] = set()
        self._lock = threading.Lock()

    # -- paths -----------------------------------------------------------------
    def _blob_path(self, digest: str) -> str:
        validate_digest(digest)
        return posixpath.join(self.root, "blobs", digest[:2], digest[2:])

    def _ensure_dir(self, path: str) -> None:
        if path in self._made:
            return
        self.fs.makedirs(path, exist_ok=True)
        with self._lock:
            self._made.add(path)

    def _tmp_path(self) -> str:
        tmp_dir = posixpath.join(self.root, "tmp")
        self._ensure_dir(tmp_dir)
        return posixpath.join(tmp_dir, f"{uuid.uuid4().hex}.part")

    # -- writes ----------------------------------------------------------------
    def put_bytes(self, data: bytes) -> str:
        return self.put_stream(io.BytesIO(data))

    def put_file(self, path: str | os.PathLike[str]) -> str:
        try:
            with open(path, "rb") as fh:
                return self.put_stream(fh)
        except FileNotFoundError as exc:
            raise NotFoundError(f"file {str(path)!r} does not exist",
                                details={"field": "path"}) from exc

    def put_stream(self, stream: IO[bytes]) -> str:
        """Store everything read from ``stream``; return its digest."""
        tmp = self._tmp_path()
        digest = hashlib.sha256()
        try:
            with self.fs.open(tmp, "wb") as out:
                while chunk := stream.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                if self.is_local:
                    out.flush()
                    os.fsync(out.fileno())
            hexdigest = digest.hexdigest()
            final = self._blob_path(hexdigest)
            if self.fs.exists(final):
                self.fs.rm(tmp)
                return hexdigest
            self._ensure_dir(posixpath.dirname(final))
            if self.is_local:
                os.replace(tmp, final)  # atomic on POSIX
            else:
                self.fs.mv(tmp, final)
            return hexdigest
        except BaseException:
            if self.fs.exists(tmp):
                self.fs.rm(tmp)
            raise

    # -- reads -----------------------------------------------------------------
    def exists(self, digest: str) -> bool:
        return bool(self.fs.exists(self._blob_path(digest)))

    def size(self, digest: str) -> int:
        return int(self.fs.size(self._require(digest)))

    def _require(self, digest: str) -> str:
        path = self._blob_path(digest)
        if not self.fs.exists(path):
            raise NotFoundError(f"artifact {digest} not found", details={"digest": digest})
        return path

    def open(self, digest: str) -> io.BufferedReader:
        """A binary reader; reading to the end raises IntegrityCheckError on corruption."""
        raw = self.fs.open(self._require(digest), "rb")
        return io.BufferedReader(_VerifyingReader(raw, digest), buffer_size=CHUNK)

    def delete(self, digest: str) -> bool:
        path = self._blob_path(digest)
        if self.fs.exists(path):
            self.fs.rm(path)
            return True
        return False

    def iter_digests(self) -> Iterator[str]:
        base = posixpath.join(self.root, "blobs")
        if not self.fs.exists(base):
            return
        for path in self.fs.find(base):
            parts = path.rstrip("/").split("/")
            digest = parts[-2] + parts[-1]
            if len(digest) == 64 and _HEX.issuperset(digest):
                yield digest


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)


_stores: dict[str, ArtifactStore] = {}


def get_artifact_store(root: str | None = None) -> ArtifactStore:
    """The process-wide store for ``root`` (default: the configured artifact root)."""
    from modelplane.core.config import get_settings

    settings = get_settings()
    if root is None:
        root = settings.artifact_root
    store = _stores.get(root)
    if store is None:
        store = _stores[root] = ArtifactStore(root)
        from modelplane.artifacts.upkeep import remove_stale_parts

        try:  # partial uploads of killed writers (see artifacts.upkeep)
            remove_stale_parts(store, settings.artifact_tmp_max_age_seconds)
        except Exception as exc:  # never keeps the store from opening
            import logging

            logging.getLogger("modelplane.artifacts").warning(
                "could not sweep stale partial uploads: %s", exc)
    return store
