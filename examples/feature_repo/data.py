"""Generate the example's data: hourly statistics of 50 drivers over the last 3 days.

Written once to ``data/driver_stats.parquet`` (numpy only, no download); run it directly to
regenerate. Timestamps end at the time of generation, so the latest values are fresh.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
DRIVER_STATS = HERE / "data" / "driver_stats.parquet"


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


if __name__ == "__main__":
    print(ensure_data(force=True))
