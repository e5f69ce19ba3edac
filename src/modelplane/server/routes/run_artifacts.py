"""Run artifacts and datasets over HTTP (included by :mod:`modelplane.server.routes.tracking`).

An upload is the raw request body, streamed into the content-addressed artifact store
(bounded memory: the blocking store reads the body chunk by chunk from the event loop)
and then recorded on the run. A download streams a file's bytes (verified against its
digest as they are read); a folder artifact answers with its manifest. Paths are
relative and ``..`` is refused (422) before anything is read.
"""

from __future__ import annotations

import io
import mimetypes
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import quote

import anyio
import anyio.from_thread
import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from modelplane.artifacts.store import CHUNK, ArtifactStore, validate_relative_path
from modelplane.core.errors import NotFoundError
from modelplane.core.timeutil import utcnow
from modelplane.server.deps import TrackingDep
from modelplane.server.schemas.tracking import (
    ArtifactOut,
    ArtifactTreeOut,
    DatasetDetailOut,
    DatasetOut,
    TreeEntryOut,
)
from modelplane.tracking.entities import RunArtifact
from modelplane.tracking.service import TrackingService

__all__ = ["router"]

router = APIRouter(tags=["tracking"])


class _BodyReader(io.RawIOBase):
    """A blocking reader over the request's async body, for use in a worker thread."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = memoryview(b"")
        self._eof = False
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending and not self._eof:
            self._pending = memoryview(anyio.from_thread.run(self._next))
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        self.size += count
        return count

    async def _next(self) -> bytes:
        try:
            return await self._chunks.__anext__()
        except StopAsyncIteration:
            self._eof = True
            return b""


_RAW_BODY = {"requestBody": {"required": True, "content": {
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}


@router.put("/runs/{run_id}/artifacts/{path:path}", response_model=ArtifactOut,
            status_code=201, openapi_extra=_RAW_BODY)
async def upload_artifact(run_id: str, path: str, request: Request,
                          tracking: TrackingDep) -> ArtifactOut:
    """Store the request body as the file ``path`` of the run (replacing one there)."""
    name = validate_relative_path(path, field="artifact_path")
    await run_in_threadpool(tracking.get_run, run_id)
    reader = _BodyReader(request.stream())
    digest = await anyio.to_thread.run_sync(tracking.artifacts.put_stream,
                                            io.BufferedReader(reader, CHUNK))
    artifact = RunArtifact(name, digest, False, reader.size, utcnow())
    await run_in_threadpool(tracking.record_artifact, run_id, artifact)
    return ArtifactOut.of(artifact)


@router.get("/runs/{run_id}/artifacts", response_model=list[ArtifactOut])
def list_artifacts(run_id: str, tracking: TrackingDep) -> list[ArtifactOut]:
    artifacts = tracking.list_artifacts(run_id)
    if not artifacts:
        tracking.get_run(run_id)  # 404 for an unknown run
    return [ArtifactOut.of(a) for a in artifacts]


@router.get("/runs/{run_id}/artifacts/{path:path}", response_model=None,
            responses={200: {"description": "the file's bytes, or a folder's manifest",
                             "content": {"application/octet-stream": {},
                                         "application/json": {}}}})
def download_artifact(run_id: str, path: str, tracking: TrackingDep) -> Response:
    """A file streams its bytes; a folder (or a folder inside a folder artifact) returns
    its manifest as JSON."""
    name = validate_relative_path(path, field="artifact_path")
    artifact, inner = _find(tracking, run_id, name)
    if not artifact.is_dir:
        return _stream(tracking.artifacts, artifact.digest, artifact.size, name)
    entries = tracking.artifacts.read_tree(artifact.digest)
    prefix = f"{inner}/" if inner else ""
    for entry in entries:
        if inner and entry["path"] == inner:
            return _stream(tracking.artifacts, entry["digest"], entry["size"], name)
    files = [TreeEntryOut(path=e["path"][len(prefix):], digest=e["digest"], size=e["size"])
             for e in entries if e["path"].startswith(prefix)]
    if not files:
        raise _no_artifact(run_id, name)
    tree = ArtifactTreeOut(path=name, digest=artifact.digest, files=files)
    return JSONResponse(tree.model_dump(mode="json"))


def _find(tracking: TrackingService, run_id: str, name: str) -> tuple[RunArtifact, str]:
    """The artifact holding ``name`` and the path inside it (``""`` for itself)."""
    artifacts = tracking.list_artifacts(run_id)
    for artifact in artifacts:
        if artifact.path == name:
            return artifact, ""
    for artifact in artifacts:
        if artifact.is_dir and name.startswith(artifact.path + "/"):
            return artifact, name[len(artifact.path) + 1:]
    if not artifacts:
        tracking.get_run(run_id)  # 404 naming the run when it does not exist
    raise _no_artifact(run_id, name)


def _no_artifact(run_id: str, name: str) -> NotFoundError:
    return NotFoundError(f"run {run_id} has no artifact {name!r}",
                         details={"run_id": run_id, "artifact_path": name})


def _stream(store: ArtifactStore, digest: str, size: int, name: str) -> StreamingResponse:
    reader = store.open(digest)  # NotFoundError (404) before the response starts

    def chunks() -> Iterator[bytes]:
        with reader:
            while chunk := reader.read(CHUNK):
                yield chunk

    media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    filename = quote(name.rsplit("/", 1)[-1])
    return StreamingResponse(chunks(), media_type=media_type, headers={
        "content-length": str(size), "etag": f'"{digest}"',
        "content-disposition": f"attachment; filename*=UTF-8''{filename}"})


# -- datasets --------------------------------------------------------------------------
@router.get("/runs/{run_id}/datasets", response_model=list[DatasetOut])
def run_datasets(run_id: str, tracking: TrackingDep) -> list[DatasetOut]:
    """The dataset versions the run logged, with their role (train, eval...)."""
    found = tracking.run_datasets(run_id)
    if not found:
        tracking.get_run(run_id)
    return [DatasetOut.of(d) for d in found]


@router.get("/datasets/{digest}", response_model=DatasetDetailOut)
def get_dataset(digest: str, tracking: TrackingDep) -> DatasetDetailOut:
    """One dataset version by content digest, with its schema and profile."""
    return DatasetDetailOut.model_validate(tracking.get_dataset(digest).to_dict())
