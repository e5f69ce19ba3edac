"""Generate the example's data: hourly statistics of 50 drivers over the last 3 days, and a
profile per driver (an embedding, home zones and a small avatar: list and bytes features).

Written once to ``data/driver_stats.parquet`` and ``data/driver_profiles.parquet`` (numpy
only, no download); run it directly to regenerate. Timestamps end at the time of
generation, so the latest values are fresh.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
DRIVER_STATS = HERE / "data" / "driver_stats.parquet"
DRIVER_PROFILES = HERE / "data" / "driver_profiles.parquet"
ZONES = ["north", "south", "east", "west", "airport", "centre"]


def ensure_data(*, force: bool = False) -> Path:
    if DRIVER_STATS.exists() and not force:
        return DRIVER_STATS
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(7)
    drivers = np.arange(1001, 1051)
    hours = 72
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = now - timedelta(hours=hours - 1)
    ids = np.repeat(drivers, hours)
    offsets = np.tile(np.arange(hours), len(drivers)) * 3_600_000_000
    jitter = rng.integers(0, 600_000_000, ids.size)  # up to 10 minutes late
    start_us = int(start.timestamp() * 1_000_000)
    event = pa.array(start_us + offsets + jitter, pa.timestamp("us", tz="UTC"))
    table = pa.table({
        "driver_id": ids,
        "event_timestamp": event,
        "created": event,
        "conv_rate": rng.uniform(0, 1, ids.size),
        "acc_rate": rng.uniform(0.5, 1, ids.size),
        "avg_daily_trips": rng.integers(0, 40, ids.size).astype(np.int64),
    })
    DRIVER_STATS.parent.mkdir(parents=True, exist_ok=True)
    tmp = DRIVER_STATS.with_suffix(".tmp")
    pq.write_table(table, tmp)
    tmp.replace(DRIVER_STATS)
    return DRIVER_STATS


def ensure_profiles(*, force: bool = False) -> Path:
    if DRIVER_PROFILES.exists() and not force:
        return DRIVER_PROFILES
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(11)
    drivers = np.arange(1001, 1051)
    now = datetime.now(UTC).replace(microsecond=0)
    embedding = rng.standard_normal((len(drivers), 8)).astype(np.float32)
    table = pa.table({
        "driver_id": drivers,
        "event_timestamp": pa.array([now - timedelta(days=1)] * len(drivers),
                                    pa.timestamp("us", tz="UTC")),
        "embedding": pa.array(list(embedding), pa.list_(pa.float32())),
        "home_zones": pa.array([list(rng.choice(ZONES, rng.integers(1, 4), replace=False))
                                for _ in drivers], pa.list_(pa.string())),
        "avatar": pa.array([rng.bytes(16) for _ in drivers], pa.binary()),
    })
    DRIVER_PROFILES.parent.mkdir(parents=True, exist_ok=True)
    tmp = DRIVER_PROFILES.with_suffix(".tmp")
    pq.write_table(table, tmp)
    tmp.replace(DRIVER_PROFILES)
    return DRIVER_PROFILES


if __name__ == "__main__":
    print(ensure_data(force=True))
    print(ensure_profiles(force=True))
