"""After a crash: a killed trainer's run is marked failed by its stopped heartbeat, and a
killed writer's partial upload is removed once stale; live runs and fresh parts stay."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from modelplane.client import Client
from modelplane.core.config import configure

TRAINER = textwrap.dedent("""
    import sys, time
    import modelplane as mp
    with mp.start_run("crash", name=sys.argv[1]) as run:
        for step in range(5):
            run.log_metric("loss", 1.0 / (step + 1), step=step)
        run.flush()
        print(run.id, flush=True)
        time.sleep(600)  # killed long before
""")


def _env(database_url: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "MODELPLANE_DATABASE_URL": database_url,
            "MODELPLANE_RUN_HEARTBEAT_SECONDS": "0.5", "MODELPLANE_RUN_STALE_SECONDS": "3",
            **extra}


def _trainer(database_url: str, name: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-c", TRAINER, name], stdout=subprocess.PIPE,
                            text=True, env=_env(database_url))
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


@pytest.mark.slow
def test_a_killed_trainer_s_run_is_failed_by_its_stopped_heartbeat(database_url: str) -> None:
    killed, killed_id = _trainer(database_url, "killed")
    alive, alive_id = _trainer(database_url, "alive")
    try:
        killed.send_signal(signal.SIGKILL)
        killed.wait(10)
        configure(database_url=database_url, run_heartbeat_seconds=0.5, run_stale_seconds=3)
        client = Client()
        assert client.tracking.get_run(killed_id).status == "running"
        time.sleep(4.5)  # past the stale age; the live trainer kept beating
        # any client process sweeps when its first run starts
        sweep = subprocess.run(
            [sys.executable, "-c", "import modelplane as mp, time\n"
             "with mp.start_run('crash', name='sweeper'): time.sleep(1.5)"],
            env=_env(database_url), capture_output=True, text=True, timeout=120)
        assert sweep.returncode == 0, sweep.stderr
        killed_run = client.tracking.get_run(killed_id)
        assert killed_run.status == "failed" and killed_run.end_time is not None
        assert client.tracking.get_run(alive_id).status == "running"
        metrics = client.tracking.metric_history(killed_id, "loss")
        assert [m.step for m in metrics] == [0, 1, 2, 3, 4]  # what it logged is kept
    finally:
        for proc in (killed, alive):
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
            if proc.stdout is not None:
                proc.stdout.close()


def test_the_server_upkeep_fails_silent_runs_and_keeps_beating_ones(mp_home: Path) -> None:
    from modelplane.server.upkeep import upkeep_once

    configure(run_heartbeat_seconds=0.5, run_stale_seconds=1)
    client = Client()
    silent = client.tracking.start_run("crash", name="silent")
    client.tracking.heartbeat([silent.id])
    never = client.tracking.start_run("crash", name="never beat")  # e.g. made over REST
    with client.start_run("crash", name="beating") as beating:
        time.sleep(1.6)  # the active run keeps beating on its own
        upkeep_once(client)
        assert client.tracking.get_run(silent.id).status == "failed"
        assert client.tracking.get_run(never.id).status == "running"
        assert client.tracking.get_run(beating.id).status == "running"
    assert client.tracking.get_run(beating.id).status == "finished"


WRITER = textwrap.dedent("""
    import io, sys, time
    from modelplane.artifacts.store import ArtifactStore

    class Endless(io.RawIOBase):
        def readable(self):
            return True
        def read(self, n=-1):
            time.sleep(0.001)
            return b"x" * (1 << 16)

    print("writing", flush=True)
    ArtifactStore(sys.argv[1]).put_stream(Endless())
""")


@pytest.mark.slow
def test_a_killed_writer_s_partial_upload_is_removed_once_stale(tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(root)], stdout=subprocess.PIPE,
                              text=True)
    assert writer.stdout is not None and writer.stdout.readline().strip() == "writing"
    parts: list[Path] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        parts = list((root / "tmp").glob("*.part"))
        if parts and parts[0].stat().st_size > 1 << 20:
            break
        time.sleep(0.05)
    writer.send_signal(signal.SIGKILL)
    writer.wait(10)
    writer.stdout.close()
    assert len(parts) == 1 and parts[0].exists()  # the crash left it behind
    old = time.time() - 7200
    os.utime(parts[0], (old, old))  # two hours untouched
    fresh = root / "tmp" / "in-progress.part"
    fresh.write_bytes(b"an upload still being written")

    opened = subprocess.run(
        [sys.executable, "-c", "from modelplane.artifacts.store import get_artifact_store\n"
         "get_artifact_store()"], env={**os.environ, "MODELPLANE_ARTIFACT_ROOT": str(root)},
        capture_output=True, text=True, timeout=60)
    assert opened.returncode == 0, opened.stderr
    assert not parts[0].exists() and fresh.exists()
    assert "removed 1 stale partial upload" in opened.stderr
