"""The pipelines store contract on SQLite and the real PostgreSQL: runs, resume, lineage
from both ends, checkpoints, and the scheduler lease (two scheduler processes fire each
occurrence once and run each trigger once)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import modelplane as mp
from modelplane.core.config import configure
from modelplane.core.timeutil import utcnow
from tests.unit.pipelines import flows

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def client(database_url: str, mp_home: Path) -> mp.Client:
    configure(database_url=database_url)
    return mp.Client()


def test_run_list_show_and_lineage_from_both_ends(client: mp.Client) -> None:
    service = client.pipelines
    first = flows.gated.run()
    assert first.status == "succeeded", first.error
    report = service.load_output(first.id, "register")
    assert report["passed"] and report["version"] == 1
    version = client.registry.get_version("gated-model", 1)
    assert version.stage == "staging"
    assert version.tags["gate"] == "passed" and version.tags["pipeline_run_id"] == first.id
    # registered from the step's model, re-saved with an input example for serving
    assert client.artifacts.exists(version.artifact_digest) and version.input_example

    lineage = service.model_lineage("gated-model", 1)
    assert lineage.pipeline_run.id == first.id and lineage.step.name == "register"
    assert {s.name for s in lineage.upstream} == {"tiny_data", "fit"}
    data = first.step("tiny_data").outputs
    assert {d.digest for d in lineage.datasets} == {data["train"].digest, data["test"].digest}
    assert lineage.step.tracking_run_id in lineage.tracking_run_ids
    assert client.tracking.get_run(lineage.step.tracking_run_id).tags["pipeline_run_id"] == \
        first.id

    forward = service.run_lineage(first.id)
    assert forward["steps"][-1]["model_versions"] == ["models:/gated-model:1"]
    produced = service.artifact_lineage(data["test"].digest)
    assert produced["produced_by"][0]["step"] == "tiny_data"
    assert {c["step"] for c in produced["consumed_by"]} == {"register"}

    client.registry.set_stage("gated-model", 1, "production")
    worse = flows.gated.run(C=1e-4)
    assert service.load_output(worse.id, "register")["passed"] is False
    assert client.registry.get_latest_version("gated-model").version == 1  # not registered
    runs = service.list_runs("gated")
    assert [r.id for r in runs] == [worse.id, first.id]
    assert service.get_run(first.id).to_dict()["steps"][0]["outputs"]["train"]["kind"] == \
        "dataframe"


def test_resume_reruns_only_failed_and_unfinished(client: mp.Client,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MP_TEST_FAIL_STEPS", "summary")
    failed = flows.simple.run(n=3)
    assert [s.status for s in failed.steps] == ["succeeded", "succeeded", "failed"]
    monkeypatch.delenv("MP_TEST_FAIL_STEPS")
    resumed = client.pipelines.resume(failed.id)
    assert [s.status for s in resumed.steps] == ["succeeded", "succeeded", "succeeded"]
    assert [s.ended_at for s in resumed.steps[:2]] == [s.ended_at for s in failed.steps[:2]]
    assert client.pipelines.resume(failed.id).attempt == 2  # nothing left to do


def test_checkpoints_newest_wins(client: mp.Client) -> None:
    store = client.pipelines.run_store
    assert store.latest_checkpoint("r/s") is None
    store.add_checkpoint("r/s", "a" * 64, {"step": 1})
    store.add_checkpoint("r/s", "b" * 64, {"step": 2})
    assert store.latest_checkpoint("r/s") == ("b" * 64, {"step": 2})


SCHEDULER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, sys.argv[3])
    from modelplane.core.config import configure
    configure(home=sys.argv[4], database_url=sys.argv[1])
    import modelplane as mp
    start = float(sys.argv[2])
    time.sleep(max(0.0, start - time.time()))
    runs = mp.Client().pipelines.scheduler.tick(f"proc-{sys.argv[5]}")
    print(len(runs))
""")


def test_two_schedulers_fire_each_occurrence_once(client: mp.Client, database_url: str,
                                                  mp_home: Path) -> None:
    scheduler = client.pipelines.scheduler
    past = utcnow() - timedelta(minutes=5)
    for i in range(4):
        scheduler.create_schedule("tests.unit.pipelines.flows:simple", "* * * * *",
                                  name=f"every-minute-{i}", params={"n": i + 1}, now=past,
                                  workdir=str(ROOT))
    for i in range(3):
        scheduler.trigger("tests.unit.pipelines.flows:simple", {"n": 10 + i},
                          reason=f"alert {i}", workdir=str(ROOT))
    start = time.time() + 4
    procs = [subprocess.Popen([sys.executable, "-c", SCHEDULER, database_url, str(start),
                               str(ROOT), str(mp_home), str(k)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for k in range(2)]
    outputs = [p.communicate(timeout=180) for p in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    ran = sum(int(out.split()[-1]) for out, _ in outputs)
    triggers = scheduler.list_triggers(100)
    assert ran == 7 and len(triggers) == 7
    assert all(t.status == "done" and t.pipeline_run_id for t in triggers)
    per_schedule = [t.schedule_id for t in triggers if t.source == "schedule"]
    assert len(per_schedule) == len(set(per_schedule)) == 4
    runs = client.pipelines.list_runs("simple", limit=100)
    assert len(runs) == 7 and all(r.status == "succeeded" for r in runs)
    assert sorted(r.params["n"] for r in runs) == [1, 2, 3, 4, 10, 11, 12]
    fired_from = datetime.fromtimestamp(start, UTC)  # the schedulers fired at or after this
    for schedule in scheduler.list_schedules():  # each moved past what it fired
        assert schedule.next_fire_at > fired_from
    # nothing due twice (asked as of the earliest next occurrence: a minute boundary
    # passed since, on a slow machine, makes a new occurrence due, rightly)
    earliest = min(schedule.next_fire_at for schedule in scheduler.list_schedules())
    assert scheduler.fire_due(now=earliest - timedelta(microseconds=1)) == []


def test_a_rerun_that_changes_nothing_registers_nothing(client: mp.Client) -> None:
    """The steps come from the cache, so the model is the very artifact version 1 was
    registered from: the gate says so and nothing new is registered (the quickstart's
    drift rule, firing again on the same data, used to pile up identical versions)."""
    service = client.pipelines
    first = flows.gated.run()
    again = flows.gated.run()
    assert [s.status for s in again.steps][:2] == ["cached", "cached"]
    report = service.load_output(again.id, "register")
    assert report["decision"] == "unchanged" and report["unchanged_from"] == 1
    assert report["version"] is None and report["passed"]
    assert client.registry.get_latest_version("gated-model").version == 1
    assert service.load_output(first.id, "register")["decision"] == "registered"
    changed = flows.gated.run(C=0.5)  # another model: the gate decides as usual
    assert service.load_output(changed.id, "register")["decision"] in ("registered",
                                                                        "rejected")


def test_pipeline_runs_by_start_end_or_pipeline_name(client: mp.Client) -> None:
    from modelplane.core.errors import InvalidArgumentError, NotFoundError

    service = client.pipelines
    first, second = flows.simple.run(n=2), flows.simple.run(n=3)
    assert service.resolve_run_id(first.id[-8:]) == first.id
    assert service.resolve_run_id(second.id) == second.id
    assert service.resolve_run_id("simple") == second.id  # its newest run
    shared = next(n for n in range(4, 32) if first.id[:n] != second.id[:n]) - 1
    with pytest.raises(InvalidArgumentError, match="ambiguous: it matches 2 pipeline runs"):
        service.resolve_run_id(first.id[:max(shared, 4)])
    with pytest.raises(NotFoundError, match="pipeline run 'nothing' not found"):
        service.resolve_run_id("nothing")
