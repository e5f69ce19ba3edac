"""Distributed steps under real torchrun (gloo on CPU, one thread per rank): 2 ranks reach
the loss of 1 process, a rank killed mid-epoch is retried and resumes from its
checkpoint, and two torchrun agents meet on loopback as two nodes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from typing import Any

import pytest

import modelplane as mp
from modelplane.pipelines import Torchrun, pipeline, step
from modelplane.pipelines.examples import ddp_pipeline, train_mlp

pytestmark = pytest.mark.slow

ROWS = 20_480  # 80 steps of the global batch of 256, one epoch
_losses: dict[str, float] = {}


def _loss(nproc: int) -> float:
    if str(nproc) not in _losses:
        run = ddp_pipeline(nproc, name=f"ddp-{nproc}").run(n_rows=ROWS, epochs=1)
        assert run.status == "succeeded", run.error
        result = mp.Client().pipelines.load_output(run.id, "train_mlp")
        assert result["world_size"] == nproc and result["backend"] == "gloo"
        _losses[str(nproc)] = result["final_loss"]
    return _losses[str(nproc)]


def test_two_ranks_reach_the_loss_of_one_process() -> None:
    one, two = _loss(1), _loss(2)
    assert abs(two - one) / one <= 1e-2
    assert one < 0.5  # it learned something (the target's variance is about 1)


def _kill_rank_1(ctx: Any) -> Any:
    kill_at = int(os.environ.get("MP_TEST_KILL_AT_STEP", "-1"))

    def hook(global_step: int) -> None:
        if ctx.attempt == 1 and ctx.rank == 1 and global_step == kill_at:
            os._exit(17)  # a rank dies mid-epoch, no clean-up
    return hook


@step(distributed=Torchrun(nproc_per_node=2), retries=1, retry_delay=0.0, cache=False)
def fragile_train(ctx: Any, n_rows: int = ROWS) -> dict:
    return train_mlp(ctx, n_rows=n_rows, epochs=1, checkpoint_every=10, hook=_kill_rank_1(ctx))


@pipeline(name="ddp-fragile")
def fragile(n_rows: int = ROWS):
    return fragile_train(n_rows=n_rows)


def test_killed_rank_is_retried_and_resumes_from_its_checkpoint(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MP_TEST_KILL_AT_STEP", "25")
    events: list[tuple[str, int]] = []
    run = fragile.run(on_event=lambda e: events.append((e.status, e.attempt)))
    assert run.status == "succeeded", run.error
    assert ("retrying", 1) in events and run.steps[0].attempts == 2
    result = mp.Client().pipelines.load_output(run.id, "fragile_train")
    assert result["resumed_from_step"] == 20 and result["steps"] == 80
    assert abs(result["final_loss"] - _loss(2)) / _loss(2) <= 1e-4


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_two_torchrun_agents_on_loopback_as_two_nodes(mp_home: Any) -> None:
    endpoint = f"127.0.0.1:{_free_port()}"
    flow = ddp_pipeline(1, nnodes=2, rdzv_endpoint=endpoint, name="ddp-2node")
    joiner = subprocess.Popen(
        [sys.executable, "-m", "modelplane", "pipelines", "join", "ddp-2node",
         "--node-rank", "1", "--wait", "120"], env={**os.environ, "MODELPLANE_HOME": str(mp_home)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        run = flow.run(n_rows=ROWS, epochs=1)
        out, _ = joiner.communicate(timeout=120)
    finally:
        if joiner.poll() is None:
            joiner.kill()
            joiner.communicate()
    assert run.status == "succeeded", run.error
    assert joiner.returncode == 0, out[-3000:]
    result = mp.Client().pipelines.load_output(run.id, "train_mlp")
    assert result["world_size"] == 2
    assert abs(result["final_loss"] - _loss(2)) / _loss(2) <= 1e-4
