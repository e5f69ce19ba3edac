"""Reference servers for ``benchmarks/serving.py``, run under uvicorn in their own process.

- ``bare``: a bare ASGI app that reads the body and answers a fixed JSON (the ceiling:
  what uvicorn itself costs, no framework, no model);
- ``floor()``: a plain FastAPI endpoint around the same RandomForest, the way one writes
  it by hand (a sync endpoint taking the record as a dict, one numpy row in feature order,
  ``model.predict``). The model is the pickled twin fitted on the numpy array
  (``MODEL_PATH``), so no feature-name check runs; the feature order is ``FEATURES``.
"""

from __future__ import annotations

import json
import os
import pickle
from typing import Any

_BODY = b'{"predictions":[0]}'
_HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"19")]


async def bare(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].replace("lifespan.", "")
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": _BODY})


def floor() -> Any:
    import numpy as np
    from fastapi import FastAPI

    with open(os.environ["MODEL_PATH"], "rb") as handle:
        model = pickle.load(handle)
    features = json.loads(os.environ["FEATURES"])
    app = FastAPI()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/predict")
    def predict(record: dict[str, float]) -> dict[str, Any]:
        row = np.array([[record[name] for name in features]])
        return {"predictions": model.predict(row).tolist()}

    return app
