"""One drift run in a fresh process (so its peak memory is its own), for modelplane or
Evidently: ``python drift_child.py {modelplane|modelplane-binned|evidently} DATADIR``.
Loads the .npy files the benchmark wrote, builds pandas DataFrames, computes drift,
prints one JSON line."""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path


def load(folder: Path):  # type: ignore[no-untyped-def]
    import numpy as np
    import pandas as pd

    frames = []
    for side in ("ref", "cur"):
        numeric = np.load(folder / f"{side}_num.npy")
        data = {f"n{i}": numeric[:, i] for i in range(numeric.shape[1])}
        cat_path = folder / f"{side}_cat.npy"
        if cat_path.exists():
            cats = np.load(cat_path)
            data.update({f"c{i}": cats[:, i].astype(object) for i in range(cats.shape[1])})
        frames.append(pd.DataFrame(data))
    return frames


def maxrss_mb() -> float:
    """This process's peak RSS: VmHWM (ru_maxrss starts at the parent's peak, which Linux
    carries over exec, so a child of a big benchmark runner would report that)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    tool, folder = sys.argv[1], Path(sys.argv[2])
    ref, cur = load(folder)
    loaded_mb = maxrss_mb()
    if tool.startswith("modelplane"):
        # imported outside the timing, as Evidently's own imports are
        import pyarrow.compute  # noqa: F401
        import scipy.special
        import scipy.stats  # noqa: F401

        from modelplane.monitoring.raw import compare

        started = time.perf_counter()
        result = compare(ref, cur, exact=tool == "modelplane")
        seconds = time.perf_counter() - started
        drifted = result.drifted_features
    else:
        from evidently import Report
        from evidently.presets import DataDriftPreset

        started = time.perf_counter()
        snapshot = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
        seconds = time.perf_counter() - started
        drifted = int(snapshot.dict()["metrics"][0]["value"]["count"])
    print(json.dumps({"seconds": seconds, "maxrss_mb": maxrss_mb(), "loaded_mb": loaded_mb,
                      "drifted": drifted}))


if __name__ == "__main__":
    main()
