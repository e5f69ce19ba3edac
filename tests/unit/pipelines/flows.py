"""Pipelines the pipeline tests run (importable by reference, for resume and schedules)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from modelplane.pipelines import TrainingPipeline, pipeline, step


def _maybe_fail(name: str) -> None:
    if name in os.environ.get("MP_TEST_FAIL_STEPS", "").split(","):
        raise RuntimeError(f"injected failure in {name}")


@step
def load(n: int = 8) -> pd.DataFrame:
    _maybe_fail("load")
    return pd.DataFrame({"x": np.arange(n, dtype=float), "y": np.arange(n) % 2})


@step
def features(frame: pd.DataFrame, scale: float = 1.0) -> np.ndarray:
    _maybe_fail("features")
    return frame[["x"]].to_numpy() * scale


@step
def summary(values: np.ndarray, frame: pd.DataFrame) -> dict:
    _maybe_fail("summary")
    return {"total": float(values.sum()), "rows": len(frame)}


@pipeline
def simple(n: int = 8, scale: float = 1.0):
    frame = load(n=n)
    return summary(features(frame, scale=scale), frame)


@step
def slow_branch(seconds: float = 1.0, tag: str = "") -> dict:
    started = time.time()
    time.sleep(seconds)
    return {"pid": os.getpid(), "start": started, "end": time.time(), "tag": tag}


@step
def join(a: dict, b: dict) -> list:
    return [a, b]


@pipeline(name="parallel")
def parallel(seconds: float = 1.0):
    return join(slow_branch(seconds=seconds, tag="a"), slow_branch(seconds=seconds, tag="b"))


@step(retries=2, retry_delay=0.05, backoff=2.0, cache=False)
def flaky(counter: str, failures: int = 2) -> int:
    path = Path(counter)
    seen = int(path.read_text()) if path.exists() else 0
    path.write_text(str(seen + 1))
    if seen < failures:
        raise RuntimeError(f"flaky failure {seen + 1}")
    return seen + 1


@pipeline(name="flaky")
def flaky_flow(counter: str = "", failures: int = 2):
    return flaky(counter=counter, failures=failures)


class Churn(TrainingPipeline):
    name = "churn-class"
    params = {"n": 60, "C": 1.0}  # noqa: RUF012

    def prepare_data(self, n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        rng = np.random.default_rng(0)
        frame = pd.DataFrame(rng.standard_normal((n, 3)), columns=["a", "b", "c"])
        frame["target"] = (frame["a"] + frame["b"] > 0).astype(int)
        return frame.iloc[: n // 2], frame.iloc[n // 2:]

    def train(self, train_data: pd.DataFrame, C: float) -> object:
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=C).fit(train_data.drop(columns="target"),
                                           train_data["target"])

    def evaluate(self, model: object, test_data: pd.DataFrame) -> dict:
        X = test_data.drop(columns="target")
        return {"accuracy": float((model.predict(X) == test_data["target"]).mean())}


@step(outputs=("train", "test"))
def tiny_data(n: int = 200, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.standard_normal((n, 4)), columns=["a", "b", "c", "d"])
    frame["target"] = (frame["a"] - frame["b"] + 0.3 * rng.standard_normal(n) > 0).astype(int)
    return frame.iloc[: n // 2].reset_index(drop=True), frame.iloc[n // 2:].reset_index(drop=True)


@step
def fit(data: pd.DataFrame, C: float = 1.0) -> object:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C).fit(data.drop(columns="target"), data["target"])


@pipeline(name="gated")
def gated(C: float = 1.0, model_name: str = "gated-model"):
    from modelplane.pipelines import Gate, register

    train, test = tiny_data()
    return register(fit(train, C=C), model_name, eval_data=test, gates=[Gate("auc")])
