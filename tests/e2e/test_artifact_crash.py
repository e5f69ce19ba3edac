"""A writer killed with SIGKILL mid-write leaves nothing under the digest."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from modelplane.artifacts.store import ArtifactStore

SIZE = 200 * 1024 * 1024
STREAM = textwrap.dedent("""
    import io, random

    class Content(io.RawIOBase):
        '''200 MB of reproducible bytes, produced as they are read.'''
        def __init__(self, size):
            self.left = size
            self.rng = random.Random(1234)
        def readable(self):
            return True
        def read(self, n=-1):
            n = self.left if n < 0 else min(n, self.left)
            self.left -= n
            return self.rng.randbytes(n)
""")


def _content_digest() -> str:
    namespace: dict[str, object] = {}
    exec(STREAM, namespace)
    stream = namespace["Content"](SIZE)  # type: ignore[operator]
    digest = hashlib.sha256()
    while chunk := stream.read(1 << 20):
        digest.update(chunk)
    return digest.hexdigest()


@pytest.mark.slow
def test_sigkill_during_a_200mb_write_leaves_no_blob(tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    writer = STREAM + textwrap.dedent(f"""
        import time
        from modelplane.artifacts.store import ArtifactStore

        class Slow(Content):
            def read(self, n=-1):
                time.sleep(0.002)
                return super().read(n)

        ArtifactStore({str(root)!r}).put_stream(Slow({SIZE}))
        print("finished")
    """)
    proc = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    part_size = 0
    while time.monotonic() < deadline and part_size < 20 * 1024 * 1024:
        parts = list((root / "tmp").glob("*.part")) if (root / "tmp").exists() else []
        part_size = max((p.stat().st_size for p in parts), default=0)
        time.sleep(0.01)
    assert part_size >= 20 * 1024 * 1024, "the writer never got going"
    os.kill(proc.pid, signal.SIGKILL)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert "finished" not in out

    digest = _content_digest()
    store = ArtifactStore(root)
    assert not store.exists(digest)
    assert list(store.iter_digests()) == []

    namespace: dict[str, object] = {}
    exec(STREAM, namespace)
    assert store.put_stream(namespace["Content"](SIZE)) == digest  # type: ignore[operator]
    assert store.exists(digest)
    assert store.verify(digest)
