"""How a served model runs batches: fast paths checked against the flavor, batchability."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelplane import flavors
from modelplane.serving.predictors import Predictor, concat, count_rows


def loaded(model: Any, example: Any, tmp_path: Path, **options: Any) -> flavors.LoadedModel:
    flavors.save_model(model, tmp_path / "m", input_example=example)
    return flavors.load_model(tmp_path / "m", **options)


def test_forest_fast_path_matches_the_forest_exactly(forest: Any, cancer: Any,
                                                     tmp_path: Path) -> None:
    frame, _ = cancer
    model = loaded(forest, frame[:5], tmp_path)
    predictor = Predictor(model)
    assert predictor.fast_path == "forest"
    predictor.check(model.prepare(frame[:5]))
    assert predictor.fast_path == "forest" and predictor.batchable
    x = model.prepare(frame)
    labels, proba = predictor.run(x)
    assert np.array_equal(labels, forest.predict(frame))
    assert np.array_equal(proba, forest.predict_proba(frame))  # bit for bit
    with_nan = x[:3].copy()
    with_nan[0, 0] = np.nan  # NaN goes to the forest itself, which checks it
    expected = forest.predict_proba(frame[:3].where(~np.isnan(with_nan)))
    assert np.array_equal(predictor.run(with_nan)[1], expected)


def test_estimators_run_single_threaded(forest: Any, cancer: Any, tmp_path: Path) -> None:
    model = loaded(forest, cancer[0][:5], tmp_path)
    Predictor(model)
    assert model.raw.n_jobs == 1


def test_batch_splits_outputs_per_request(forest: Any, cancer: Any, tmp_path: Path) -> None:
    frame, _ = cancer
    model = loaded(forest, frame[:5], tmp_path)
    predictor = Predictor(model)
    items = [model.prepare(frame[i:i + n]) for i, n in ((0, 1), (1, 3), (4, 2))]
    outs = predictor.batch(items)
    assert [len(o[0]) for o in outs] == [1, 3, 2]
    assert np.array_equal(np.concatenate([o[1] for o in outs]),
                          forest.predict_proba(frame[:6]))


def test_onnx_graph_runs_labels_and_probabilities_in_one_call(forest: Any, cancer: Any,
                                                              tmp_path: Path) -> None:
    pytest.importorskip("skl2onnx")
    frame, _ = cancer
    flavors.convert_sklearn_to_onnx(forest, frame[:5], tmp_path / "onnx")
    model = flavors.load_model(tmp_path / "onnx")
    predictor = Predictor(model)
    predictor.check(model.prepare(frame[:5]))
    assert predictor.fast_path == "onnx"
    labels, proba = predictor.run(model.prepare(frame[:20]))
    assert np.array_equal(labels, model.predict(frame[:20]))
    assert np.allclose(proba, model.predict_proba(frame[:20]))


class Summary:
    """Answers one value for any number of rows: cannot be batched."""

    def predict(self, x: Any) -> Any:
        return np.array([float(np.sum(x))])


def test_models_that_are_not_row_aligned_are_not_batched(tmp_path: Path) -> None:
    example = np.ones((1, 3))
    model = loaded(Summary(), example, tmp_path, allow_pickle=True)  # a python model
    predictor = Predictor(model)
    predictor.check(model.prepare(example))
    assert not predictor.batchable
    outs = predictor.batch([model.prepare(example), model.prepare(example * 2)])
    assert [o[0].tolist() for o in outs] == [[3.0], [6.0]]


def test_fast_path_that_disagrees_is_dropped(forest: Any, cancer: Any, tmp_path: Path) -> None:
    frame, _ = cancer
    model = loaded(forest, frame[:5], tmp_path)
    predictor = Predictor(model)
    predictor._run = lambda x: (np.zeros(len(x)), np.zeros((len(x), 2)))
    predictor.fast_path = "forest"
    predictor.check(model.prepare(frame[:5]))
    assert predictor.fast_path is None
    assert np.array_equal(predictor.run(model.prepare(frame[:5]))[0], forest.predict(frame[:5]))


def test_concat_and_rows_for_every_prepared_kind() -> None:
    pd = pytest.importorskip("pandas")
    assert count_rows(np.ones((3, 2))) == 3
    assert count_rows({"a": np.ones(4)}) == 4
    assert count_rows([{"a": 1}, {"a": 2}]) == 2
    assert count_rows(pd.DataFrame({"a": [1, 2]})) == 2
    assert concat([np.ones((1, 2)), np.ones((2, 2))]).shape == (3, 2)
    assert concat([{"a": np.ones(1)}, {"a": np.ones(2)}])["a"].shape == (3,)
    assert concat([[{"a": 1}], [{"a": 2}]]) == [{"a": 1}, {"a": 2}]
    assert len(concat([pd.DataFrame({"a": [1]}), pd.DataFrame({"a": [2]})])) == 2
