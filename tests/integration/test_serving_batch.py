"""Batch inference (``modelplane predict``, ``predict_file``) and int8 optimization
(``modelplane models optimize``) through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelplane.client import Client
from modelplane.core.errors import InvalidArgumentError, InvalidStateError
from tests.integration.conftest import cli


@pytest.fixture
def cancer() -> tuple[Any, Any]:
    datasets = pytest.importorskip("sklearn.datasets")
    return datasets.load_breast_cancer(return_X_y=True, as_frame=True)


@pytest.fixture
def forest_uri(mp_home: Path, cancer: tuple[Any, Any]) -> tuple[str, Any]:
    from sklearn.ensemble import RandomForestClassifier

    frame, target = cancer
    forest = RandomForestClassifier(n_estimators=10, random_state=0).fit(frame, target)
    Client().log_model(None, forest, "cancer", input_example=frame[:5], stage="production")
    return "models:/cancer@production", forest


def _input_file(frame: Any, path: Path, rows: int = 1000) -> Path:
    import pandas as pd

    big = pd.concat([frame] * (rows // len(frame) + 1), ignore_index=True)[:rows]
    big.insert(0, "id", np.arange(rows))
    big.to_parquet(path, index=False)
    return path


def test_predict_cli_streams_in_chunks(tmp_path: Path, forest_uri: tuple[str, Any],
                                       cancer: tuple[Any, Any]) -> None:
    import pyarrow.parquet as pq

    uri, forest = forest_uri
    source = _input_file(cancer[0], tmp_path / "in.parquet")
    out = tmp_path / "out" / "predictions.parquet"
    result = cli("predict", uri, "--input", str(source), "--output", str(out),
                 "--chunk-rows", "128", "--keep", "id")
    assert result.returncode == 0, result.stderr
    assert "wrote 1000 predictions" in result.stdout and "8 chunks" in result.stdout
    table = pq.read_table(out)
    assert table.column_names == ["id", "prediction", "probability_0", "probability_1"]
    assert pq.ParquetFile(out).metadata.num_row_groups == 8  # written as it streamed
    expected = forest.predict(pq.read_table(source).to_pandas().drop(columns="id"))
    assert np.array_equal(table.column("prediction").to_numpy(), expected)
    assert table.column("id").to_pylist() == list(range(1000))


def test_predict_file_python_call(tmp_path: Path, forest_uri: tuple[str, Any],
                                  cancer: tuple[Any, Any]) -> None:
    import pyarrow.parquet as pq

    from modelplane.serving import predict_file

    uri = forest_uri[0]
    models = Client().models
    source = _input_file(cancer[0], tmp_path / "in.parquet", rows=300)
    result = predict_file(uri, source, tmp_path / "out.parquet", chunk_rows=100,
                          models=models)
    assert (result.rows, result.chunks, result.model_uri) == (300, 3, "models:/cancer:1")
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.num_rows == 300 and table.column_names[0] == "id"  # all inputs kept
    only = predict_file(uri, source, tmp_path / "only.parquet", keep=[], models=models)
    assert only.columns[0] == "prediction"
    with pytest.raises(InvalidArgumentError, match="no column 'nope'"):
        predict_file(uri, source, tmp_path / "x.parquet", keep=["nope"], models=models)
    assert not (tmp_path / "x.parquet").exists()


def test_predict_cli_errors_are_one_line(tmp_path: Path, forest_uri: tuple[str, Any]) -> None:
    result = cli("predict", forest_uri[0], "--input", str(tmp_path / "missing.parquet"),
                 "--output", str(tmp_path / "o.parquet"))
    assert result.returncode == 1 and "no Parquet file" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def _mlp(cancer: tuple[Any, Any], tmp_path: Path, *, log_eval: bool = True) -> Any:
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    frame, target = cancer
    x_train, x_test, y_train, y_test = train_test_split(frame, target, random_state=0)
    model = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(32,),
                                                          max_iter=50, random_state=0))
    with pytest.warns(Warning):  # 50 iterations: does not converge, accurate enough
        model.fit(x_train, y_train)
    evaluation = tmp_path / "eval.parquet"
    x_test.assign(diagnosis=y_test.to_numpy()).to_parquet(evaluation, index=False)
    client = Client()
    with client.start_run("mlp") as run:
        if log_eval:
            run.log_dataset(str(evaluation), role="eval")
        version = run.log_model(model, "mlp", input_example=x_train[:5])
    return version, evaluation


@pytest.mark.slow
def test_optimize_registers_an_int8_version_with_its_accuracy_delta(
        tmp_path: Path, mp_home: Path, cancer: tuple[Any, Any]) -> None:
    pytest.importorskip("onnxruntime.quantization")
    source, _ = _mlp(cancer, tmp_path)
    result = cli("models", "optimize", "mlp", str(source.version), "--quantize", "int8",
                 "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["version"] == 2 and report["metric"] == "accuracy"
    assert report["eval_rows"] == 143 and "eval" in report["eval_dataset"]
    assert abs(report["delta"]) < 0.05 and report["onnx_bytes"] < report["source_onnx_bytes"]
    client = Client()
    quantized = client.registry.get_version("mlp", 2)
    assert quantized.flavor == "onnx" and quantized.tags["optimized_from"] == "mlp:1"
    assert quantized.tags["quantization"] == "int8"
    assert quantized.metrics["accuracy_delta"] == pytest.approx(report["delta"])
    assert quantized.model_meta["optimization"]["source_value"] == report["source_value"]
    model = client.load_model("models:/mlp:2")
    assert model.predict(cancer[0][:3]).shape == (3,)
    assert model.predict_proba(cancer[0][:3]).shape == (3, 2)


def test_optimize_without_a_stored_eval_dataset_says_how_to_give_one(
        tmp_path: Path, mp_home: Path, cancer: tuple[Any, Any]) -> None:
    pytest.importorskip("onnxruntime.quantization")
    from modelplane.serving.optimize import optimize_model

    source, evaluation = _mlp(cancer, tmp_path, log_eval=False)
    client = Client()
    uses = {"registry": client.registry, "runs": client.tracking, "models": client.models,
            "blobs": client.artifacts}
    with pytest.raises(InvalidStateError, match="role='eval'"):
        optimize_model("mlp", source.version, **uses)
    result = optimize_model("mlp", source.version, eval_data=str(evaluation),
                            target="diagnosis", **uses)
    assert result.eval_dataset == "given" and result.version.version == 2
    with pytest.raises(InvalidArgumentError, match="quantize"):
        optimize_model("mlp", source.version, quantize="int4", **uses)
