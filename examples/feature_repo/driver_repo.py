"""Feature definitions of the example repo: one entity, two batch views over Parquet (one
with list and bytes features), an on-demand view and a feature service.

    modelplane features plan examples/feature_repo
    modelplane features apply examples/feature_repo
    modelplane features materialize-incremental
    modelplane features get-online -s driver_ranking -e driver_id=1001,1002 -e trip_km=3.5,12
"""

from __future__ import annotations

from datetime import timedelta

from data import ensure_data, ensure_profiles

from modelplane.features import (
    Array,
    Bytes,
    Entity,
    FeatureService,
    FeatureView,
    Field,
    FileSource,
    Float32,
    Float64,
    Int64,
    RequestSource,
    String,
    on_demand_feature_view,
)

driver = Entity("driver", join_keys=["driver_id"], description="A driver of the fleet.")

driver_stats = FeatureView(
    "driver_hourly_stats",
    entities=[driver],
    source=FileSource(ensure_data()),
    schema=[
        Field("conv_rate", Float64, "Share of offers the driver accepted in the hour."),
        Field("acc_rate", Float64, "Share of accepted trips completed."),
        Field("avg_daily_trips", Int64, "Trips per day over the last week."),
    ],
    timestamp_field="event_timestamp",
    created_timestamp_field="created",
    ttl=timedelta(hours=2),
    owner="fleet-ml",
    tags={"team": "fleet"},
    description="Hourly statistics per driver.",
)

driver_profile = FeatureView(
    "driver_profile",
    entities=[driver],
    source=FileSource(ensure_profiles()),
    schema=[
        Field("embedding", Array(Float32), "Learned driver embedding (8 floats)."),
        Field("home_zones", Array(String), "Zones the driver usually works in."),
        Field("avatar", Bytes, "A 16-byte avatar hash (base64 over HTTP)."),
    ],
    owner="fleet-ml",
    description="Slowly changing driver profile: list and bytes features.",
)

trip = RequestSource("trip", [Field("trip_km", Float64)])


@on_demand_feature_view(sources=[driver_stats[["conv_rate", "acc_rate"]], trip],
                        schema=[Field("expected_completion", Float64),
                                Field("score_per_km", Float64)], mode="python")
def trip_scores(inputs: dict) -> dict:
    """The same function runs on training frames and on online requests."""
    completion = [None if c is None or a is None else c * a
                  for c, a in zip(inputs["conv_rate"], inputs["acc_rate"], strict=True)]
    per_km = [None if e is None or not km else e / km
              for e, km in zip(completion, inputs["trip_km"], strict=True)]
    return {"expected_completion": completion, "score_per_km": per_km}


driver_ranking = FeatureService(
    "driver_ranking",
    [driver_stats[["conv_rate", "acc_rate", "avg_daily_trips"]], trip_scores],
    description="What the ranking model reads.",
    owner="fleet-ml",
)
