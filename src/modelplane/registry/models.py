"""Registered models as local files: one verified cache for every way a model is loaded.

:class:`ModelSource` is what serving, batch inference, evaluation gates and pipelines need
of the registry: resolve a ``models:/`` URI to a version, and fetch a version's artifact
tree as a local folder whose every file has been checked. :class:`ModelFiles` is the one
implementation: ``mp.load_model``, ``Client.materialize``, ``modelplane serve`` and
``modelplane predict`` all read through it, so none of them can load a file the registry
did not record.

Pickle-stored versions (``version.pickled``) load only when allowed: by the caller
(``allow_pickle=True``), by this process's ``MODELPLANE_ALLOW_PICKLE`` setting, or by the
model's admin setting in the registry (see ``docs/security.md``).

The cache lives under ``$MODELPLANE_HOME/cache/models/<digest>``. A tree is downloaded
once (into a temporary folder renamed into place, so a crash never leaves a half copy
under the real name), and every fetch checks each file's size and sha256 against the
tree's manifest. A damaged copy is fetched again once, then refused with
:class:`~modelplane.core.errors.IntegrityCheckError`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from modelplane.core.errors import IntegrityCheckError, InvalidArgumentError

if TYPE_CHECKING:
    from modelplane.flavors import LoadedModel
    from modelplane.registry.entities import ModelVersion, RegisteredModel

__all__ = ["BlobTrees", "ModelFiles", "ModelSource", "VersionResolver"]

log = logging.getLogger("modelplane.registry")


class VersionResolver(Protocol):
    """Resolves ``models:/NAME:3``, ``@alias`` and ``@stage``, and reads a registered
    model's settings (the registry service)."""

    def resolve(self, uri: str) -> ModelVersion: ...

    def get_model(self, name: str) -> RegisteredModel: ...


class BlobTrees(Protocol):
    """The part of an artifact store that stored directory trees need."""

    def read_tree(self, digest: str) -> list[dict[str, Any]]: ...

    def get_dir(self, digest: str, dest: str | os.PathLike[str]) -> Path: ...


class ModelSource(Protocol):
    """Where loaded and served models come from."""

    def resolve(self, uri: str) -> ModelVersion:
        """The version ``uri`` names now."""

    def fetch(self, digest: str) -> Path:
        """The local folder of artifact tree ``digest``, every file verified."""

    def path(self, version: ModelVersion, format: str | None = None) -> Path:
        """The verified folder of ``version``'s model in ``format`` (None: native)."""

    def pickle_allowed(self, version: ModelVersion, allow_pickle: bool = False) -> bool:
        """Whether ``version`` may be unpickled here (see the module docstring)."""


class ModelFiles:
    """The verified local model cache (see the module docstring). ``allow_pickle``: this
    process loads pickle-stored versions without asking (``MODELPLANE_ALLOW_PICKLE``)."""

    def __init__(self, versions: VersionResolver, blobs: BlobTrees, cache_root: Path, *,
                 allow_pickle: bool = False) -> None:
        self.versions = versions
        self.blobs = blobs
        self.cache_root = Path(cache_root)
        self.allow_pickle = allow_pickle

    def resolve(self, uri: str) -> ModelVersion:
        return self.versions.resolve(uri)

    def fetch(self, digest: str) -> Path:
        root = self._download(digest)
        problem = self._mismatch(digest, root)
        if problem is not None:
            log.warning("cached model %s is damaged (%s); fetching it again", digest, problem)
            shutil.rmtree(root, ignore_errors=True)
            root = self._download(digest)
            problem = self._mismatch(digest, root)
            if problem is not None:
                raise IntegrityCheckError(f"artifact {digest}: {problem}",
                                          details={"digest": digest})
        return root

    def path(self, version: ModelVersion, format: str | None = None) -> Path:
        root = self.fetch(version.artifact_digest)
        if format is None or version.flavor == format:
            return root / "model"
        formats = version.model_meta.get("formats", [])
        if format in formats:
            return root / format
        raise InvalidArgumentError(
            f"{version.uri} has no {format!r} form (it has "
            f"{', '.join(['native', *formats])}); log it with onnx=True, or register an "
            "ONNX version", details={"field": "format", "expected": ["native", *formats],
                                     "got": format})

    def pickle_allowed(self, version: ModelVersion, allow_pickle: bool = False) -> bool:
        if allow_pickle or self.allow_pickle:
            return True
        return version.pickled and self.versions.get_model(version.name).allow_pickle

    def load(self, uri: str, *, format: str | None = None, allow_pickle: bool = False,
             **options: Any) -> LoadedModel:
        """Resolve ``uri``, fetch and verify its files, load it with its flavor (a
        pickle-stored version only when allowed)."""
        from modelplane import flavors

        version = self.resolve(uri)
        return flavors.load_model(self.path(version, format),
                                  allow_pickle=self.pickle_allowed(version, allow_pickle),
                                  **options)

    def _download(self, digest: str) -> Path:
        final = self.cache_root / digest
        if (final / ".complete").exists():
            return final
        self.cache_root.mkdir(parents=True, exist_ok=True)
        tmp = self.cache_root / f".{digest}.{uuid.uuid4().hex}"
        try:
            self.blobs.get_dir(digest, tmp)
            (tmp / ".complete").touch()
            try:
                os.rename(tmp, final)
            except OSError:  # another process finished first
                if not (final / ".complete").exists():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return final

    def _mismatch(self, digest: str, root: Path) -> str | None:
        for entry in self.blobs.read_tree(digest):
            file = root / entry["path"]
            if not file.is_file():
                return f"{entry['path']} is missing"
            if file.stat().st_size != entry["size"] or _sha256(file) != entry["digest"]:
                return f"{entry['path']} does not match its digest"
        return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
