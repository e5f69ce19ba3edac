"""Save the pickled RandomForest as an MLflow model (run inside the MLflow venv):
``python mlflow_serving.py MODEL_PATH EXAMPLE_JSON OUT_DIR``."""

from __future__ import annotations

import json
import pickle
import sys

import mlflow.sklearn
import pandas as pd

model_path, example_path, out = sys.argv[1:4]
with open(model_path, "rb") as handle:
    model = pickle.load(handle)
with open(example_path) as handle:
    example = pd.DataFrame([json.load(handle)])
mlflow.sklearn.save_model(model, out, input_example=example,
                         skops_trusted_types=["sklearn.tree._tree.Tree"])
