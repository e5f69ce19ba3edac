from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import pytest

from modelplane.artifacts.store import ArtifactStore, get_artifact_store, validate_relative_path
from modelplane.core.errors import IntegrityCheckError, InvalidArgumentError, NotFoundError


@pytest.fixture(params=["path", "file", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "path":
        return ArtifactStore(tmp_path / "blobs-root")
    if request.param == "file":
        return ArtifactStore(f"file://{tmp_path / 'file-root'}")
    return ArtifactStore(f"memory://mp-test-{uuid.uuid4().hex}")


def test_put_and_get_bytes_by_digest(store: ArtifactStore) -> None:
    data = b"model weights" * 1000
    digest = store.put_bytes(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert store.exists(digest)
    assert store.get_bytes(digest) == data
    assert store.size(digest) == len(data)
    assert store.verify(digest)
    # same content, same digest, stored once
    assert store.put_bytes(data) == digest
    assert list(store.iter_digests()) == [digest]


def test_put_file_and_get_file(store: ArtifactStore, tmp_path: Path) -> None:
    src = tmp_path / "model.bin"
    src.write_bytes(os.urandom(3 * 1024 * 1024 + 7))  # crosses the chunk size
    digest = store.put_file(src)
    out = store.get_file(digest, tmp_path / "out" / "model.bin")
    assert out.read_bytes() == src.read_bytes()
    with store.open(digest) as fh:
        assert fh.read(10) == src.read_bytes()[:10]


def test_directories_round_trip(store: ArtifactStore, tmp_path: Path) -> None:
    src = tmp_path / "model"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("A")
    (src / "sub" / "b.bin").write_bytes(b"\x00\x01")
    tree = store.put_dir(src)
    assert [e["path"] for e in store.read_tree(tree)] == ["a.txt", "sub/b.bin"]
    out = store.get_dir(tree, tmp_path / "restored")
    assert (out / "a.txt").read_text() == "A"
    assert (out / "sub" / "b.bin").read_bytes() == b"\x00\x01"


def test_missing_and_malformed_digests(store: ArtifactStore) -> None:
    with pytest.raises(NotFoundError):
        store.get_bytes("0" * 64)
    for bad in ["../../etc/passwd", "abc", "G" * 64, "0" * 63 + "/"]:
        with pytest.raises(InvalidArgumentError, match="invalid artifact digest"):
            store.exists(bad)


def test_reads_detect_corruption(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "root")
    digest = store.put_bytes(b"original content")
    blob = tmp_path / "root" / "blobs" / digest[:2] / digest[2:]
    blob.write_bytes(b"tampered content")
    assert not store.verify(digest)
    with pytest.raises(IntegrityCheckError, match="corrupt"):
        store.get_bytes(digest)
    with pytest.raises(IntegrityCheckError):
        store.get_file(digest, tmp_path / "copy.bin")
    assert not (tmp_path / "copy.bin").exists()  # nothing half-written at the destination


def test_tree_entries_that_escape_are_refused(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "root")
    entry = b'{"path": "../../escaped", "digest": "' + b"0" * 64 + b'", "size": 1}'
    evil = store.put_bytes(b'{"format": "modelplane.tree/1", "files": [' + entry + b"]}")
    with pytest.raises(InvalidArgumentError, match="relative path"):
        store.get_dir(evil, tmp_path / "out")
    assert not (tmp_path / "escaped").exists()


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a/../../b", "a//b", "", "a\\b", "./a"])
def test_relative_path_validation(name: str) -> None:
    with pytest.raises(InvalidArgumentError):
        validate_relative_path(name)


def test_default_store_lives_in_the_home(mp_home: Path) -> None:
    store = get_artifact_store()
    digest = store.put_bytes(b"x")
    assert (mp_home / "artifacts" / "blobs" / digest[:2] / digest[2:]).exists()
