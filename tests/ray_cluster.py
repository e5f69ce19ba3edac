"""A real Ray cluster on loopback for tests: a head (``ray start --head --block``) and one
more worker node, each in its own session so that teardown ends exactly the processes this
module started (their process groups, then any straggler found under the cluster's own
temp dir), never ``ray stop`` (which stops every cluster on the machine)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MODELPLANE_") or k.startswith("MODELPLANE_TEST_")}
    src = str(Path(__file__).resolve().parents[1] / "src")
    tests = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([src, tests, env.get("PYTHONPATH", "")])
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    env["OMP_NUM_THREADS"] = "1"
    return env


def _start(args: list[str], log: Path, timeout: float = 120.0) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen([RAY, "start", "--block", *args], stdout=out,
                                stderr=subprocess.STDOUT, env=_env(), start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if "Ray runtime started" in text:
            return proc
        if proc.poll() is not None:
            _stop([proc], None)  # what it started before failing is in its group
            raise RuntimeError(f"ray start ({log.name}) exited {proc.returncode}:\n{text[-3000:]}")
        time.sleep(0.3)
    _stop([proc], None)
    raise RuntimeError(f"ray start did not come up in {timeout:g} s:\n"
                       f"{log.read_text(errors='replace')[-3000:]}")


def _stop(procs: list[subprocess.Popen[bytes]], temp_dir: str | None) -> None:
    for proc in reversed(procs):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    groups = {proc.pid for proc in procs}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the cluster's processes stay in our groups
        left = [pid for pid in _pids_in(groups)]
        if not left:
            break
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
    if temp_dir:
        shutil.rmtree(temp_dir, ignore_errors=True)


def _pids_in(groups: set[int]) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[2]) in groups:
            found.append(int(entry.name))
    return found


@contextlib.contextmanager
def ray_cluster(*, head_cpus: int = 1, worker_cpus: int = 1) -> Iterator[str]:
    """Start the cluster; yield the head's address (``127.0.0.1:PORT``)."""
    temp_dir = tempfile.mkdtemp(prefix="mpray", dir="/tmp")
    port = free_port()

    def common() -> list[str]:  # each node its own ports: two nodes share this machine
        return ["--node-ip-address", "127.0.0.1", "--disable-usage-stats",
                "--dashboard-agent-listen-port", str(free_port()),
                "--metrics-export-port", str(free_port())]

    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(_start(["--head", "--port", str(port), "--num-cpus", str(head_cpus),
                             "--include-dashboard=false", "--temp-dir", temp_dir,
                             "--ray-client-server-port", str(free_port()), *common()],
                            Path(temp_dir, "head.log")))
        if worker_cpus:  # on a loaded machine the second node may time out: once more
            for attempt in (1, 2):
                try:
                    procs.append(_start(["--address", f"127.0.0.1:{port}", "--num-cpus",
                                         str(worker_cpus), *common()],
                                        Path(temp_dir, f"worker{attempt}.log")))
                    break
                except RuntimeError:
                    if attempt == 2:
                        raise
        yield f"127.0.0.1:{port}"
    finally:
        _disconnect()
        _stop(procs, temp_dir)


def _disconnect() -> None:
    if "ray" in sys.modules:
        import ray

        if ray.is_initialized():
            ray.shutdown()
