"""The feature-store workload on Feast (runs in ``benchmarks/.venvs/feast``; plain Feast API).

``python feast_features.py MODE WORKDIR FEATURES.parquet ENTITIES.parquet [--quick]`` prints
one JSON line. MODE ``file`` / ``duckdb``: historical retrieval on that offline store (time,
rows returned, peak RSS of this process); ``online``: materialize into SQLite, then online
reads of 1 entity x 5 features (p50, p99) and 100 entities (p50).
"""

from __future__ import annotations

import json
import resource
import statistics
import sys
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

warnings.filterwarnings("ignore")


def peak_mb() -> float:  # VmHWM: ru_maxrss would start at a big parent's peak (kept over exec)
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(mode: str, work: Path, features: str):  # type: ignore[no-untyped-def]
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
    from feast.repo_config import RepoConfig
    from feast.types import Float64

    work.mkdir(parents=True, exist_ok=True)
    offline = {"type": "duckdb"} if mode == "duckdb" else {"type": "file"}
    config = RepoConfig(project="bench", registry=str(work / "registry.db"), provider="local",
                        online_store={"type": "sqlite", "path": str(work / "online.db")},
                        offline_store=offline, entity_key_serialization_version=3)
    store = FeatureStore(config=config)
    entity = Entity(name="entity", join_keys=["entity_id"], value_type=ValueType.INT64)
    source = FileSource(path=features, timestamp_field="event_timestamp")
    schema = [Field(name=f"f{i}", dtype=Float64) for i in range(5)]
    views = [FeatureView(name="bench_stats", entities=[entity], ttl=timedelta(hours=2),
                         schema=schema, source=source, online=True),
             FeatureView(name="bench_online", entities=[entity], ttl=timedelta(days=3650),
                         schema=schema, source=source, online=True)]
    store.apply([entity, *views])
    return store


def historical(store, entities: str) -> dict[str, float]:  # type: ignore[no-untyped-def]
    import pandas as pd

    frame = pd.read_parquet(entities)
    refs = [f"bench_stats:f{i}" for i in range(5)]
    start = time.perf_counter()
    out = store.get_historical_features(entity_df=frame, features=refs).to_df()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rows": len(out),
            "rss_mb": peak_mb()}


def _latencies(fn, repeat: int) -> list[float]:  # type: ignore[no-untyped-def]
    for _ in range(20):
        fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return sorted(samples)


def online(store, quick: bool) -> dict[str, float]:  # type: ignore[no-untyped-def]
    import numpy as np

    end = datetime.now(UTC)
    start = time.perf_counter()
    store.materialize(end - timedelta(days=8), end, feature_views=["bench_stats"])
    materialize_s = time.perf_counter() - start
    store.materialize(end - timedelta(days=8), end, feature_views=["bench_online"])
    refs = [f"bench_online:f{i}" for i in range(5)]
    rng = np.random.default_rng(1)
    entities = 1_000 if quick else 10_000
    ones = iter(rng.integers(0, entities, 100_000).tolist())
    one = _latencies(lambda: store.get_online_features(
        features=refs, entity_rows=[{"entity_id": next(ones)}]).to_dict(),
        500 if quick else 2000)
    batches = iter([[{"entity_id": int(i)} for i in rng.integers(0, entities, 100)]
                    for _ in range(2000)])
    hundred = _latencies(lambda: store.get_online_features(
        features=refs, entity_rows=next(batches)).to_dict(), 100 if quick else 300)
    return {"materialize_s": materialize_s, "p50": statistics.median(one),
            "p99": one[int(len(one) * 0.99)], "p50_100": statistics.median(hundred),
            "p99_100": hundred[int(len(hundred) * 0.99)]}


def main() -> None:
    mode, work, features, entities = sys.argv[1:5]
    quick = "--quick" in sys.argv
    store = build(mode, Path(work), features)
    result = online(store, quick) if mode == "online" else historical(store, entities)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
