"""Build an MLflow store with the real client: SQLite + a local artifact root, or, given a
tracking server URL, whatever that server stores. Print what it holds as JSON.
Usage: python build_store.py WORKDIR [TRACKING_URL]"""

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
server = sys.argv[2] if len(sys.argv) > 2 else None
mlflow.set_tracking_uri(server or f"sqlite:///{work}/mlflow.db")
client = MlflowClient()
exp = client.create_experiment("imported", artifact_location=None if server
                               else f"{work}/artifacts")
mlflow.set_experiment(experiment_id=exp)
X, y = load_iris(return_X_y=True, as_frame=True)
with mlflow.start_run(run_name="old-run") as run:
    mlflow.log_params({"C": "1.0", "solver": "lbfgs"})
    for step in range(3):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
    mlflow.set_tag("team", "risk")
    mlflow.log_input(mlflow.data.from_pandas(X, name="iris-train"), context="training")
    with open(os.path.join(work, "report.txt"), "w") as fh:
        fh.write("report")
    mlflow.log_artifact(os.path.join(work, "report.txt"), artifact_path="docs")
    mlflow.sklearn.log_model(LogisticRegression(max_iter=300).fit(X, y), name="model",
                             registered_model_name="imported-model")
client.set_registered_model_alias("imported-model", "champion", "1")
client.transition_model_version_stage("imported-model", "1", "Production")
client.set_registered_model_tag("imported-model", "owner", "ml")
client.set_model_version_tag("imported-model", "1", "validated", "yes")
client.update_model_version("imported-model", "1", description="first")
print(json.dumps({"run_id": run.info.run_id}))
