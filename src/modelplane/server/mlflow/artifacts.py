"""MLflow's artifact proxy, ``/api/2.0/mlflow-artifacts/artifacts/...``: upload, download
and list, so an mlflow client needs no access to the artifact store.

Paths are those of the ``mlflow-artifacts:/`` URIs this API hands out (see
:class:`~.context.MlflowContext.target`). An upload streams the body into the
content-addressed store and records the file on its run or logged model; a download
streams the blob back, verified against its digest.

Roles (issue 15): download and list need ``reader``; upload needs ``writer``.
"""

from __future__ import annotations

import io
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from modelplane.artifacts.store import CHUNK
from modelplane.core.errors import NotFoundError
from modelplane.core.timeutil import utcnow
from modelplane.server.mlflow.context import FileEntry, MlflowContext, Target
from modelplane.server.mlflow.deps import ContextDep
from modelplane.server.mlflow.errors import MlflowRoute, not_supported
from modelplane.server.routes.run_artifacts import _BodyReader, _stream
from modelplane.tracking.entities import RunArtifact

__all__ = ["listing", "router"]

router = APIRouter(route_class=MlflowRoute, tags=["mlflow"])


def listing(files: list[FileEntry], rel: str) -> list[dict[str, Any]]:
    """The entries directly under ``rel`` (files with their size, folders without)."""
    prefix = f"{rel}/" if rel else ""
    entries: dict[str, dict[str, Any]] = {}
    for f in files:
        if not f.path.startswith(prefix):
            continue
        head, sep, _ = f.path[len(prefix):].partition("/")
        if sep:
            entries.setdefault(head, {"path": head, "is_dir": True})
        else:
            entries[head] = {"path": head, "is_dir": False, "file_size": f.size}
    return sorted(entries.values(), key=lambda e: str(e["path"]))


@router.get("/artifacts")
def list_artifacts(ctx: ContextDep, path: str | None = None) -> dict[str, Any]:
    if not path or not path.strip("/"):
        return {"files": []}
    target = ctx.target(path)
    return {"files": listing(ctx.files(target), target.rel)}


@router.get("/artifacts/{path:path}", response_model=None)
def download(path: str, ctx: ContextDep) -> Response:
    target = ctx.target(path)
    for entry in ctx.files(target):
        if entry.path == target.rel:
            return _stream(ctx.artifacts, entry.digest, entry.size, entry.path)
    raise NotFoundError(f"no artifact at {path!r}", details={"path": path})


@router.put("/artifacts/{path:path}")
async def upload(path: str, request: Request, ctx: ContextDep) -> dict[str, Any]:
    target = ctx.target(path)
    if target.kind == "version" or not target.rel:
        raise not_supported("writing into a registered model version" if target.kind ==
                            "version" else "an upload without a file name")
    await run_in_threadpool(_owner_exists, ctx, target)
    reader = _BodyReader(request.stream())
    digest = await anyio.to_thread.run_sync(ctx.artifacts.put_stream,
                                            io.BufferedReader(reader, CHUNK))
    if target.kind == "model":
        await run_in_threadpool(ctx.logged.add_file, target.owner, target.rel, digest,
                                reader.size)
    else:
        artifact = RunArtifact(target.rel, digest, False, reader.size, utcnow())
        await run_in_threadpool(ctx.tracking.record_artifact, target.owner, artifact)
    return {}


def _owner_exists(ctx: MlflowContext, target: Target) -> None:
    if target.kind == "model":
        ctx.logged.get(target.owner)
    else:
        ctx.tracking.get_run(target.owner)


@router.delete("/artifacts/{path:path}", include_in_schema=False)  # not an operation we offer
def delete(path: str) -> dict[str, Any]:
    raise not_supported("deleting artifacts", "artifacts are kept as long as their run")
