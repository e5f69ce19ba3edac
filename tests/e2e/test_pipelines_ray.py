"""Pipelines on a real Ray cluster on loopback (a head and one more worker node, one CPU
each): results and cache keys equal the local executor's, a fan-out of 50 items with one
item retried, a lost worker, a timeout, resume after the driver is killed, no cluster at
the address, and a 2-rank gloo training step with the loss torchrun reaches."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import modelplane as mp
from modelplane.core.config import reset_settings
from modelplane.core.errors import StorageUnavailableError
from modelplane.pipelines import Ray, current, pipeline, step
from tests.ray_cluster import free_port, ray_cluster

pytest.importorskip("ray")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    with ray_cluster(head_cpus=1, worker_cpus=1) as address:
        yield address


@step
def make(n: int) -> list:
    return list(range(n))


@step
def scale(values: list, factor: float) -> list:
    return [v * factor for v in values]


@step
def total(values: list) -> float:
    print(f"total of {len(values)} values")  # reaches the driver through Ray's logs
    return float(sum(values))


@pipeline(name="ray-three")
def three(n: int = 10, factor: float = 2.5):
    return total(scale(make(n), factor))


def _summary(run: Any) -> dict[str, tuple[str | None, dict[str, str]]]:
    return {s.name: (s.cache_key, {k: r.digest for k, r in s.outputs.items()})
            for s in run.steps}


def _fresh_home(monkeypatch: pytest.MonkeyPatch, path: Path) -> mp.Client:
    monkeypatch.setenv("MODELPLANE_HOME", str(path))
    reset_settings()
    return mp.Client()


def test_three_steps_on_ray_equal_the_local_executor(
        ray_address: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    on_ray = mp.Client().pipelines.run(three, executor=f"ray:{ray_address}")
    assert on_ray.status == "succeeded", on_ray.error
    assert {s.executor for s in on_ray.steps} == {"ray"}
    local_client = _fresh_home(monkeypatch, tmp_path / "local-home")
    local = local_client.pipelines.run(three, executor="local")
    assert local.status == "succeeded", local.error
    assert _summary(on_ray) == _summary(local)  # same cache keys, same output digests
    assert local_client.pipelines.load_output(local.id, "total") == 112.5
    again = local_client.pipelines.run(three, executor=f"ray:{ray_address}")
    assert {s.status for s in again.steps} == {"cached"}  # the local run's cache serves Ray


@step(retries=1, retry_delay=0.0)
def square(i: int, marker_dir: str) -> int:
    if i == 7:
        marker = Path(marker_dir, "failed-once")
        if not marker.exists():
            marker.write_text("x")
            raise RuntimeError("item 7 fails on its first attempt")
    return i * i


@pipeline(name="ray-fan-out")
def fan(marker_dir: str = "", n: int = 50):
    return square.map(range(n), marker_dir=marker_dir)


def test_fan_out_of_50_items_retries_the_failed_item_alone(
        ray_address: str, tmp_path: Path) -> None:
    client = mp.Client()
    run = client.pipelines.run(fan, {"marker_dir": str(tmp_path)},
                               executor=f"ray:{ray_address}")
    assert run.status == "succeeded", run.error
    assert client.pipelines.load_output(run.id, "square.gather") == [i * i for i in range(50)]
    attempts = {s.name: s.attempts for s in run.steps}
    assert attempts["square.7"] == 2
    assert all(a == 1 for name, a in attempts.items() if name != "square.7")
    assert len(attempts) == 51
    # a second run with one more item reruns only the new one (cached per item)
    more = client.pipelines.run(fan, {"marker_dir": str(tmp_path), "n": 51},
                                executor=f"ray:{ray_address}")
    ran = sorted(s.name for s in more.steps if s.status == "succeeded")
    assert ran == ["square.50", "square.gather"]


@step(retries=1, retry_delay=0.0, cache=False)
def dies_once(marker_dir: str) -> str:
    marker = Path(marker_dir, "died")
    if not marker.exists():
        marker.write_text("x")
        os._exit(3)  # the worker process dies mid-step: no clean-up, no result
    return "survived"


@step(timeout=2.0, cache=False)
def sleeps() -> int:
    time.sleep(60)
    return 1


def test_a_lost_worker_fails_the_attempt_and_the_retry_succeeds(
        ray_address: str, tmp_path: Path) -> None:
    @pipeline(name="ray-lost-worker")
    def lost(marker_dir: str = str(tmp_path)):
        return dies_once(marker_dir)

    run = mp.Client().pipelines.run(lost, executor=f"ray:{ray_address}")
    assert run.status == "succeeded", run.error
    assert run.steps[0].attempts == 2


def test_a_step_past_its_timeout_fails_with_a_clear_error(ray_address: str) -> None:
    @pipeline(name="ray-timeout")
    def slow():
        return sleeps()

    started = time.monotonic()
    run = mp.Client().pipelines.run(slow, executor=f"ray:{ray_address}")
    assert run.status == "failed"
    assert "timed out" in run.steps[0].error
    assert time.monotonic() - started < 30


def test_no_cluster_at_the_address_fails_the_run_resumably() -> None:
    client = mp.Client()
    address = f"127.0.0.1:{free_port()}"
    with pytest.raises(StorageUnavailableError, match=f"no Ray cluster at {address}"):
        client.pipelines.run(three, executor=f"ray:{address}")
    (run,) = client.pipelines.list_runs("ray-three")
    assert run.status == "failed" and "no Ray cluster" in run.error
    assert all(s.status == "pending" for s in client.pipelines.get_run(run.id).steps)


def test_cli_without_a_cluster_says_so_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "MODELPLANE_HOME": str(tmp_path / "home")}
    out = subprocess.run(
        [sys.executable, "-m", "modelplane", "pipelines", "run",
         "tests.e2e.test_pipelines_ray:three", "--executor", "ray", "--ray-address",
         f"127.0.0.1:{free_port()}"], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode != 0
    assert "no Ray cluster at" in out.stderr
    assert "Traceback" not in out.stderr


PIPELINE_FILE = '''
import os, time
from pathlib import Path
from modelplane.pipelines import pipeline, step

@step
def first(n: int) -> int:
    return n + 1

@step(cache=False)
def slow(x: int, marker_dir: str) -> int:
    Path(marker_dir, "slow-started").write_text(str(os.getpid()))
    while not Path(marker_dir, "driver-killed").exists():
        time.sleep(0.1)
    return x * 10

@pipeline(name="ray-resume")
def resumable(n: int = 4, marker_dir: str = ""):
    return slow(first(n), marker_dir)
'''


def test_resume_after_the_driver_is_killed(ray_address: str, tmp_path: Path,
                                           mp_home: Path) -> None:
    Path(tmp_path, "resume_pipe.py").write_text(textwrap.dedent(PIPELINE_FILE))
    env = {**os.environ, "MODELPLANE_HOME": str(mp_home)}
    driver = subprocess.Popen(
        [sys.executable, "-m", "modelplane", "pipelines", "run", "resume_pipe.py:resumable",
         "-p", f"marker_dir={tmp_path}", "--executor", "ray", "--ray-address", ray_address],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while not Path(tmp_path, "slow-started").exists():
            assert driver.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
    Path(tmp_path, "driver-killed").write_text("x")
    client = mp.Client()
    (killed,) = client.pipelines.list_runs("ray-resume")
    killed = client.pipelines.get_run(killed.id)
    assert killed.status == "running"
    assert killed.step("first").status == "succeeded"
    first_ended = killed.step("first").ended_at
    resumed = client.pipelines.resume(killed.id, executor=f"ray:{ray_address}")
    assert resumed.status == "succeeded", resumed.error
    assert resumed.id == killed.id and resumed.attempt == 2
    assert resumed.step("first").ended_at == first_ended  # kept, not rerun
    assert client.pipelines.load_output(resumed.id, "slow") == 50


# -- distributed training: Ray actors vs torchrun ----------------------------------------

ROWS = 4096


def _train_pipeline(distributed: Any, name: str) -> Any:
    from modelplane.pipelines.examples import train_mlp

    @step(name="train_mlp", distributed=distributed, cache=False)
    def train_step(ctx: Any, n_rows: int = ROWS) -> dict:
        current.services  # noqa: B018 - the step's services bind under Ray too
        return train_mlp(ctx, n_rows=n_rows, epochs=1, checkpoint_every=8)

    return pipeline(lambda n_rows=ROWS: train_step(n_rows=n_rows), name=name)


def test_two_gloo_ranks_on_ray_reach_the_loss_of_torchrun(ray_address: str) -> None:
    from modelplane.pipelines import Torchrun

    client = mp.Client()
    on_ray = client.pipelines.run(_train_pipeline(Ray(num_workers=2), "ddp-on-ray"),
                                  executor=f"ray:{ray_address}")
    assert on_ray.status == "succeeded", on_ray.error
    ray_result = client.pipelines.load_output(on_ray.id, "train_mlp")
    assert ray_result["world_size"] == 2 and ray_result["backend"] == "gloo"
    assert on_ray.steps[0].executor == "ray-train"
    torchrun = client.pipelines.run(
        _train_pipeline(Torchrun(nproc_per_node=2), "ddp-on-torchrun"))
    assert torchrun.status == "succeeded", torchrun.error
    expected = client.pipelines.load_output(torchrun.id, "train_mlp")["final_loss"]
    assert abs(ray_result["final_loss"] - expected) <= 1e-2
    scope = f"{on_ray.id}/train_mlp"
    assert client.pipelines.run_store.latest_checkpoint(scope) is not None
