"""``modelplane predict --executor ray`` on a real Ray cluster on loopback: 20 Parquet
files through a pool of model actors give exactly the local command's output, one output
file per input file; a bad model or input is a one-line error."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelplane.client import Client
from modelplane.core.errors import InvalidArgumentError
from tests.ray_cluster import ray_cluster

pytest.importorskip("ray")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    with ray_cluster(head_cpus=2, worker_cpus=0) as address:
        yield address


@pytest.fixture
def model_uri(mp_home: Path) -> str:
    datasets = pytest.importorskip("sklearn.datasets")
    from sklearn.linear_model import LogisticRegression

    frame, target = datasets.load_breast_cancer(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=3000).fit(frame, target)
    Client().log_model(None, model, "cancer", input_example=frame[:5], stage="production")
    return "models:/cancer@production"


def _parts(directory: Path, count: int = 20) -> list[Path]:
    datasets = pytest.importorskip("sklearn.datasets")
    frame, _ = datasets.load_breast_cancer(return_X_y=True, as_frame=True)
    directory.mkdir()
    paths = []
    for i in range(count):
        part = frame.sample(n=50 + i, random_state=i).reset_index(drop=True)
        part.insert(0, "id", np.arange(len(part)) + 1000 * i)
        path = directory / f"part-{i:03d}.parquet"
        part.to_parquet(path, index=False)
        paths.append(path)
    return paths


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "modelplane", *args], capture_output=True,
                          text=True, env=dict(os.environ), timeout=300)


def test_twenty_files_on_ray_equal_the_local_predict(
        ray_address: str, model_uri: str, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from modelplane.serving.batch import predict_file

    parts = _parts(tmp_path / "in")
    out = tmp_path / "out"
    result = _cli("predict", model_uri, "--input", str(tmp_path / "in" / "*.parquet"),
                  "--output", str(out), "--executor", "ray", "--ray-address", ray_address,
                  "--chunk-rows", "16")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "(20 files)" in result.stdout and "2 Ray workers" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == [p.name for p in parts]
    models = Client().models
    for part in parts:
        local = tmp_path / "local" / part.name
        predict_file(model_uri, part, local, chunk_rows=16, models=models)
        assert pq.read_table(out / part.name).equals(pq.read_table(local))


def test_unknown_model_and_missing_input_are_one_line_errors(
        ray_address: str, model_uri: str, tmp_path: Path) -> None:
    _parts(tmp_path / "in", count=2)
    bad_model = _cli("predict", "models:/nope@production", "--input", str(tmp_path / "in"),
                     "--output", str(tmp_path / "o"), "--executor", "ray", "--ray-address",
                     ray_address)
    assert bad_model.returncode != 0 and "Traceback" not in bad_model.stderr
    assert "nope" in bad_model.stderr
    missing = _cli("predict", model_uri, "--input", str(tmp_path / "none" / "*.parquet"),
                   "--output", str(tmp_path / "o"), "--executor", "ray", "--ray-address",
                   ray_address)
    assert missing.returncode != 0 and "no input files" in missing.stderr


def test_a_file_the_model_cannot_take_fails_the_job_clearly(
        ray_address: str, model_uri: str, tmp_path: Path) -> None:
    import pandas as pd

    from modelplane.serving.batch_ray import predict_files_ray

    (tmp_path / "in").mkdir()
    bad = tmp_path / "in" / "bad.parquet"
    pd.DataFrame({"x": [1.0, 2.0]}).to_parquet(bad)
    settings: dict[str, Any] = Client().pipelines.worker_settings
    with pytest.raises(InvalidArgumentError, match="batch inference on Ray failed"):
        predict_files_ray(model_uri, [str(bad)], tmp_path / "out", settings=settings,
                          address=ray_address)
