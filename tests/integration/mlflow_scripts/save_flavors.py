"""Save one MLflow model folder per flavor with the real mlflow package (``mlflow.<flavor>.
save_model``), each with a signature and input example; print what each predicts on the
example rows as JSON. Usage: python save_flavors.py WORKDIR [EXTRA_SITE_PACKAGES]

The libraries mlflow's own venv lacks (xgboost, lightgbm, onnx, torch) come from
EXTRA_SITE_PACKAGES (modelplane's venv), appended to ``sys.path`` so mlflow's own
packages win wherever both have one.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import warnings

warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)
if len(sys.argv) > 2:
    sys.path.append(sys.argv[2])

import mlflow  # noqa: E402
import numpy as np  # noqa: E402
from mlflow.models import infer_signature  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402


class Doubler(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input.sum(axis=1) * 2


def main() -> None:
    work = sys.argv[1]
    X, y = load_iris(return_X_y=True, as_frame=True)
    rows = X.head(5)
    arr = rows.to_numpy(dtype=np.float32)
    out: dict[str, list] = {}

    def path(name: str) -> str:
        return os.path.join(work, name)

    sk = LogisticRegression(max_iter=300).fit(X, y)
    mlflow.sklearn.save_model(sk, path("sklearn"), input_example=rows,
                              signature=infer_signature(rows, sk.predict(rows)))
    out["sklearn"] = sk.predict(rows).tolist()

    import xgboost as xgb
    booster = xgb.train({"objective": "multi:softprob", "num_class": 3},
                        xgb.DMatrix(X, label=y), num_boost_round=5)
    mlflow.xgboost.save_model(booster, path("xgboost"), input_example=rows,
                              signature=infer_signature(rows, booster.predict(xgb.DMatrix(rows))))
    out["xgboost"] = booster.predict(xgb.DMatrix(rows)).tolist()

    import lightgbm as lgb
    lgb_booster = lgb.train({"objective": "multiclass", "num_class": 3, "verbose": -1},
                            lgb.Dataset(X, label=y), num_boost_round=5)
    mlflow.lightgbm.save_model(lgb_booster, path("lightgbm"), input_example=rows,
                               signature=infer_signature(rows, lgb_booster.predict(rows)))
    out["lightgbm"] = lgb_booster.predict(rows).tolist()

    import onnxruntime as ort
    from skl2onnx import to_onnx
    onx = to_onnx(sk, arr, options={"zipmap": False}, target_opset=17)
    mlflow.onnx.save_model(onx, path("onnx"), input_example=arr)
    session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    out["onnx"] = session.run(None, {session.get_inputs()[0].name: arr})[0].tolist()

    import torch
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Softmax(dim=1)).eval()
    with torch.no_grad():
        expected = net(torch.as_tensor(arr)).numpy()
    mlflow.pytorch.save_model(net, path("pytorch"), input_example=arr,
                              signature=infer_signature(arr, expected))
    out["pytorch"] = expected.tolist()

    mlflow.pyfunc.save_model(path("python_function"), python_model=Doubler(),
                             input_example=rows)
    out["python_function"] = (rows.sum(axis=1) * 2).tolist()
    out["rows"] = rows.to_dict(orient="records")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
