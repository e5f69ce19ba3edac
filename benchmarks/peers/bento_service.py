"""BentoML service for ``benchmarks/serving.py``: the same pickled RandomForest, adaptive
batching on (``batchable=True``), one worker. Run inside the BentoML venv."""

from __future__ import annotations

import os
import pickle

import bentoml
import numpy as np


@bentoml.service(workers=1)
class Forest:
    def __init__(self) -> None:
        with open(os.environ["MODEL_PATH"], "rb") as handle:
            self.model = pickle.load(handle)

    @bentoml.api(batchable=True)
    def predict(self, input: np.ndarray) -> np.ndarray:
        return self.model.predict(input)
