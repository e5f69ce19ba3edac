"""``/api/v1/artifacts``: the content-addressed blob store over HTTP, for remote clients.

- ``PUT /artifacts/blobs/{digest}`` streams the raw body into the store while hashing it;
  the blob is renamed into place only when the body hashes to ``digest`` (a mismatch is a
  422 and leaves nothing behind, the temporary file included). The body is bounded by
  ``max_upload_bytes`` (413), as run-artifact uploads are.
- ``HEAD`` / ``GET /artifacts/blobs/{digest}``: presence and size, or the bytes, streamed
  and verified as they are read.
- ``GET /artifacts/trees/{digest}``: a stored directory's manifest (``put_dir``).

Records that point at uploaded blobs, so a remote client can log what the embedded
client logs: ``POST /runs/{run_id}/artifacts`` (a file blob or a whole tree, checked to
be complete) and ``POST /runs/{run_id}/datasets`` (a dataset version described where the
data is).
"""

from __future__ import annotations

import hashlib
import io
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request, Response

from modelplane.artifacts.store import CHUNK, ArtifactStore, validate_digest, validate_relative_path
from modelplane.core.errors import InvalidArgumentError
from modelplane.core.timeutil import utcnow
from modelplane.server.deps import ClientDep, TrackingDep
from modelplane.server.routes.run_artifacts import _BodyReader, _stream
from modelplane.server.schemas.artifacts import ArtifactRecordIn, BlobOut, DatasetRecordIn, TreeOut
from modelplane.server.schemas.tracking import ArtifactOut, DatasetDetailOut, TreeEntryOut
from modelplane.tracking.entities import DatasetRecord, RunArtifact
from modelplane.tracking.service import check_key

__all__ = ["router"]

router = APIRouter(tags=["artifacts"])

_RAW_BODY = {"requestBody": {"required": True, "content": {
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}


class _DigestCheck(io.RawIOBase):
    """Passes the body through, hashing it; at the end, a body that does not hash to the
    claimed digest raises (inside ``put_stream``, which then removes its temporary file)."""

    def __init__(self, raw: io.RawIOBase, expected: str) -> None:
        self._raw = raw
        self._expected = expected
        self._hash = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self._raw.readinto(buffer) or 0
        if count:
            self._hash.update(memoryview(buffer)[:count])
            self.size += count
            return count
        actual = self._hash.hexdigest()
        if actual != self._expected:
            raise InvalidArgumentError(
                f"digest mismatch: the body ({self.size} bytes) hashes to {actual}, not "
                f"{self._expected}; nothing was stored",
                details={"field": "digest", "expected": self._expected, "actual": actual})
        return 0


@router.put("/artifacts/blobs/{digest}", response_model=BlobOut, status_code=201,
            openapi_extra=_RAW_BODY)
async def put_blob(digest: str, request: Request, client: ClientDep) -> BlobOut:
    """Store the request body under ``digest`` after checking it hashes to it."""
    validate_digest(digest)
    store = client.artifacts
    check = _DigestCheck(_BodyReader(request.stream()), digest)
    await anyio.to_thread.run_sync(store.put_stream, io.BufferedReader(check, CHUNK))
    return BlobOut(digest=digest, size=check.size)


@router.head("/artifacts/blobs/{digest}", response_class=Response)
def head_blob(digest: str, client: ClientDep) -> Response:
    """200 with the size as ``content-length`` when the blob is stored, else 404."""
    size = client.artifacts.size(validate_digest(digest))
    return Response(headers={"content-length": str(size), "etag": f'"{digest}"'})


@router.get("/artifacts/blobs/{digest}", response_model=None,
            responses={200: {"content": {"application/octet-stream": {}}}})
def get_blob(digest: str, client: ClientDep) -> Response:
    """The blob's bytes, streamed (verified against the digest as they are read)."""
    store = client.artifacts
    return _stream(store, digest, store.size(validate_digest(digest)), digest)


@router.get("/artifacts/trees/{digest}", response_model=TreeOut)
def get_tree(digest: str, client: ClientDep) -> TreeOut:
    """The files of a stored directory (422 when the blob is not a directory manifest)."""
    entries = client.artifacts.read_tree(validate_digest(digest))
    return TreeOut(digest=digest, files=[TreeEntryOut(**e) for e in entries])


# -- records pointing at uploaded blobs ---------------------------------------------------
@router.post("/runs/{run_id}/artifacts", response_model=ArtifactOut, status_code=201)
def record_artifact(run_id: str, body: ArtifactRecordIn, tracking: TrackingDep) -> ArtifactOut:
    """Record blobs already uploaded as the run's artifact ``path`` (a directory: its
    tree, whose every file must be stored; 422 names the first one missing)."""
    name = validate_relative_path(body.path, field="path")
    tracking.get_run(run_id)
    size = _complete_size(tracking.artifacts, body.digest, body.is_dir)
    artifact = RunArtifact(name, body.digest, body.is_dir, size, utcnow())
    tracking.record_artifact(run_id, artifact)
    return ArtifactOut.of(artifact)


def _complete_size(store: ArtifactStore, digest: str, is_dir: bool) -> int:
    if not is_dir:
        return store.size(digest)  # 404 when it was never uploaded
    entries = store.read_tree(digest)
    for entry in entries:
        if not store.exists(entry["digest"]):
            raise InvalidArgumentError(
                f"tree {digest} is incomplete: file {entry['path']!r} ({entry['digest']}) "
                "is not uploaded", details={"field": "digest", "missing": entry["digest"]})
    return sum(int(entry["size"]) for entry in entries)


@router.post("/runs/{run_id}/datasets", response_model=DatasetDetailOut, status_code=201)
def link_dataset(run_id: str, body: DatasetRecordIn, tracking: TrackingDep) -> DatasetDetailOut:
    """Link a dataset version to the run under ``role`` (stored once per digest)."""
    check_key("dataset role", body.role)
    tracking.get_run(run_id)
    record = DatasetRecord(digest=body.digest, name=body.name, source=body.source,
                           num_rows=body.num_rows, num_columns=body.num_columns,
                           schema=body.schema_, profile=body.profile,
                           created_at=utcnow())
    linked = tracking.store.link_dataset(run_id, record, body.role)
    return DatasetDetailOut.model_validate(linked.to_dict())
