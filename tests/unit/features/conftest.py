"""Random feature data for the feature-store tests, and a store on the test's home."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelplane.features import Entity, FeatureStore, FeatureView, Field, Float64

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def feature_frame(rng: np.random.Generator, *, entities: int = 50, rows: int = 2000,
                  span_s: int = 86_400, ties: bool = True) -> pd.DataFrame:
    """Feature rows with microsecond times, some tied on (key, event time) with distinct
    created times, and some null values."""
    ts = T0 + pd.to_timedelta(rng.integers(0, span_s * 1_000_000, rows), unit="us")
    frame = pd.DataFrame({
        "driver_id": rng.integers(0, entities, rows).astype("int64"),
        "event_timestamp": ts,
        "created": ts + pd.to_timedelta(rng.integers(0, 10**6, rows), unit="us"),
        "conv_rate": rng.standard_normal(rows),
        "trips": rng.standard_normal(rows),
    })
    frame.loc[rng.random(rows) < 0.05, "conv_rate"] = np.nan
    if ties:  # duplicate some rows' (key, time) with another created time and value
        dup = frame.sample(frac=0.1, random_state=1).copy()
        dup["created"] = dup["created"] + pd.to_timedelta(rng.integers(-10**6, 10**6,
                                                                      len(dup)), unit="us")
        dup["conv_rate"] = rng.standard_normal(len(dup))
        dup["trips"] = rng.standard_normal(len(dup))
        frame = pd.concat([frame, dup], ignore_index=True)
    return frame


def entity_frame(rng: np.random.Generator, *, entities: int = 60, rows: int = 1000,
                 span_s: int = 90_000) -> pd.DataFrame:
    ts = T0 + pd.to_timedelta(rng.integers(-3_600 * 10**6, span_s * 10**6, rows), unit="us")
    return pd.DataFrame({"driver_id": rng.integers(0, entities, rows).astype("int64"),
                         "event_timestamp": ts, "label": rng.integers(0, 2, rows)})


def driver_view(source: object, *, ttl: timedelta | None = timedelta(hours=2),
                created: bool = True, name: str = "driver_stats") -> FeatureView:
    driver = Entity("driver", join_keys=["driver_id"])
    return FeatureView(name, entities=[driver], source=source,
                       schema=[Field("conv_rate", Float64), Field("trips", Float64)],
                       created_timestamp_field="created" if created else None, ttl=ttl)


@pytest.fixture
def store(mp_home: Path) -> Iterator[FeatureStore]:
    fs = FeatureStore()
    yield fs
    fs.close()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(42)
