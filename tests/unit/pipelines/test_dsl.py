"""The DSL and graph validation: everything here fails before any step runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import modelplane as mp
from modelplane.core.errors import InvalidArgumentError
from modelplane.pipelines import Torchrun, pipeline, step
from tests.unit.pipelines import flows


def test_building_records_the_dag_without_running() -> None:
    graph = flows.simple.build({"n": 4})
    assert list(graph.nodes) == ["load", "features", "summary"]
    assert graph.nodes["summary"].upstream == {"load", "features"}
    assert graph.nodes["load"].params == {"n": 4}
    assert graph.nodes["features"].params == {"scale": 1.0}
    assert graph.topological_order() == ["load", "features", "summary"]


def test_a_step_outside_a_pipeline_is_the_plain_function() -> None:
    frame = flows.load(3)
    assert isinstance(frame, pd.DataFrame) and len(frame) == 3
    assert mp.step is step and mp.pipeline is pipeline


def test_unknown_and_missing_pipeline_parameters() -> None:
    with pytest.raises(InvalidArgumentError, match="has no parameter 'rows'; it accepts: n, scale"):
        flows.simple.build({"rows": 3})

    @pipeline
    def needs(size: int):
        return flows.load(n=size)

    with pytest.raises(InvalidArgumentError, match="needs parameter 'size'"):
        needs.build()


def test_unknown_step_argument() -> None:
    @pipeline
    def bad():
        return flows.load(rows=3)

    with pytest.raises(InvalidArgumentError, match=r"step 'load'.*unexpected keyword"):
        bad.build()


def test_cycle_is_named() -> None:
    @pipeline
    def cyclic():
        a = flows.load()
        b = flows.features(a)
        c = flows.summary(b, a)
        a.after(c)
        return c

    with pytest.raises(InvalidArgumentError,
                       match="pipeline 'cyclic' has a cycle: load -> summary -> load"):
        cyclic.build()


def test_type_mismatch_between_steps() -> None:
    @step
    def make_frame() -> pd.DataFrame:
        return pd.DataFrame({"a": [1]})

    @step
    def wants_array(values: np.ndarray) -> float:
        return float(values.sum())

    @pipeline
    def mismatched():
        return wants_array(make_frame())

    with pytest.raises(InvalidArgumentError,
                       match="'make_frame' returns DataFrame but step 'wants_array' takes "
                             "values: ndarray"):
        mismatched.build()


def test_compatible_annotations_pass() -> None:
    @step
    def count() -> int:
        return 1

    @step
    def half(x: float | None) -> float:
        return (x or 0) / 2

    @pipeline
    def ok():
        return half(count())

    assert list(ok.build().nodes) == ["count", "half"]


def test_multiple_outputs_unpack() -> None:
    graph = flows.Churn.as_pipeline().build()
    assert list(graph.nodes) == ["prepare_data", "train", "evaluate"]
    assert graph.nodes["train"].inputs["train_data"].index == 0
    assert graph.nodes["evaluate"].inputs["test_data"].index == 1
    assert graph.params == {"n": 60, "C": 1.0}


def test_step_option_errors() -> None:
    with pytest.raises(InvalidArgumentError, match="retries"):
        step(retries=-1)(lambda: 1)
    with pytest.raises(InvalidArgumentError, match="rdzv_endpoint"):
        Torchrun(nnodes=2)
    with pytest.raises(InvalidArgumentError, match="first parameter, named ctx"):
        step(distributed=Torchrun())(lambda x: x)


def test_torchrun_missing_fails_before_running(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else real(name, *a))

    @step(distributed=Torchrun(nproc_per_node=2))
    def train(ctx: object) -> int:
        raise AssertionError("must not run")

    @pipeline
    def dist():
        return train()

    with pytest.raises(InvalidArgumentError, match="torch is not installed"):
        dist.run()
    assert mp.Client().pipelines.list_runs() == []


def test_bad_cron_and_executor() -> None:
    from modelplane.pipelines.schedule import parse_cron

    assert parse_cron(" 0 3 * * * ") == "0 3 * * *"
    with pytest.raises(InvalidArgumentError, match="does not parse"):
        parse_cron("0 25 * * *")
    with pytest.raises(InvalidArgumentError, match="unknown executor"):
        flows.simple.run(executor="cluster")


def test_a_training_pipeline_missing_a_method_is_a_clear_error() -> None:
    from modelplane.core.errors import InvalidArgumentError
    from modelplane.pipelines import TrainingPipeline

    class Incomplete(TrainingPipeline):
        def prepare_data(self, **params: object) -> object:
            return [], []

    with pytest.raises(InvalidArgumentError, match="Incomplete must define evaluate, train"):
        Incomplete.as_pipeline()
