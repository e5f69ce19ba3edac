"""Drift benchmark: modelplane against Evidently (DataDriftPreset), same data, one run.

Data (the issue's): ``wide`` is 100,000 rows x (50 numeric + 5 categorical) for reference
and current, 10 numeric columns shifted by 0.1 std, 5 by 0.5 std, one categorical with
changed frequencies; ``long`` is 1,000,000 rows x 20 numeric (5 shifted by 0.2 std).
``--quick``: 10x fewer rows.

Figures: end-to-end drift from raw data (profile the reference, count the current, score,
exact KS) and the peak memory of a fresh child process doing it (``VmHWM``, data
included), against Evidently 0.7.23 in its own virtual environment; the incremental update
of a 1,000-row batch; drift of a one-day window summed from 1,440 stored count buckets;
agreement of the drift flags with SciPy's ``ks_2samp`` and ``chi2_contingency`` on the same
data and of PSI with a direct NumPy computation; the prediction log's ``log()`` cost and
its writer's throughput into SQLite.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.common import Row, print_table, row  # noqa: E402
from benchmarks.peervenv import peer_python  # noqa: E402

EVIDENTLY_REQUIREMENTS = ["evidently==0.7.23", "pandas<3"]
#: Measured by the issue's author with Evidently 0.7.23 on the full-size data.
ISSUE_FIGURES = {"wide": (53.0, 836.0), "long": (271.0, 2300.0)}
TARGETS = {"wide": (50, 0.5), "long": (90, None)}  # speed-up, memory share


def generate(kind: str, rows: int, folder: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    numeric = 50 if kind == "wide" else 20
    shift = np.zeros(numeric)
    if kind == "wide":
        shift[:10], shift[10:15] = 0.1, 0.5
    else:
        shift[:5] = 0.2
    np.save(folder / "ref_num.npy", rng.normal(size=(rows, numeric)))
    np.save(folder / "cur_num.npy", rng.normal(size=(rows, numeric)) + shift)
    if kind == "wide":
        values = np.array([f"v{k}" for k in range(8)])
        even = np.full(8, 1 / 8)
        changed = np.array([0.3, 0.2, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05])
        np.save(folder / "ref_cat.npy", rng.choice(values, (rows, 5), p=even))
        cur = rng.choice(values, (rows, 5), p=even)
        cur[:, 0] = rng.choice(values, rows, p=changed)
        np.save(folder / "cur_cat.npy", cur)


def child(python: str | Path, tool: str, folder: Path) -> dict[str, Any] | None:
    result = subprocess.run([str(python), str(HERE / "peers" / "drift_child.py"), tool,
                             str(folder)], capture_output=True, text=True, timeout=3600)
    if result.returncode != 0:
        print(f"{tool} drift run failed:\n{result.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])


def numpy_psi(ref: np.ndarray, cur: np.ndarray, edges: np.ndarray) -> float:
    def shares(x: np.ndarray) -> np.ndarray:
        inner = np.histogram(x, bins=edges)[0]
        s = np.concatenate([[np.sum(x < edges[0])], inner, [np.sum(x > edges[-1])]]) / x.size
        return np.where(s == 0, 1e-4, s)

    r, c = shares(ref), shares(cur)
    return float(np.sum((r - c) * np.log(r / c)))


def agreement(folder: Path, label: str) -> list[Row]:
    """Drift flags against SciPy's tests and PSI against NumPy, on the same data."""
    import pandas as pd
    from scipy import stats

    from benchmarks.peers.drift_child import load
    from modelplane.monitoring.profiles import Layout, build_profile
    from modelplane.monitoring.raw import compare

    ref, cur = load(folder)
    exact, binned = compare(ref, cur), compare(ref, cur, exact=False)
    ks_same = binned_same = psi_err = 0.0
    numeric = [c for c in ref.columns if c.startswith("n")]
    for name in numeric:
        want = stats.ks_2samp(ref[name], cur[name]).pvalue < 0.05
        ks_same += (exact.column(name).p_value < 0.05) == want
        binned_same += (binned.column(name).p_value < 0.05) == want
    layout = Layout.from_profiles(build_profile(ref[numeric[:5]]))
    for name in numeric[:5]:
        deciles = np.asarray(layout.by_key[name].edges)[::10]
        direct = numpy_psi(ref[name].to_numpy(), cur[name].to_numpy(), deciles)
        psi_err = max(psi_err, abs(exact.column(name).scores["psi"] - direct))
    categorical = [c for c in ref.columns if c.startswith("c")]
    chi_same = 0
    for name in categorical:
        table = pd.crosstab(np.r_[np.zeros(len(ref)), np.ones(len(cur))],
                            np.r_[ref[name].to_numpy(), cur[name].to_numpy()])
        want = stats.chi2_contingency(table.to_numpy()).pvalue < 0.05
        chi_same += (exact.column(name).p_value < 0.05) == want
    rows = [
        row(f"drift/{label}", "KS flags = scipy ks_2samp (exact KS)", ks_same, "columns",
            target=f"{len(numeric)} of {len(numeric)}", ok=ks_same == len(numeric)),
        row(f"drift/{label}", "KS flags = scipy ks_2samp (binned KS, 100 bins)", binned_same,
            "columns", target="info", note="from counts alone; D within one bin's mass"),
        row(f"drift/{label}", "PSI vs direct NumPy, max abs difference", psi_err, "",
            target="<= 1e-9", ok=psi_err <= 1e-9, note="same decile edges"),
    ]
    if categorical:
        rows.append(row(f"drift/{label}", "chi2 flags = scipy chi2_contingency", chi_same,
                        "columns", target=f"{len(categorical)} of {len(categorical)}",
                        ok=chi_same == len(categorical)))
    rows.append(row(f"drift/{label}", "drifted feature columns", exact.drifted_features,
                    "columns", target="info",
                    note=f"of {exact.feature_count}; p < 0.05 and effect > 0.1"))
    return rows


def incremental(folder: Path, quick: bool) -> list[Row]:
    """A 1,000-row batch counted into the accumulator; and a window from 1,440 buckets."""
    from benchmarks.peers.drift_child import load
    from modelplane.monitoring.counts import CountVector, count_frame, count_rows
    from modelplane.monitoring.drift import score_counts
    from modelplane.monitoring.profiles import Layout, build_profile

    ref, cur = load(folder)
    layout = Layout.from_profiles(build_profile(ref))
    batch = cur.iloc[:1000]
    acc = CountVector.empty(layout)
    reps = 100 if quick else 300

    def timed(fn: Any, reps: int = reps) -> float:
        for _ in range(3):
            fn()
        samples = []
        for _ in range(reps):
            started = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - started)
        return statistics.median(samples)

    frame_s = timed(lambda: acc.add(count_frame(layout, batch)))
    records = batch.to_dict(orient="records")
    rows_s = timed(lambda: acc.add(count_rows(layout, records, [None] * len(records))))
    buckets = [count_frame(layout, cur.iloc[i * 70: (i + 1) * 70]) for i in range(1440)]

    def window() -> None:
        total = CountVector.empty(layout)
        for b in buckets:
            total.add(b)
        score_counts(layout, total)

    window_s = timed(window, 10 if quick else 30)
    cols = len(layout.columns)
    return [
        row("drift/incremental", f"1,000-row batch update ({cols} columns, DataFrame)",
            frame_s * 1000, "ms", target="<= 2", ok=frame_s <= 0.002,
            note="exact table lookup of the bins, one bincount, added to the counts"),
        row("drift/incremental", "1,000-row batch update (prediction-log dict rows)",
            rows_s * 1000, "ms", target="info", note="what the log writer does, off the "
            "request path"),
        row("drift/incremental", "window of 1,440 buckets: sum + score", window_s * 1000,
            "ms", target="info", note="a day of minute buckets, no rescan of raw rows"),
    ]


def prediction_log(folder: Path, quick: bool) -> list[Row]:
    """``log()`` on the request path, and how fast the writer drains into SQLite."""
    from benchmarks.peers.drift_child import load
    from modelplane.monitoring.service import MonitoringService
    from modelplane.monitoring.sql import SqlPredictionStore, SqlReferenceStore, SqlRuleStore
    from modelplane.store.db import Database

    ref, cur = load(folder)
    n = 5000 if quick else 20000
    records = [{"request_id": f"r{i}", "model": "bench", "version": 1, "inputs": inputs,
                "outputs": {"prediction": i % 2}, "latency_s": 0.002}
               for i, inputs in enumerate(cur.iloc[:n].to_dict(orient="records"))]
    with tempfile.TemporaryDirectory(prefix="mp-drift-log-") as tmp:
        db = Database(f"sqlite:///{tmp}/m.db")
        service = MonitoringService(SqlPredictionStore(db), SqlReferenceStore(db),
                                    SqlRuleStore(db))
        service.set_reference("bench", ref.iloc[:20000])
        logger = service.logger(capacity=n + 1, batch_size=1000)
        started = time.perf_counter()
        for r in records:
            logger.log(r)
        call_s = (time.perf_counter() - started) / n
        logger.flush(600)
        drained = time.perf_counter() - started
        assert service.health("bench", "1h").overall.requests == n
        service.close()
        db.dispose()
    return [
        row("drift/prediction-log", "log() on the request path", call_s * 1e6, "us",
            target="info", note="bounded queue append; never blocks or raises"),
        row("drift/prediction-log", "writer throughput into SQLite", n / drained, "records/s",
            target="info", note="rows + health buckets + drift counts, batches of 1,000"),
    ]


def end_to_end(kind: str, folder: Path, evidently: Path | None, full: bool) -> list[Row]:
    mine = child(sys.executable, "modelplane", folder)
    if mine is None:
        return []
    speed_target, memory_share = TARGETS[kind]
    issue_s, issue_mb = ISSUE_FIGURES[kind]
    peer = child(evidently, "evidently", folder) if evidently is not None else None
    label = f"drift/{kind}{'' if full else ' (quick: 1/10 rows)'}"
    if peer is not None:
        ratio, mem = peer["seconds"] / mine["seconds"], mine["maxrss_mb"] / peer["maxrss_mb"]
        time_note = (f"Evidently {peer['seconds']:.2f} s ({peer['drifted']} drifted); "
                     f"{ratio:.0f}x")
        mem_note = f"Evidently {peer['maxrss_mb']:.0f} MB; {mem:.2f}x"
        ok_time, ok_mem = ratio >= speed_target, (mem <= memory_share if memory_share
                                                  else None)
    else:
        ratio = issue_s / mine["seconds"]
        time_note = (f"Evidently not run; the issue measured {issue_s:.0f} s at full size"
                     + (f" ({ratio:.0f}x)" if full else ""))
        mem_note = f"Evidently not run; the issue measured {issue_mb:.0f} MB at full size"
        ok_time = ratio >= speed_target if full else None
        ok_mem = (mine["maxrss_mb"] <= issue_mb * memory_share if memory_share and full
                  else None)
    binned = child(sys.executable, "modelplane-binned", folder)
    binned_note = ""
    if binned is not None:
        binned_note = (f"{peer['seconds'] / binned['seconds']:.0f}x Evidently; "
                       if peer is not None else "") + "KS from the 100 bins, no exact KS"
    return [
        row(label, "end-to-end drift from raw data (exact KS)", mine["seconds"], "s",
            target=f">= {speed_target}x Evidently", ok=ok_time,
            note=f"{time_note}; modelplane {mine['drifted']} drifted"),
        *([row(label, "end-to-end drift from raw data (binned)", binned["seconds"], "s",
               target="info", note=binned_note)] if binned is not None else []),
        row(label, "peak memory (child process, data included)", mine["maxrss_mb"], "MB",
            target=f"<= {memory_share}x Evidently" if memory_share else "info",
            ok=ok_mem, note=f"{mem_note}; data loaded: {mine['loaded_mb']:.0f} MB"),
    ]


def main(quick: bool = False, peer: bool = True) -> list[Row]:
    evidently = peer_python("evidently", EVIDENTLY_REQUIREMENTS) if peer else None
    rows: list[Row] = []
    sizes = {"wide": 100_000, "long": 1_000_000}
    with tempfile.TemporaryDirectory(prefix="mp-bench-drift-") as tmp:
        for kind, size in sizes.items():
            folder = Path(tmp) / kind
            folder.mkdir()
            generate(kind, size // 10 if quick else size, folder)
            rows += end_to_end(kind, folder, evidently, not quick)
            rows += agreement(folder, kind)
            if kind == "wide":
                rows += incremental(folder, quick)
                rows += prediction_log(folder, quick)
    for r in rows:  # plain Python numbers for the JSON results file
        r["value"] = float(r["value"])
        if r.get("ok") is not None:
            r["ok"] = bool(r["ok"])
    return rows


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-peer", action="store_true", help="skip Evidently")
    args = parser.parse_args()
    print_table(main(args.quick, peer=not args.no_peer), "drift: modelplane vs Evidently")
