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
    assert result.returncode == 1 and "no file at" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_predict_reads_csv_parquet_and_json_lines_alike(
        tmp_path: Path, forest_uri: tuple[str, Any], cancer: tuple[Any, Any]) -> None:
    """The forms a user tries first give the same predictions; anything else is one line
    naming the accepted forms, never a raw Arrow error."""
    import pyarrow.parquet as pq

    uri, forest = forest_uri
    rows = cancer[0][:40]
    rows.to_csv(tmp_path / "rows.csv", index=False)
    rows.to_parquet(tmp_path / "rows.parquet", index=False)
    rows.to_json(tmp_path / "rows.jsonl", orient="records", lines=True)
    rows.to_csv(tmp_path / "rows-without-extension", index=False)
    expected = forest.predict(rows)
    for name in ("rows.csv", "rows.parquet", "rows.jsonl", "rows-without-extension"):
        out = tmp_path / f"{name}.out.parquet"
        result = cli("predict", uri, "--input", str(tmp_path / name), "--output", str(out),
                     "-q")
        assert result.returncode == 0, (name, result.stderr)
        assert "wrote 40 predictions" in result.stdout
        assert np.array_equal(pq.read_table(out).column("prediction").to_numpy(), expected)
    (tmp_path / "notes.txt").write_text("not a table")
    (tmp_path / "broken.jsonl").write_text('{"mean radius": 1.0}\n{not json\n')
    for name, why in (("notes.txt", "cannot tell what 'notes.txt' holds"),
                      ("broken.jsonl", "'broken.jsonl' is not valid JSON")):
        result = cli("predict", uri, "--input", str(tmp_path / name), "--output",
                     str(tmp_path / "o.parquet"))
        assert result.returncode == 1 and why in result.stderr, result.stderr
        assert "expected Parquet (.parquet, .pq), CSV" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "Arrow" not in result.stderr
    wrong_out = cli("predict", uri, "--input", str(tmp_path / "rows.csv"), "--output",
                    str(tmp_path / "o.csv"))
    assert wrong_out.returncode == 1 and "written as Parquet" in wrong_out.stderr


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


def _logged_with_eval(model: Any, name: str, frame: Any, target: Any, tmp_path: Path,
                      example: Any = None) -> Any:
    evaluation = tmp_path / f"{name}-eval.parquet"
    frame.assign(target=np.asarray(target)).to_parquet(evaluation, index=False)
    with Client().start_run(name) as run:
        run.log_dataset(str(evaluation), role="eval")
        return run.log_model(model, name, input_example=frame[:5] if example is None
                             else example)


def _int8_ops(name: str, version: int) -> set[str]:
    import onnx

    client = Client()
    digest = client.registry.get_version(name, version).artifact_digest
    graph = onnx.load(str(client.materialize(digest) / "model" / "model.onnx"))
    return {n.op_type for n in graph.graph.node} & {"MatMulInteger", "ConvInteger"}


@pytest.mark.slow
def test_optimize_the_quickstarts_model_a_scaler_and_a_logistic_regression(
        tmp_path: Path, mp_home: Path, cancer: tuple[Any, Any]) -> None:
    """skl2onnx makes ai.onnx.ml operators of these (no default opset, weights as
    attributes: "Failed to find proper ai.onnx domain"); converted with standard operators
    the weights become int8, checked against the float model."""
    pytest.importorskip("onnxruntime.quantization")
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    frame, target = cancer
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(frame, target)
    source = _logged_with_eval(model, "logreg", frame[400:], target[400:], tmp_path)
    result = cli("models", "optimize", "logreg", str(source.version), "--quantize", "int8",
                 "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["metric"] == "accuracy" and report["eval_rows"] == len(frame) - 400
    assert report["agreement"] >= 0.97 and report["delta"] >= -0.02
    assert _int8_ops("logreg", report["version"]) == {"MatMulInteger"}
    quantized = Client().load_model(f"models:/logreg:{report['version']}")
    agree = np.mean(quantized.predict(frame) == model.predict(frame))
    assert agree >= 0.97


@pytest.mark.slow
def test_optimize_a_pytorch_model_exports_it_to_onnx_first(
        tmp_path: Path, mp_home: Path, cancer: tuple[Any, Any]) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxruntime.quantization")
    frame, target = cancer
    x = np.array(((frame - frame.mean()) / frame.std()).to_numpy(np.float32))
    y = np.array(target.to_numpy())
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(30, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))
    optimizer = torch.optim.Adam(net.parameters(), 1e-2)
    for _ in range(100):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(torch.from_numpy(x[:400])),
                                          torch.from_numpy(y[:400])).backward()
        optimizer.step()
    import pandas as pd

    columns = pd.DataFrame(x[400:], columns=[f"f{i}" for i in range(30)])
    source = _logged_with_eval(net.eval(), "torch-mlp", columns, y[400:], tmp_path,
                               example=x[:5].copy())
    result = cli("models", "optimize", "torch-mlp", str(source.version), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["metric"] == "accuracy" and report["agreement"] >= 0.97
    assert report["onnx_bytes"] < report["source_onnx_bytes"]  # int8 weights
    assert _int8_ops("torch-mlp", report["version"])
    scores = Client().load_model(f"models:/torch-mlp:{report['version']}").predict(x[:7])
    assert np.asarray(scores).shape == (7, 2)


def test_optimize_refuses_what_int8_would_not_change(
        tmp_path: Path, mp_home: Path, forest_uri: tuple[str, Any],
        cancer: tuple[Any, Any]) -> None:
    pytest.importorskip("onnxruntime.quantization")
    frame, target = cancer
    result = cli("models", "optimize", "cancer", "1", "--eval-data",
                 str(_input_file(frame.assign(target=target), tmp_path / "e.parquet")))
    assert result.returncode == 1
    assert "no weights int8 quantization applies to" in result.stderr
    assert Client().registry.get_model("cancer").latest_version == 1


def test_a_worse_int8_model_is_not_registered() -> None:
    from modelplane.serving.optimize import _check_drop

    _check_drop("accuracy", 0.95, 0.94, 0.02, "models:/m:1")
    _check_drop("rmse", 1.0, 1.019, 0.02, "models:/m:1")
    with pytest.raises(InvalidStateError, match=r"worse than the float model's 0\.9500 by "
                       r"more than max_drop \(0\.02\)"):
        _check_drop("accuracy", 0.95, 0.92, 0.02, "models:/m:1")
    with pytest.raises(InvalidStateError, match=r"max_drop \(2%\)"):
        _check_drop("rmse", 1.0, 1.05, 0.02, "models:/m:1")


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
