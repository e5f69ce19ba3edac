"""Loading a stored model never runs code it names unless the caller opts in, and many
threads may load and predict the same model at once."""

from __future__ import annotations

import json
import pickle
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelplane.core.errors import PermissionDeniedError
from modelplane.flavors import load_model, save_model

pytest.importorskip("sklearn")
pd = pytest.importorskip("pandas")


class Payload:
    """What an attacker stores: unpickling it runs ``exec`` (here: it writes a marker)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        code = f"with open({str(self.marker)!r}, 'w') as f: f.write('code ran')"
        return (exec, (code,))


def _evil_pickle(target: Path, marker: Path) -> None:
    target.write_bytes(pickle.dumps(Payload(marker)))


def test_a_malicious_python_model_runs_nothing_without_the_opt_in(tmp_path: Path) -> None:
    class Model:
        def predict(self, data: Any) -> Any:
            return data

    save_model(Model(), tmp_path / "m")
    marker = tmp_path / "pwned"
    _evil_pickle(tmp_path / "m" / "model.pkl", marker)
    with pytest.raises(PermissionDeniedError) as info:
        load_model(tmp_path / "m")
    assert info.value.details["field"] == "allow_pickle"
    assert "--allow-pickle" in info.value.message and not marker.exists()
    # the harm is real: with the opt-in, the pickle's code runs
    with pytest.raises(AttributeError):  # exec returns None, which has no predict
        load_model(tmp_path / "m", allow_pickle=True)
    assert marker.read_text() == "code ran"


def test_a_descriptor_claiming_no_pickle_does_not_skip_the_check(
    tmp_path: Path, forest: Any, cancer: tuple[Any, Any]
) -> None:
    frame, _ = cancer
    save_model(forest, tmp_path / "m", input_example=frame.head(3))
    (tmp_path / "m" / "model.skops").unlink()
    marker = tmp_path / "pwned"
    _evil_pickle(tmp_path / "m" / "model.pkl", marker)
    descriptor = json.loads((tmp_path / "m" / "modelplane.json").read_text())
    assert descriptor["pickled"] is False  # the lie the attacker keeps
    with pytest.raises(PermissionDeniedError):
        load_model(tmp_path / "m")
    assert not marker.exists()


class Evil:
    """A type off the allow-list whose state restore would run code."""

    marker: str = ""

    def __setstate__(self, state: dict[str, Any]) -> None:
        Path(state["marker"]).write_text("code ran")

    def predict(self, data: Any) -> Any:
        return data


def test_a_skops_file_naming_an_untrusted_type_is_refused_by_name(
    tmp_path: Path, forest: Any, cancer: tuple[Any, Any]
) -> None:
    import skops.io as sio
    from sklearn.pipeline import Pipeline

    frame, _ = cancer
    save_model(forest, tmp_path / "m", input_example=frame.head(3))
    marker = tmp_path / "pwned"
    evil = Evil()
    evil.__dict__["marker"] = str(marker)
    sio.dump(Pipeline([("evil", evil)]), tmp_path / "m" / "model.skops")
    with pytest.raises(PermissionDeniedError) as info:
        load_model(tmp_path / "m")
    refused = info.value.details["untrusted_types"]
    assert any(name.endswith(".Evil") for name in refused)
    assert "Evil" in info.value.message and not marker.exists()


def test_an_estimator_stored_as_a_pickle_before_skops_needs_the_opt_in(
    tmp_path: Path, forest: Any, cancer: tuple[Any, Any]
) -> None:
    frame, _ = cancer
    save_model(forest, tmp_path / "m", input_example=frame.head(3))
    (tmp_path / "m" / "model.skops").unlink()
    (tmp_path / "m" / "model.pkl").write_bytes(pickle.dumps(forest, protocol=5))
    with pytest.raises(PermissionDeniedError):
        load_model(tmp_path / "m")
    model = load_model(tmp_path / "m", allow_pickle=True)
    np.testing.assert_array_equal(model.predict_proba(frame), forest.predict_proba(frame))


def test_skops_round_trip_predicts_identically(tmp_path: Path, cancer: tuple[Any, Any]) -> None:
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    frame, target = cancer
    models = [
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
        make_pipeline(FunctionTransformer(np.log1p), StandardScaler(), LogisticRegression()),
        GradientBoostingClassifier(n_estimators=10, random_state=0),
    ]
    for i, estimator in enumerate(models):
        estimator.fit(frame, target)
        meta = save_model(estimator, tmp_path / str(i), input_example=frame.head(3))
        assert not meta.pickled, type(estimator).__name__
        model = load_model(tmp_path / str(i))
        np.testing.assert_array_equal(model.predict(frame), estimator.predict(frame))
        # fed one float array instead of a DataFrame: the same to the last bit or two
        np.testing.assert_allclose(model.predict_proba(frame), estimator.predict_proba(frame),
                                   rtol=1e-12, atol=1e-15)


def _filters() -> list[Any]:
    """The warnings filters, less the ComplexWarning one scikit-learn's own check_array
    sets for an instant on every call (scikit-learn's doing, not a flavor's)."""
    return [f for f in warnings.filters if f[2] is not np.exceptions.ComplexWarning]


def _watch_filters(stop: threading.Event, changed: list[Any]) -> None:
    snapshot = _filters()
    while not stop.is_set():
        if _filters() != snapshot:
            changed.append(_filters()[:3])
            return


def test_many_threads_load_and_predict_the_same_model_at_once(
    tmp_path: Path, cancer: tuple[Any, Any]
) -> None:
    """A flavor that changed the process-wide warnings filter while loading made another
    thread's predict fail ("X does not have valid feature names")."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    frame, target = cancer
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(frame, target)
    save_model(pipe, tmp_path / "m", input_example=frame.head(5))
    expected, labels = pipe.predict_proba(frame), pipe.predict(frame)
    records = frame.head(20).to_dict("records")
    before = _filters()
    stop, changed, errors = threading.Event(), [], []
    results: list[Any] = []

    def worker() -> None:
        try:
            for _ in range(5):
                model = load_model(tmp_path / "m")
                results.append(model.predict_proba(frame))
                results.append(model.predict_proba(frame.to_numpy()))
                np.testing.assert_array_equal(model.predict(records), labels[:20])
        except Exception as exc:  # collected: an assertion in a thread would be lost
            errors.append(exc)

    watcher = threading.Thread(target=_watch_filters, args=(stop, changed))
    watcher.start()
    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    watcher.join()
    assert errors == [] and changed == [] and _filters() == before
    assert len(results) == 16 * 5 * 2
    for got in results:  # the fast float-array path may differ in the last bit
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
