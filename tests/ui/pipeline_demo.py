"""A two-step pipeline for the UI tests: ``load -> score``, where ``score`` can be told to
fail (so a run shows a failed step and the steps it left pending)."""

from __future__ import annotations

from modelplane.pipelines.dsl import pipeline, step


@step
def load(n: int = 3) -> list[int]:
    return list(range(n))


@step
def score(values: list[int], fail: bool = False) -> int:
    if fail:
        raise ValueError("score: the demo was told to fail")
    return sum(values)


@step
def report(total: int) -> str:
    return f"total {total}"


@pipeline(name="ui-demo")
def demo(fail: bool = False) -> str:
    return report(score(load(), fail=fail))
