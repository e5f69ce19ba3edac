"""The feature-store part of ``modelplane quickstart``: a feature view over the training
data, a point-in-time training set, materialization, an online read, and a model trained on
the feature service (served later with ``--feature-service``)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

__all__ = ["features_tour"]

VIEW = "patient_vitals"
SERVICE = "diagnosis"
FEATURES = ["mean_radius", "mean_texture", "mean_area"]
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def features_tour(client: Any, console: Any, data: dict[str, Any]) -> None:
    import pandas as pd

    from modelplane.features import Entity, FeatureService, FeatureView, Field, Float64

    train = data["train"].reset_index(drop=True)
    rows = pd.DataFrame({
        "patient_id": range(len(train)),
        "event_timestamp": [pd.Timestamp(T0) + pd.Timedelta(minutes=i) for i in range(len(train))],
        "mean_radius": train["mean radius"], "mean_texture": train["mean texture"],
        "mean_area": train["mean area"]})
    patient = Entity("patient", join_keys=["patient_id"], description="A patient of the study.")
    vitals = FeatureView(VIEW, entities=[patient], source=rows, schema=[
        Field("mean_radius", Float64), Field("mean_texture", Float64),
        Field("mean_area", Float64)], description="Cell nuclei measurements per patient.")
    store = client.features
    plan = store.apply([vitals, FeatureService(SERVICE, [vitals])])
    change = next(c for c in plan.changes if c.name == VIEW)
    console.print(f"[green]✓[/] feature view [bold]{VIEW}[/] v{change.version} "
                  f"({change.action.replace('_', ' ')}): 3 features of entity patient")
    entities = pd.DataFrame({"patient_id": [0, 1, 2, 0],
                             "event_timestamp": [pd.Timestamp(T0) + pd.Timedelta(hours=1)] * 3
                             + [pd.Timestamp(T0) - pd.Timedelta(hours=1)]})
    training = store.get_historical_features(entities, service=SERVICE).to_pandas()
    empty = int(training["mean_radius"].isna().sum())
    console.print(f"[green]✓[/] point-in-time training set: {len(training)} rows, {empty} "
                  "without values (asked for a time before the patient's first record)")
    done = store.materialize(T0, datetime.now(UTC), [VIEW], progress=False)
    started = time.perf_counter()
    online = store.get_online_features(service=SERVICE, entity_rows=[{"patient_id": 0}])
    took = (time.perf_counter() - started) * 1000
    console.print(f"[green]✓[/] materialized {done[0].rows} patients online; online read of "
                  f"patient 0: mean_radius={online.values['mean_radius'][0]:.2f} "
                  f"({online.statuses['mean_radius'][0]}, {took:.2f} ms)")
    _train_on_the_service(client, console, rows, train["target"])


def _train_on_the_service(client: Any, console: Any, rows: Any, target: Any) -> None:
    """A model trained on the service's point-in-time training set, so that it can be
    served with `--feature-service diagnosis`: requests then carry only a patient_id."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    entities = pd.DataFrame({"patient_id": rows["patient_id"],
                             "event_timestamp": rows["event_timestamp"]})
    training = client.features.get_historical_features(entities, service=SERVICE).to_pandas()
    features = training[FEATURES]
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(features, target)
    version = client.log_model(None, model, SERVICE, input_example=features.head(5),
                               stage="production",
                               description=f"trained on feature service {SERVICE!r}")
    console.print(f"[green]✓[/] {SERVICE}:{version.version} trained on the {SERVICE!r} "
                  "service's training set and moved to production: serve it with "
                  f"--feature-service {SERVICE} and send only a patient_id")
