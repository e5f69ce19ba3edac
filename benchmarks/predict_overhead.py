"""Per-request cost of ``LoadedModel.predict`` over the raw scikit-learn estimator.

Fits ``RandomForestClassifier(n_estimators=50)`` on breast_cancer given as a DataFrame
(so the model has feature names and dict records work), saves and loads it through
``modelplane.flavors``, and times 1-row predictions:

- the raw estimator on a 1-row numpy array (baseline: an identically fitted twin trained
  on the numpy array, so no feature-name warning machinery runs);
- the raw estimator on a 1-row DataFrame (what feeding DataFrames costs, for reference);
- ``LoadedModel.predict`` with a numpy row, a dict record and a 1-row DataFrame;
- ``LoadedModel.prepare`` alone for each input (the validation cost by itself);
- a control: the baseline call timed twice, whose "overhead" is the noise floor.

Timings are medians of many ``time.perf_counter_ns`` samples taken in rounds (one call
of each variant per round, in random order); an overhead is the median of the per-round
differences to the baseline, so machine drift cancels out. Run:
``python benchmarks/predict_overhead.py [repetitions]``; a runner calls
``main(quick=False)`` and collects the rows.
"""

from __future__ import annotations

import gc
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCHMARK = "predict_overhead"
TARGET_US = 100.0  # LoadedModel.predict may cost at most 0.1 ms over the raw estimator


def _paired_samples(
    variants: dict[str, Callable[[], Any]], reps: int, warmup: int = 50
) -> dict[str, list[int]]:
    """Nanoseconds per call of each variant; one call of each per round, in random order.

    Sample ``i`` of every variant comes from the same round, so differences between
    variants can be taken pairwise and machine drift cancels out.
    """
    for fn in variants.values():
        for _ in range(warmup):
            fn()
    clock = time.perf_counter_ns
    items = list(variants.items())
    rng = random.Random(0)
    samples: dict[str, list[int]] = {name: [0] * reps for name in variants}
    collecting = gc.isenabled()
    gc.disable()  # as timeit does: a collection landing in one variant is noise
    try:
        for i in range(reps):
            rng.shuffle(items)  # no variant always follows the same one (cache state)
            for name, fn in items:
                start = clock()
                fn()
                samples[name][i] = clock() - start
    finally:
        if collecting:
            gc.enable()
    return samples


def _median_us(values: list[int]) -> float:
    return statistics.median(values) / 1000


def _overhead_us(values: list[int], base: list[int]) -> float:
    """Median of the paired differences: robust to drift and to outliers in either."""
    return statistics.median(v - b for v, b in zip(values, base, strict=True)) / 1000


def _row(metric: str, value: float, note: str, unit: str = "us") -> dict[str, Any]:
    return {
        "benchmark": BENCHMARK,
        "metric": metric,
        "value": round(value, 2),
        "unit": unit,
        "note": note,
    }


def _overhead_row(kind: str, value: float) -> dict[str, Any]:
    row = _row(f"overhead_{kind}", value, "median paired difference to raw_ndarray")
    row.update(target=f"<= {TARGET_US:g} us", ok=value <= TARGET_US)
    return row


def main(quick: bool = False, reps: int | None = None) -> list[dict[str, Any]]:
    """Rows ``{benchmark, metric, value, unit, note}`` (overhead rows add target, ok)."""
    reps = reps or (300 if quick else 1000)
    import numpy as np
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier

    from modelplane.flavors import load_model, save_model

    frame, target = load_breast_cancer(return_X_y=True, as_frame=True)
    array = frame.to_numpy()
    model = RandomForestClassifier(n_estimators=50, random_state=0).fit(frame, target)
    twin = RandomForestClassifier(n_estimators=50, random_state=0).fit(array, target)
    if not np.array_equal(model.predict_proba(frame), twin.predict_proba(array)):
        raise RuntimeError("the numpy-fitted twin differs from the DataFrame-fitted model")

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        save_model(model, Path(tmp) / "rf", input_example=frame.head(5))
        save_s = time.perf_counter() - start
        start = time.perf_counter()
        loaded = load_model(Path(tmp) / "rf")
        load_s = time.perf_counter() - start

    row_array = array[:1].copy()
    row_frame = frame.head(1).copy()
    record = {k: float(v) for k, v in row_frame.iloc[0].items()}
    expected = twin.predict(row_array)
    for data in (row_array, record, row_frame):
        if not np.array_equal(loaded.predict(data), expected):
            raise RuntimeError("LoadedModel.predict disagrees with the raw estimator")

    timed = _paired_samples(
        {
            "raw_ndarray": lambda: twin.predict(row_array),
            "raw_ndarray_again": lambda: twin.predict(row_array),
            "raw_dataframe": lambda: model.predict(row_frame),
            "loaded_ndarray": lambda: loaded.predict(row_array),
            "loaded_record": lambda: loaded.predict(record),
            "loaded_dataframe": lambda: loaded.predict(row_frame),
        },
        reps,
    )
    prepared = _paired_samples(
        {
            "ndarray": lambda: loaded.prepare(row_array),
            "record": lambda: loaded.prepare(record),
            "dataframe": lambda: loaded.prepare(row_frame),
        },
        reps * 10,
    )
    base = timed["raw_ndarray"]
    rows = [
        _row("save_model", save_s * 1000, "RandomForest(50) with a 5-row example", "ms"),
        _row("load_model", load_s * 1000, "includes the feature-name probe", "ms"),
        _row("raw_ndarray_median", _median_us(base), "raw estimator, 1-row numpy array"),
        _row(
            "noise_floor",
            _overhead_us(timed["raw_ndarray_again"], base),
            "control: the baseline call timed twice (measurement noise)",
        ),
        _row(
            "raw_dataframe_median",
            _median_us(timed["raw_dataframe"]),
            "raw estimator, 1-row DataFrame",
        ),
    ]
    for kind in ("ndarray", "record", "dataframe"):
        loaded_ns = timed[f"loaded_{kind}"]
        rows += [
            _row(f"loaded_{kind}_median", _median_us(loaded_ns), f"LoadedModel.predict, {kind}"),
            _overhead_row(kind, _overhead_us(loaded_ns, base)),
            _row(f"prepare_{kind}_median", _median_us(prepared[kind]), "validation alone"),
        ]
    return rows


def _print(rows: list[dict[str, Any]]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        for row in rows:
            print(f"{row['metric']:<24} {row['value']:>10} {row['unit']:<3} {row['note']}")
        return
    table = Table(title="modelplane.flavors: 1-row predict, RandomForest(50), breast_cancer")
    for column in ("metric", "value", "unit", "note"):
        table.add_column(column, justify="right" if column == "value" else "left")
    for row in rows:
        table.add_row(row["metric"], f"{row['value']:.2f}", row["unit"], row["note"])
    Console().print(table)


if __name__ == "__main__":
    _print(main(reps=int(sys.argv[1]) if len(sys.argv) > 1 else None))
