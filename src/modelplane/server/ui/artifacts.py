"""The artifact browser of a run: its files and folders, and the models registered from it,
as one tree to navigate, preview (small text, images) and download.

A run's own artifacts are listed as logged (a folder artifact's files under its path);
each model version registered from the run appears under ``models/NAME/VERSION/`` with
the files of its stored model (what ``log_model`` wrote), so a logged model is found among
the run's artifacts. Downloads stream from the content-addressed store (verified as read).
A file is shown inline only as an image or as text (escaped, in the page); served bytes
carry ``Content-Security-Policy: sandbox`` and ``nosniff``, so an uploaded HTML or SVG
file never runs in the UI's origin.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, StreamingResponse

from modelplane.core.errors import InvalidArgumentError, NotFoundError
from modelplane.server.deps import ClientDep
from modelplane.server.ui.render import UIRoute, page

__all__ = ["TreeFile", "listing", "router", "run_files"]

router = APIRouter(route_class=UIRoute, include_in_schema=False,
                   default_response_class=HTMLResponse)

TEXT_PREVIEW = 128 * 1024
IMAGE_PREVIEW = 8 * 1024 * 1024
IMAGES = {"image/png", "image/jpeg", "image/gif", "image/webp", "image/svg+xml"}
_CHUNK = 1 << 16


@dataclass(frozen=True)
class TreeFile:
    """One file of the browsable tree: its full path, blob digest and size; ``model`` is
    the ``NAME:VERSION`` it belongs to, for files of a registered model."""

    path: str
    digest: str
    size: int
    model: str = ""


def _tree(store: Any, digest: str) -> list[dict[str, Any]]:
    try:
        return list(store.read_tree(digest))
    except (NotFoundError, InvalidArgumentError):  # a single-file artifact has no tree
        return []


def run_files(client: Any, run_id: str, versions: list[Any] | None = None) -> list[TreeFile]:
    """Every file of run ``run_id``'s tree (``versions``: those registered from it)."""
    tracking, store = client.tracking, client.artifacts
    files = []
    for a in tracking.list_artifacts(run_id):
        if a.is_dir:
            files += [TreeFile(f"{a.path}/{e['path']}", e["digest"], int(e["size"]))
                      for e in _tree(store, a.digest)]
        else:
            files.append(TreeFile(a.path, a.digest, a.size))
    if versions is None:
        quoted = run_id.replace("'", "''")
        versions = client.registry.search_versions(f"run_id = '{quoted}'",
                                                   max_results=100).items
    for v in versions:
        files += [TreeFile(f"models/{v.name}/{v.version}/{e['path']}", e["digest"],
                           int(e["size"]), f"{v.name}:{v.version}")
                  for e in _tree(store, v.artifact_digest)]
    return sorted(files, key=lambda f: f.path)


def listing(files: list[TreeFile], folder: str) -> tuple[list[dict[str, Any]], list[TreeFile]]:
    """The folders (name, path, file count, total size) and files directly in ``folder``."""
    prefix = f"{folder.strip('/')}/" if folder.strip("/") else ""
    folders: dict[str, dict[str, Any]] = {}
    direct = []
    for f in files:
        if not f.path.startswith(prefix):
            continue
        rest = f.path[len(prefix):]
        if "/" in rest:
            name = rest.split("/", 1)[0]
            entry = folders.setdefault(name, {"name": name, "path": prefix + name,
                                              "files": 0, "size": 0, "model": f.model})
            entry["files"] += 1
            entry["size"] += f.size
        else:
            direct.append(f)
    return sorted(folders.values(), key=lambda e: e["name"]), direct


def _find(files: list[TreeFile], run_id: str, path: str) -> TreeFile:
    for f in files:
        if f.path == path:
            return f
    raise NotFoundError(f"run {run_id} has no artifact file {path!r}",
                        details={"run_id": run_id, "path": path})


def _kind(path: str) -> str:
    return mimetypes.guess_type(path)[0] or "application/octet-stream"


@router.get("/runs/{run_id}/artifacts")
def browse(run_id: str, client: ClientDep, path: str = "") -> HTMLResponse:
    run = client.tracking.get_run(run_id)
    files = run_files(client, run.id)
    folder = path.strip("/")
    folders, direct = listing(files, folder)
    if folder and not folders and not direct:
        raise NotFoundError(f"run {run.id} has no artifact folder {folder!r}",
                            details={"run_id": run.id, "path": folder})
    parts = folder.split("/") if folder else []
    crumbs = [("/".join(parts[:i + 1]), p) for i, p in enumerate(parts)]
    return page("artifacts.html", "experiments", run=run, folder=folder, crumbs=crumbs,
                folders=folders, files=direct)


@router.get("/runs/{run_id}/artifacts/view")
def view(run_id: str, path: str, client: ClientDep) -> HTMLResponse:
    run = client.tracking.get_run(run_id)
    found = _find(run_files(client, run.id), run.id, path)
    kind, text, image = _kind(found.path), None, False
    if kind in IMAGES and found.size <= IMAGE_PREVIEW:
        image = True
    elif found.size <= TEXT_PREVIEW:
        text = _text(client.artifacts.get_bytes(found.digest))
    folder = found.path.rsplit("/", 1)[0] if "/" in found.path else ""
    return page("artifact.html", "experiments", run=run, file=found, kind=kind, text=text,
                image=image, folder=folder, limit=TEXT_PREVIEW)


def _text(data: bytes) -> str | None:
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


@router.get("/runs/{run_id}/artifacts/raw", response_model=None)
def raw(run_id: str, path: str, client: ClientDep, download: bool = False
        ) -> StreamingResponse:
    """The file's bytes: inline for images (the preview), else as a download."""
    run = client.tracking.get_run(run_id)
    found = _find(run_files(client, run.id), run.id, path)
    kind = _kind(found.path)
    reader = client.artifacts.open(found.digest)

    def chunks() -> Iterator[bytes]:
        with reader:
            while chunk := reader.read(_CHUNK):
                yield chunk

    name = quote(found.path.rsplit("/", 1)[-1])
    how = "inline" if kind in IMAGES and not download else "attachment"
    return StreamingResponse(chunks(), media_type=kind, headers={
        "content-length": str(found.size), "x-content-type-options": "nosniff",
        "content-security-policy": "sandbox", "etag": f'"{found.digest}"',
        "content-disposition": f"{how}; filename*=UTF-8''{name}"})
