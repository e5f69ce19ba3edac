"""Running pipelines in process and in a subprocess pool: cache keys and their
explanations, deleted outputs, retries with backoff, timeouts, typed artifacts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import modelplane as mp
from modelplane.pipelines import pipeline, step
from modelplane.pipelines.cache import cache_key, environment_digest
from tests.unit.pipelines import flows


def _statuses(run: object) -> dict[str, str]:
    return {s.name: s.status for s in run.steps}  # type: ignore[attr-defined]


def test_typed_artifacts_round_trip() -> None:
    run = flows.simple.run(n=6, scale=2.0)
    assert run.status == "succeeded", run.error
    kinds = {s.name: s.outputs["output"].kind for s in run.steps}
    assert kinds == {"load": "dataframe", "features": "ndarray", "summary": "json"}
    service = mp.Client().pipelines
    frame = service.load_output(run.id, "load")
    pd.testing.assert_frame_equal(frame, flows.load(6))
    assert np.array_equal(service.load_output(run.id, "features"), np.arange(6.0)[:, None] * 2)
    assert service.load_output(run.id, "summary") == {"total": 30.0, "rows": 6}
    assert run.steps[2].inputs["frame"].digest == run.steps[0].outputs["output"].digest


def test_cache_hits_and_explains_misses() -> None:
    first = flows.simple.run(n=5)
    assert {s.cache_reason for s in first.steps} == {"miss: first run of this step"}
    again = flows.simple.run(n=5)
    assert set(_statuses(again).values()) == {"cached"}
    assert all(s.cache_reason.startswith("hit: same source") for s in again.steps)
    assert again.steps[0].cached_from == first.steps[0].id
    changed = flows.simple.run(n=5, scale=3.0)
    reasons = {s.name: s.cache_reason for s in changed.steps}
    assert reasons["load"].startswith("hit")
    assert reasons["features"] == "miss: parameter scale changed (was 1.0)"
    assert reasons["summary"].startswith("miss: input values changed")


def test_cache_key_parts() -> None:
    key = cache_key(flows.features, {"scale": 1.0}, {"frame": "a" * 64})
    assert set(key.parts) == {"version", "source", "params", "inputs", "env"}
    assert key.parts["env"] == environment_digest()
    assert cache_key(flows.features, {"scale": 1.0}, {"frame": "a" * 64}).key == key.key
    assert cache_key(flows.features, {"scale": 2.0}, {"frame": "a" * 64}).key != key.key
    assert cache_key(flows.features, {"scale": 1.0}, {"frame": "b" * 64}).key != key.key
    bumped = step(version="2")(flows.features.fn)
    assert cache_key(bumped, {"scale": 1.0}, {"frame": "a" * 64}).key != key.key


def test_source_change_misses() -> None:
    def make(offset: int):  # two functions with the same name, different bodies
        if offset:
            @step(name="value")
            def value() -> int:
                return 2
        else:
            @step(name="value")
            def value() -> int:
                return 1

        @pipeline(name="source-change")
        def flow():
            return value()
        return flow

    make(0).run()
    run = make(1).run()
    assert run.steps[0].cache_reason == "miss: step source changed"


def test_deleted_output_is_a_miss_not_a_broken_hit() -> None:
    first = flows.simple.run(n=7)
    client = mp.Client()
    client.artifacts.delete(first.steps[1].outputs["output"].digest)
    again = flows.simple.run(n=7)
    assert _statuses(again) == {"load": "cached", "features": "succeeded",
                                "summary": "cached"}
    assert "was deleted from the artifact store" in again.steps[1].cache_reason
    assert client.pipelines.load_output(again.id, "summary")["rows"] == 7


def test_retries_with_backoff(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    events: list[tuple[str, str, int]] = []
    run = flows.flaky_flow.run(counter=str(counter), failures=2,
                               on_event=lambda e: events.append((e.step, e.status, e.attempt)))
    assert run.status == "succeeded"
    assert run.steps[0].attempts == 3
    assert [e[1] for e in events] == ["running", "retrying", "running", "retrying", "running",
                                      "succeeded"]
    counter.unlink()
    failed = flows.flaky_flow.run(counter=str(counter), failures=5)
    assert failed.status == "failed" and failed.steps[0].attempts == 3
    assert "flaky failure 3" in failed.steps[0].error and "flaky failure 3" in failed.error


def test_timeout_and_wrong_return_type_fail_clearly() -> None:
    @step(timeout=0.2, cache=False)
    def sleepy() -> int:
        import time

        time.sleep(5)
        return 1

    @step(cache=False)
    def liar() -> pd.DataFrame:
        return [1, 2]  # type: ignore[return-value]

    @pipeline(name="bad-steps")
    def flow():
        return sleepy(), liar()

    run = flow.run()
    assert run.status == "failed"
    errors = {s.name: s.error for s in run.steps}
    assert errors["sleepy"] == "timed out after 0.2 s"
    assert errors["liar"] == "step 'liar' declares -> DataFrame but returned list"


def test_failure_skips_downstream_and_resume_reuses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MP_TEST_FAIL_STEPS", "features")
    failed = flows.simple.run(n=9)
    assert _statuses(failed) == {"load": "succeeded", "features": "failed",
                                 "summary": "skipped"}
    monkeypatch.delenv("MP_TEST_FAIL_STEPS")
    resumed = mp.Client().pipelines.resume(failed.id)
    assert resumed.id == failed.id and resumed.attempt == 2
    assert resumed.status == "succeeded"
    assert resumed.steps[0].ended_at == failed.steps[0].ended_at  # reused, not rerun
    assert _statuses(resumed)["features"] == "succeeded"


def test_subprocess_pool_runs_branches_in_parallel() -> None:
    run = flows.parallel.run(seconds=2.0, executor="subprocess:2")
    assert run.status == "succeeded", run.error
    a, b = mp.Client().pipelines.load_output(run.id, "join")
    assert a["pid"] != b["pid"]
    assert max(a["start"], b["start"]) < min(a["end"], b["end"])  # they overlapped


def test_class_style_pipeline_runs() -> None:
    run = flows.Churn.run(n=80)
    assert run.status == "succeeded", run.error
    assert run.steps[1].outputs["output"].kind == "model"
    assert mp.Client().pipelines.load_output(run.id, "evaluate")["accuracy"] > 0.7


def test_a_vendored_folder_put_on_the_path_by_an_import_keeps_the_cache_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``import ray`` puts ``site-packages/ray/thirdparty_files`` (with ``.dist-info``
    folders) on ``sys.path``: a step's key must not change with what was imported first,
    or a process that imported it misses every cache entry another process wrote."""
    import sys

    import modelplane.pipelines.cache as cache

    site = tmp_path / "site-packages"
    vendored = site / "somepkg" / "thirdparty_files"
    (vendored / "psutil-7.0.0.dist-info").mkdir(parents=True)
    (site / "numpy-2.0.0.dist-info").mkdir()
    monkeypatch.setattr(sys, "path", [str(site)])
    monkeypatch.setattr(cache, "_env_digest", None)
    before = cache.environment_digest()
    monkeypatch.setattr(sys, "path", [str(site), str(vendored)])
    monkeypatch.setattr(cache, "_env_digest", None)
    assert cache.environment_digest() == before
    (site / "pandas-3.0.0.dist-info").mkdir()  # a real change of the environment counts
    monkeypatch.setattr(cache, "_env_digest", None)
    assert cache.environment_digest() != before
