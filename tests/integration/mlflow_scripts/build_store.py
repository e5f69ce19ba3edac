"""Build an MLflow store (SQLite + a local artifact root) with the real client; print
what it holds as JSON. Usage: python build_store.py WORKDIR"""

from __future__ import annotations

import json
import logging
import os
import sys
import warnings

warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)

import mlflow  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

work = sys.argv[1]
mlflow.set_tracking_uri(f"sqlite:///{work}/mlflow.db")
client = MlflowClient()
exp = client.create_experiment("imported", artifact_location=f"{work}/artifacts")
mlflow.set_experiment(experiment_id=exp)
X, y = load_iris(return_X_y=True, as_frame=True)
with mlflow.start_run(run_name="old-run") as run:
    mlflow.log_params({"C": "1.0", "solver": "lbfgs"})
    for step in range(3):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
    mlflow.set_tag("team", "risk")
    with open(os.path.join(work, "report.txt"), "w") as fh:
        fh.write("report")
    mlflow.log_artifact(os.path.join(work, "report.txt"), artifact_path="docs")
    mlflow.sklearn.log_model(LogisticRegression(max_iter=300).fit(X, y), name="model",
                             registered_model_name="imported-model")
client.set_registered_model_alias("imported-model", "champion", "1")
client.transition_model_version_stage("imported-model", "1", "Production")
client.set_registered_model_tag("imported-model", "owner", "ml")
print(json.dumps({"run_id": run.info.run_id}))
