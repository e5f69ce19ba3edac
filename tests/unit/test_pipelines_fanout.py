"""Fan-out (``step.map``) on the local executor, step resources and the Ray spec checked
at decoration time, and the Ray executor's message when Ray is not installed."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

import modelplane as mp
from modelplane.core.errors import InvalidArgumentError
from modelplane.pipelines import Ray, partitions, pipeline, step


@step(retries=1, retry_delay=0.0)
def double(i: int, marker: str = "") -> int:
    if i == 3 and marker and not Path(marker).exists():
        Path(marker).write_text("x")
        raise RuntimeError("item 3 fails once")
    return 2 * i


@step
def add_up(values: list) -> int:
    return sum(values)


@pipeline(name="fan-local")
def fan(n: int = 5, marker: str = ""):
    return add_up(double.map(range(n), marker=marker))


def test_map_builds_one_node_per_item_and_a_gather() -> None:
    graph = fan.build({"n": 3})
    assert list(graph.nodes) == ["double.0", "double.1", "double.2", "double.gather", "add_up"]
    assert graph.nodes["double.1"].params == {"i": 1, "marker": ""}
    assert set(graph.nodes["double.gather"].inputs) == {"item_0", "item_1", "item_2"}


def test_map_runs_locally_retries_one_item_and_caches_per_item(tmp_path: Path) -> None:
    client = mp.Client()
    run = client.pipelines.run(fan, {"marker": str(tmp_path / "m")})
    assert run.status == "succeeded", run.error
    assert client.pipelines.load_output(run.id, "double.gather") == [0, 2, 4, 6, 8]
    assert client.pipelines.load_output(run.id, "add_up") == 20
    assert run.step("double.3").attempts == 2
    more = client.pipelines.run(fan, {"n": 6, "marker": str(tmp_path / "m")})
    assert sorted(s.name for s in more.steps if s.status == "succeeded") == [
        "add_up", "double.5", "double.gather"]


def test_map_outside_a_build_is_a_plain_call() -> None:
    assert double.map([1, 2]) == [2, 4]


@pytest.mark.parametrize("items, message", [
    ([], "no items"), ("abc", "expected a list"),
])
def test_map_refuses_bad_items(items: Any, message: str) -> None:
    @pipeline(name="fan-bad")
    def bad():
        return double.map(items)

    with pytest.raises(InvalidArgumentError, match=message):
        bad.build()


def test_partitions_lists_files_in_order(tmp_path: Path) -> None:
    for name in ("b.parquet", "a.parquet", "c.csv"):
        (tmp_path / name).write_text("x")
    assert partitions(str(tmp_path / "*.parquet")) == [str(tmp_path / "a.parquet"),
                                                       str(tmp_path / "b.parquet")]
    with pytest.raises(InvalidArgumentError, match="no partitions match"):
        partitions(str(tmp_path / "*.json"))


def test_step_resources_and_executor_are_checked() -> None:
    def fn(x: int) -> int:
        return x

    made = step(fn, executor="ray", resources={"num_cpus": 2, "memory": "4GB"})
    assert made.resources == {"num_cpus": 2.0, "memory": 4e9}
    with pytest.raises(InvalidArgumentError, match=r"resources\.memory"):
        step(fn, resources={"memory": "lots"})
    with pytest.raises(InvalidArgumentError, match=r"resources\.num_gpus"):
        step(fn, resources={"num_gpus": -1})
    with pytest.raises(InvalidArgumentError, match="executor"):
        step(fn, executor="dask")


def test_ray_spec_is_checked() -> None:
    assert Ray(num_workers=4, use_gpu=True).world_size == 4
    with pytest.raises(InvalidArgumentError, match="num_workers"):
        Ray(num_workers=0)
    with pytest.raises(InvalidArgumentError, match="strategy"):
        Ray(strategy="ANYWHERE")
    with pytest.raises(InvalidArgumentError, match="ctx"):
        step(lambda x: x, distributed=Ray())


def test_without_ray_the_executor_says_how_to_install_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ray" else real(name, *a))
    with pytest.raises(InvalidArgumentError, match=r"pip install 'modelplane\[ray\]'"):
        mp.Client().pipelines.run(fan, executor="ray")


def test_ray_is_not_imported_by_modelplane() -> None:
    import subprocess
    import sys

    code = ("import modelplane, modelplane.pipelines, sys; "
            "from modelplane.pipelines import Ray, step; "
            "assert 'ray' not in sys.modules, 'ray imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
