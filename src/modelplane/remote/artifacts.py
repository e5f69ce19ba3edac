"""``RemoteArtifactStore``: the content-addressed artifact store, through the server.

The same methods the client uses on :class:`~modelplane.artifacts.store.ArtifactStore`
(``put_*``, ``get_*``, ``open``, ``read_tree``, ``exists``...), over
``/api/v1/artifacts/blobs/{digest}``. A blob is hashed here first, so an upload names its
digest, is skipped when the server already has it (``HEAD``), streams from disk in
chunks, and is verified by the server before it is stored (a mismatch is a 422 and
nothing is kept). A directory is stored exactly as the local store does it: its files'
blobs, then the manifest blob, whose digest names the tree. Downloads stream to a
temporary file and are verified against their digest before they are renamed into place.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from modelplane.artifacts.store import (
    CHUNK,
    BlobStore,
    validate_digest,
)
from modelplane.core.errors import IntegrityCheckError, NotFoundError
from modelplane.remote.http import RemoteTransport

__all__ = ["RemoteArtifactStore"]


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _chunks(path: Path) -> Callable[[], Iterator[bytes]]:
    """A fresh reader of ``path`` per call (each try of an upload reads it again)."""
    def read() -> Iterator[bytes]:
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                yield chunk
    return read


class _ResponseReader(io.RawIOBase):
    """A blocking reader over a streamed download that checks the digest at the end."""

    def __init__(self, stream: Any, digest: str) -> None:
        self._context = stream
        self._chunks = stream.__enter__().iter_bytes(CHUNK)
        self._digest = digest
        self._hash = hashlib.sha256()
        self._pending = memoryview(b"")
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending and not self._done:
            chunk = next(self._chunks, None)
            if chunk is None:
                self._done = True
                _check(self._hash.hexdigest(), self._digest)
            else:
                self._hash.update(chunk)
                self._pending = memoryview(chunk)
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count

    def close(self) -> None:
        if not self.closed:
            self._context.__exit__(None, None, None)
        super().close()


def _check(actual: str, expected: str) -> None:
    if actual != expected:
        raise IntegrityCheckError(
            f"artifact {expected} arrived corrupt: its content does not match its digest",
            details={"digest": expected, "actual": actual})


class RemoteArtifactStore(BlobStore):
    """Blobs by sha256 digest, kept by the server's artifact store."""

    is_local = False

    def __init__(self, transport: RemoteTransport) -> None:
        self.http = transport
        self.root_url = f"{transport.server_url}/api/v1/artifacts"
        self.protocols = (transport.server_url.split("://", 1)[0],)

    @staticmethod
    def _path(digest: str) -> str:
        return f"/artifacts/blobs/{validate_digest(digest)}"

    # -- writes ------------------------------------------------------------------------
    def put_bytes(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        if not self.exists(digest):
            self.http.request("PUT", self._path(digest), content=data,
                              headers={"content-type": "application/octet-stream"})
        return digest

    def put_file(self, path: str | os.PathLike[str]) -> str:
        file = Path(path)
        if not file.is_file():
            raise NotFoundError(f"file {str(path)!r} does not exist", details={"field": "path"})
        digest = _file_digest(file)
        if not self.exists(digest):
            self.http.request("PUT", self._path(digest), content=_chunks(file), headers={
                "content-type": "application/octet-stream",
                "content-length": str(file.stat().st_size)})
        return digest

    def put_stream(self, stream: IO[bytes]) -> str:
        """Spooled to a temporary file first: the digest must be known before the upload."""
        with tempfile.TemporaryDirectory(prefix="modelplane-upload-") as tmp:
            path = Path(tmp) / "blob"
            with open(path, "wb") as out:
                shutil.copyfileobj(stream, out, CHUNK)
            return self.put_file(path)

    def delete(self, digest: str) -> bool:
        from modelplane.remote.unavailable import not_available

        raise not_available("deleting an artifact blob (the server removes unused ones)")

    # -- reads -------------------------------------------------------------------------
    def exists(self, digest: str) -> bool:
        return self.http.request("HEAD", self._path(digest), allow=(404,)).status_code == 200

    def size(self, digest: str) -> int:
        response = self.http.request("HEAD", self._path(digest), allow=(404,))
        if response.status_code == 404:
            raise NotFoundError(f"artifact {digest} not found", details={"digest": digest})
        return int(response.headers["content-length"])

    def open(self, digest: str) -> io.BufferedReader:
        """A streamed reader; reading to the end raises IntegrityCheckError on corruption."""
        return io.BufferedReader(_ResponseReader(self.http.stream(self._path(digest)), digest),
                                 buffer_size=CHUNK)

    def __repr__(self) -> str:
        return f"<RemoteArtifactStore {self.root_url}>"
