"""One verified model cache: ``mp.load_model``, ``Client.materialize`` and serving read a
model's files only after checking them against the registry's digests."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import modelplane as mp
from modelplane.client import Client
from modelplane.core.errors import IntegrityCheckError

# a python-flavor model: stored as a pickle, loaded under the opt-in
pytestmark = pytest.mark.usefixtures("trust_pickles")


class Doubler:
    def predict(self, x: Any) -> Any:
        return np.asarray(x, dtype=float).sum(axis=1) * 2


class _Payload:
    """Unpickling this runs ``open(marker, "w")``: proof that a file was loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def _tamper(root: Path, marker: Path) -> Path:
    """Replace the cached model's pickle with one that writes ``marker`` when loaded."""
    pickled = next(p for p in (root / "model").rglob("*") if p.suffix in (".pkl", ".pickle"))
    pickled.write_bytes(pickle.dumps(_Payload(marker)))
    return pickled


def _blob_path(client: Client, digest: str, name: str) -> Path:
    for entry in client.artifacts.read_tree(digest):
        if Path(entry["path"]).name == name:
            return Path(client.artifacts._blob_path(entry["digest"]))  # type: ignore[attr-defined]
    raise AssertionError(f"{name} not in the tree")


def test_a_tampered_cache_file_is_never_loaded(tmp_path: Path) -> None:
    client = Client()
    version = client.log_model(None, Doubler(), "m", input_example=np.ones((2, 3)))
    assert mp.load_model("models:/m:1").predict(np.ones((1, 3))).tolist() == [6.0]
    root = client.materialize(version.artifact_digest)
    marker = tmp_path / "ran"
    pickled = _tamper(root, marker)
    # the damaged copy is refused and fetched again from the store: the original loads
    model = mp.load_model("models:/m:1")
    assert model.predict(np.ones((1, 3))).tolist() == [6.0]
    assert not marker.exists() and pickled.read_bytes() != pickle.dumps(_Payload(marker))
    # damaged in the store too: a clear error, and still nothing of it was run
    blob = _blob_path(client, version.artifact_digest, pickled.name)
    blob.write_bytes(b"tampered in the store")
    _tamper(root, marker)
    with pytest.raises(IntegrityCheckError, match=r"match.* its digest"):
        mp.load_model("models:/m:1")
    with pytest.raises(IntegrityCheckError):
        client.materialize(version.artifact_digest)
    assert not marker.exists()


def test_load_model_materialize_and_serving_share_one_cache() -> None:
    from modelplane.serving.loading import load_version

    client = Client()
    version = client.log_model(None, Doubler(), "m", input_example=np.ones((2, 3)))
    root = client.materialize(version.artifact_digest)
    assert root == client.settings.home / "cache" / "models" / version.artifact_digest
    assert client.models.path(version) == root / "model"
    loaded = load_version(client.models, version)
    assert loaded.path == root / "model"
    assert sorted(p.name for p in root.parent.iterdir() if not p.name.startswith(".")) == [
        version.artifact_digest]
