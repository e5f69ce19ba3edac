"""Feature-store benchmark: modelplane against pandas ``merge_asof`` and Feast, one run.

Data (issue 4): 1,000,000 feature rows (10,000 entities x 100 irregular times over 7 days,
5 float features), an entity frame of 100,000 random (entity, time) rows, TTL 2 hours;
``--quick`` is 10x smaller. Figures:

- historical retrieval: wall time of ``get_historical_features(...).to_pandas()`` (first call
  and median of the next ones) and the peak RSS of the process that ran it (a fresh child
  per tool, ``VmHWM`` (else ``ru_maxrss``, which a child inherits from a big parent
  at exec): DuckDB allocates outside Python, so tracemalloc would miss it);
  rows returned; equality with ``merge_asof`` (by key, backward, tolerance TTL) on every
  row and column, nulls included;
- 10M feature rows x 1M entity rows (full run only): time and peak RSS;
- materialize into SQLite (and Redis), online reads of 1 entity x 5 features (p50, p99) and
  of 100 entities (p50) in process on SQLite and Redis, and 1 entity over HTTP (p50);
- Feast 0.67.0 in its own venv (``benchmarks/.venvs/feast``) on the same files: default
  (file) offline store, DuckDB offline store, SQLite materialize and online reads. Left out
  when it cannot be installed.

Redis rows need ``MODELPLANE_BENCH_REDIS_URL`` (or ``MODELPLANE_TEST_REDIS_URL``).
``--no-peer`` leaves Feast out, ``--no-big`` the 10M-row run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.common import Row, print_table, row  # noqa: E402
from benchmarks.peervenv import peer_python  # noqa: E402

FEAST_REQUIREMENTS = ["feast[duckdb]==0.67.0"]
FEAST_TIMEOUT_S = 300
TTL = timedelta(hours=2)
FEATURES = [f"bench_stats:f{i}" for i in range(5)]
NAME = "features"


def generate(folder: Path, entities: int, per: int, entity_rows: int, seed: int = 0,
             name: str = "") -> tuple[Path, Path]:
    """Feature rows with irregular microsecond times over the 7 days before now, and an
    entity frame of random (entity, time) rows over the same span."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    end = int(datetime.now(UTC).timestamp() * 1_000_000)
    span = 7 * 24 * 3600 * 1_000_000
    n = entities * per
    ts = pa.timestamp("us", tz="UTC")
    columns: dict[str, Any] = {
        "entity_id": np.repeat(np.arange(entities, dtype=np.int64), per),
        "event_timestamp": pa.array(end - rng.integers(0, span, n), ts)}
    for i in range(5):
        columns[f"f{i}"] = rng.standard_normal(n)
    features = folder / f"features{name}.parquet"
    pq.write_table(pa.table(columns), features, row_group_size=1_000_000)
    frame = pa.table({"entity_id": rng.integers(0, entities, entity_rows),
                      "event_timestamp": pa.array(end - rng.integers(0, span, entity_rows), ts)})
    entity_path = folder / f"entities{name}.parquet"
    pq.write_table(frame, entity_path)
    return features, entity_path


def _definitions(features: Path) -> list[Any]:
    from modelplane.features import Entity, FeatureView, Field, FileSource, Float64

    entity = Entity("entity", join_keys=["entity_id"])
    schema = [Field(f"f{i}", Float64) for i in range(5)]
    return [FeatureView("bench_stats", entities=[entity], source=FileSource(features),
                        schema=schema, ttl=TTL),
            FeatureView("bench_online", entities=[entity], source=FileSource(features),
                        schema=schema)]  # no TTL: every online read decodes its values


OURS = """
import json, resource, statistics, sys, time
def peak_mb():  # VmHWM: ru_maxrss would start at a big parent's peak (kept over exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
home, entities_path, out, reps, memory = sys.argv[1:6]
from modelplane.core.config import configure
configure(home=home)
import modelplane as mp, pyarrow.parquet as pq
store = mp.FeatureStore(memory_limit=memory or None)
entities = pq.read_table(entities_path).to_pandas()
refs = [f"bench_stats:f{i}" for i in range(5)]
base = peak_mb()
times, cpus = [], []
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
for _ in range(int(reps)):
    start, start_cpu = time.perf_counter(), cpu()
    frame = store.get_historical_features(entities, refs).to_pandas()
    times.append(time.perf_counter() - start)
    cpus.append(cpu() - start_cpu)
peak = peak_mb()
if out:
    frame.to_parquet(out)
print(json.dumps({"first": times[0], "median": statistics.median(times[1:] or times),
                  "cpu": statistics.median(cpus[1:] or cpus),
                  "rss_mb": peak, "base_mb": base, "rows": len(frame),
                  "nulls": int(frame["f0"].isna().sum())}))
"""

MERGE_ASOF = """
import json, resource, statistics, sys, time
def peak_mb():  # VmHWM: ru_maxrss would start at a big parent's peak (kept over exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
import numpy as np, pandas as pd
features_path, entities_path, out, reps = sys.argv[1:5]
feats = pd.read_parquet(features_path)
entities = pd.read_parquet(entities_path)
base = peak_mb()
times, cpus = [], []
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
for _ in range(int(reps)):
    start, start_cpu = time.perf_counter(), cpu()
    left = entities.assign(__i=np.arange(len(entities))).sort_values("event_timestamp")
    right = feats.sort_values("event_timestamp")
    merged = pd.merge_asof(left, right, on="event_timestamp", by="entity_id",
                           direction="backward",
                           tolerance=pd.Timedelta(hours=2))
    merged = merged.sort_values("__i").drop(columns="__i").reset_index(drop=True)
    times.append(time.perf_counter() - start)
    cpus.append(cpu() - start_cpu)
peak = peak_mb()
merged.to_parquet(out)
print(json.dumps({"first": times[0], "median": statistics.median(times[1:] or times),
                  "cpu": statistics.median(cpus[1:] or cpus),
                  "rss_mb": peak, "base_mb": base, "rows": len(merged),
                  "nulls": int(merged["f0"].isna().sum())}))
"""


def _child(code: str, *args: str, timeout: float = 900) -> dict[str, Any] | None:
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                            text=True, timeout=timeout)
    if result.returncode != 0:
        print(f"benchmark child failed:\n{result.stderr[-3000:]}", file=sys.stderr)
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _equal_rows(ours: Path, reference: Path) -> tuple[int, int]:
    """(rows equal in every feature, nulls included; rows compared)."""
    import numpy as np
    import pandas as pd

    a, b = pd.read_parquet(ours), pd.read_parquet(reference)
    if len(a) != len(b):
        return 0, max(len(a), len(b))
    same = np.ones(len(a), dtype=bool)
    for i in range(5):
        x, y = a[f"f{i}"].to_numpy(), b[f"f{i}"].to_numpy()
        same &= (x == y) | (np.isnan(x) & np.isnan(y))
    same &= (a["entity_id"].to_numpy() == b["entity_id"].to_numpy())
    return int(same.sum()), len(a)


def _latencies(fn: Any, repeat: int, warmup: int = 20) -> tuple[float, float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def _online(store: Any, entities: int, quick: bool) -> dict[str, float]:
    import numpy as np

    rng = np.random.default_rng(1)
    refs = [f"bench_online:f{i}" for i in range(5)]
    ones = iter(rng.integers(0, entities, 100_000).tolist())
    check = store.get_online_features(refs, [{"entity_id": 0}])
    assert check.statuses["f0"] == ["present"], check.statuses
    p50, p99 = _latencies(lambda: store.get_online_features(refs, [{"entity_id": next(ones)}]),
                          1000 if quick else 5000)
    hundreds = [{"entity_id": rng.integers(0, entities, 100).tolist()} for _ in range(50)]
    batches = iter(hundreds * 100)
    p50_100, p99_100 = _latencies(lambda: store.get_online_features(refs, next(batches)),
                                  200 if quick else 1000)
    return {"p50": p50, "p99": p99, "p50_100": p50_100, "p99_100": p99_100,
            "load": os.getloadavg()[0]}


def ours_online(home: Path, features: Path, entities: int, quick: bool,
                redis_url: str | None) -> dict[str, Any]:
    from modelplane.core.config import configure
    from modelplane.features import FeatureStore
    from modelplane.features.online import open_online_store

    configure(home=str(home))
    store = FeatureStore()
    store.apply(_definitions(features))
    end = datetime.now(UTC)
    out: dict[str, Any] = {}
    start = time.perf_counter()
    result = store.materialize(end - timedelta(days=8), end, ["bench_stats"], progress=False)
    out["materialize_s"] = time.perf_counter() - start
    out["materialized_rows"] = result[0].rows
    store.materialize(end - timedelta(days=8), end, ["bench_online"], progress=False)
    out["sqlite"] = _online(store, entities, quick)
    if redis_url:
        sep = "&" if "?" in redis_url else "?"
        online = open_online_store(f"{redis_url}{sep}key_prefix=mpbench-{uuid.uuid4().hex[:8]}:")
        redis_store = FeatureStore(online_store=online)
        try:
            start = time.perf_counter()
            redis_store.materialize(end - timedelta(days=8), end, ["bench_stats"],
                                    progress=False)
            out["materialize_redis_s"] = time.perf_counter() - start
            redis_store.materialize(end - timedelta(days=8), end, ["bench_online"],
                                    progress=False)
            out["redis"] = _online(redis_store, entities, quick)
        finally:
            for view in ("bench_stats", "bench_online"):
                from modelplane.features.lookup import namespace

                online.delete_namespace(namespace(redis_store._batch_view(view)))
            online.close()
    out["http_p50"] = _http_p50(home, quick)
    store.close()
    return out


def _http_p50(home: Path, quick: bool) -> float:
    import socket

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "MODELPLANE_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-m", "modelplane", "server", "--port", str(port),
                             "--log-level", "warning"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        body = {"features": [f"bench_online:f{i}" for i in range(5)],
                "entities": {"entity_id": [1]}}
        with httpx.Client(base_url=url) as http:
            first = http.post("/api/v1/features/online", json=body)
            first.raise_for_status()
            p50, _ = _latencies(lambda: http.post("/api/v1/features/online", json=body),
                                300 if quick else 1000)
        return p50
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def feast(work: Path, features: Path, entities: Path, quick: bool) -> dict[str, Any] | None:
    python = peer_python("feast", FEAST_REQUIREMENTS)
    if python is None:
        return None
    out: dict[str, Any] = {}
    script = str(HERE / "peers" / "feast_features.py")
    for mode in ("file", "duckdb", "online"):
        cmd = [str(python), script, mode, str(work / f"feast-{mode}"), str(features),
               str(entities)] + (["--quick"] if quick else [])
        try:
            result = subprocess.run(cmd, capture_output=True, text=True,
                                    timeout=FEAST_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            out[mode] = {"error": f"over {FEAST_TIMEOUT_S} s"}
            continue
        if result.returncode != 0:
            print(f"feast {mode} failed:\n{result.stderr[-2000:]}", file=sys.stderr)
            out[mode] = {"error": "failed"}
            continue
        out[mode] = json.loads(result.stdout.strip().splitlines()[-1])
    return out


def _ms(value: float) -> float:
    return value * 1000


def _rows(hist: dict[str, Any], merge: dict[str, Any] | None, equal: tuple[int, int],
          online: dict[str, Any], big: dict[str, Any] | None, peer: dict[str, Any] | None,
          n_rows: int, quick: bool) -> list[Row]:
    b = NAME
    scale = "" if not quick else " (quick: 10x smaller data)"
    peer = peer or {}
    file_, duck, fon = peer.get("file", {}), peer.get("duckdb", {}), peer.get("online", {})

    def note_peer(d: dict[str, Any], key: str, unit: str = "s", fmt: str = "{:.3g}") -> str:
        if key not in d:
            return d.get("error", "") and f"Feast: {d['error']}"
        return f"Feast {fmt.format(d[key])} {unit}"

    merge_note = (f"merge_asof {merge['median']:.3f} s ({merge['cpu']:.3f} s CPU), "
                  f"{merge['rss_mb']:.0f} MB peak" if merge else "")
    rows = [
        row(b, f"historical retrieval, {n_rows:,} x {hist['rows']:,} (median)",
            hist["median"], "s", target="<= 0.25 (full size)",
            ok=None if quick else hist["median"] <= 0.25,
            note="; ".join(x for x in (merge_note, note_peer(file_, "seconds") + " (file store)"
                                       if file_ else "", note_peer(duck, "seconds")
                                       + " (DuckDB store)" if duck else "") if x) + scale),
        row(b, "historical retrieval CPU time (median, all threads)", hist["cpu"], "s",
            note=f"1-min load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"),
        row(b, "historical retrieval, first call", hist["first"], "s"),
        row(b, "historical retrieval peak RSS (child process)", hist["rss_mb"], "MB",
            target="<= 600", ok=hist["rss_mb"] <= 600,
            note=f"interpreter with imports {hist['base_mb']:.0f} MB"
            + (f"; Feast file store {file_['rss_mb']:.0f} MB" if "rss_mb" in file_ else "")),
        row(b, "rows returned", hist["rows"], "rows", target=f"= {hist['rows']:,}",
            ok=True, note=(f"Feast file store returned {file_['rows']:,}" if "rows" in file_
                           else "")),
        row(b, "rows equal to merge_asof (nulls included)", equal[0], "rows",
            target=f"= {equal[1]:,}", ok=equal[0] == equal[1],
            note=f"{hist['nulls']:,} rows with no match (nulls)"),
    ]
    if big:
        rows.append(row(b, "10M feature rows x 1M entity rows", big["median"], "s",
                        target="<= 4 GB peak", ok=big["rss_mb"] <= 4096,
                        note=f"peak RSS {big['rss_mb']:.0f} MB, {big['rows']:,} rows"))
    mat = online["materialize_s"]
    rows.append(row(b, f"materialize {online['materialized_rows']:,} entities into SQLite",
                    mat, "s", target=">= 5x Feast (full size)",
                    ok=(fon["materialize_s"] / mat >= 5) if "materialize_s" in fon
                    and not quick else None,
                    note=(f"Feast {fon['materialize_s']:.2f} s; "
                          f"{fon['materialize_s'] / mat:.1f}x" if "materialize_s" in fon
                          else note_peer(fon, "materialize_s"))))
    if "materialize_redis_s" in online:
        rows.append(row(b, "materialize into Redis", online["materialize_redis_s"], "s"))
    for backend, target_100 in (("sqlite", 1.0), ("redis", 2.0)):
        if backend not in online:
            continue
        o = online[backend]
        feast_1 = (f"Feast p50 {_ms(fon['p50']):.2f} / p99 {_ms(fon['p99']):.2f} ms"
                   if backend == "sqlite" and "p50" in fon else "")
        rows.append(row(b, f"online read 1 entity x 5 ({backend}) p50", _ms(o["p50"]), "ms",
                        note=feast_1))
        rows.append(row(b, f"online read 1 entity x 5 ({backend}) p99", _ms(o["p99"]), "ms",
                        target="<= 0.3", ok=_ms(o["p99"]) <= 0.3,
                        note=f"1-min load average {o['load']:.1f} on {os.cpu_count()} cores"
                        + (": busy cores delay the Redis server" if backend == "redis" else "")))
        feast_100 = (f"Feast p50 {_ms(fon['p50_100']):.2f} ms" if backend == "sqlite"
                     and "p50_100" in fon else "")
        rows.append(row(b, f"online read 100 entities ({backend}) p50", _ms(o["p50_100"]),
                        "ms", target=f"<= {target_100:g}", ok=_ms(o["p50_100"]) <= target_100,
                        note=feast_100))
    rows.append(row(b, "HTTP online read 1 entity p50", _ms(online["http_p50"]), "ms",
                    target="<= 2", ok=_ms(online["http_p50"]) <= 2))
    return rows


def main(quick: bool = False, *, peer: bool = True, big: bool = True) -> list[Row]:
    entities, per, entity_rows = (1_000, 100, 10_000) if quick else (10_000, 100, 100_000)
    reps = "5"
    redis_url = os.environ.get("MODELPLANE_BENCH_REDIS_URL") or os.environ.get(
        "MODELPLANE_TEST_REDIS_URL")
    with tempfile.TemporaryDirectory(prefix="mp-bench-features-") as tmp:
        work = Path(tmp)
        features, entity_frame = generate(work, entities, per, entity_rows)
        home = work / "mp"
        from modelplane.core.config import configure
        from modelplane.features import FeatureStore

        configure(home=str(home))
        FeatureStore().apply(_definitions(features))
        hist = _child(OURS, str(home), str(entity_frame), str(work / "ours.parquet"), reps, "")
        merge = _child(MERGE_ASOF, str(features), str(entity_frame),
                       str(work / "merge_asof.parquet"), reps)
        if hist is None:
            raise RuntimeError("the modelplane retrieval child failed")
        equal = (_equal_rows(work / "ours.parquet", work / "merge_asof.parquet") if merge
                 else (0, hist["rows"]))
        big_run = None
        if big and not quick:
            big_features, big_entities = generate(work, 100_000, 100, 1_000_000, seed=1,
                                                  name="-big")
            big_home = work / "mp-big"
            configure(home=str(big_home))
            FeatureStore().apply(_definitions(big_features))
            big_run = _child(OURS, str(big_home), str(big_entities), "", "2", "2GB")
            configure(home=str(home))
        online = ours_online(home, features, entities, quick, redis_url)
        feast_run = feast(work, features, entity_frame, quick) if peer else None
    return _rows(hist, merge, equal, online, big_run, feast_run, entities * per, quick)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-peer", action="store_true", help="leave Feast out")
    parser.add_argument("--no-big", action="store_true", help="leave the 10M-row run out")
    args = parser.parse_args()
    print_table(main(args.quick, peer=not args.no_peer, big=not args.no_big),
                "features: modelplane vs merge_asof and Feast")
