"""The predict core, written once: every serving route (``/predict``, the Open Inference
Protocol, a deployment's routes, shadow copies) runs a model through :func:`run_model`
and builds ``/predict`` answers with :func:`predict_body`; the routes only parse requests
and encode answers.

:func:`run_model` counts the request in flight on the version (a hot swap waits for it),
prepares the input (in a worker thread when it is large), runs it through the version's
batcher and cache, and maps a model that raises to :class:`ModelFailedError`: a 500 naming
the request id, logged with the trace, failing only that request (the batcher reruns a
failed batch one request at a time). Input the model's signature refuses is the flavor's
``InvalidArgumentError`` (a 4xx), never a 500; so is input with missing values (null,
NaN) that the model refuses with a ``ValueError``/``TypeError`` (:class:`ModelInputError`,
422, counted as a client error), so no caller can inflate the server-error rate that
canary gates and alerts read. A model that raises on complete input is still a 500: a
broken model must not pass a canary as "bad input".
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from modelplane.core.errors import InvalidArgumentError, ModelplaneError

if TYPE_CHECKING:
    from modelplane.serving.predictors import Output
    from modelplane.serving.runtime import LoadedVersion

__all__ = ["OFFLOAD_BYTES", "ModelFailedError", "ModelInputError", "predict_body",
           "run_model"]

log = logging.getLogger("modelplane.serving")
OFFLOAD_BYTES = 256 * 1024  # bigger inputs are prepared in a thread, off the event loop


class ModelFailedError(ModelplaneError):
    """The model raised on a request's input (a 500 naming the request id)."""

    code = "model_error"
    http_status = 500


class ModelInputError(InvalidArgumentError):
    """The model refused input with missing values (a 422: the caller's input)."""

    code = "invalid_input"


def has_missing(data: Any, _depth: int = 0) -> bool:
    """Whether parsed input holds a null or NaN anywhere (records, columns, arrays)."""
    if data is None:
        return True
    if isinstance(data, float):
        return data != data
    if isinstance(data, str | bytes | int | bool) or _depth > 8:
        return False
    if isinstance(data, dict):
        return any(has_missing(v, _depth + 1) for v in data.values())
    if isinstance(data, list | tuple):
        return any(has_missing(v, _depth + 1) for v in data)
    isna = getattr(data, "isna", None)  # pandas
    if isna is not None:
        try:
            return bool(isna().to_numpy().any())
        except Exception:
            return False
    dtype = getattr(data, "dtype", None)  # numpy
    if dtype is not None:
        import numpy as np

        if dtype.kind == "f":
            return bool(np.isnan(data).any())
        if dtype.kind == "O":
            return any(has_missing(v, _depth + 1) for v in np.ravel(data))
    return False


async def run_model(handle: LoadedVersion, data: Any, request_id: str, *,
                    offload: bool = False, quiet: bool = False) -> Output:
    """Predictions (and probabilities) of ``handle`` for ``data`` (see the module
    docstring); ``offload`` prepares the input in a worker thread; ``quiet`` does not log
    a model failure (shadow copies count theirs)."""
    handle.inflight += 1
    try:
        if offload:
            prepared = await asyncio.to_thread(handle.model.prepare, data)
        else:
            prepared = handle.model.prepare(data)
        try:
            return await handle.infer(prepared)
        except Exception as exc:
            if isinstance(exc, ValueError | TypeError) and has_missing(data):
                raise ModelInputError(
                    f"model {handle.name!r} version {handle.label} cannot take this input "
                    f"(it has missing values): {type(exc).__name__}: "
                    f"{(str(exc).splitlines() or [''])[0]}"[:400],
                    details={"model": handle.name, "version": handle.number,
                             "reason": "missing_values"}) from None
            raise model_failed(handle, request_id, exc, quiet=quiet) from None
    finally:
        handle.inflight -= 1


def model_failed(handle: LoadedVersion, request_id: str, exc: Exception, *,
                 quiet: bool = False) -> ModelFailedError:
    """The error for a model that raised: logged with the trace (unless ``quiet``), named
    by request id."""
    if not quiet:
        log.error("model %s version %s failed on request %s: %s: %s", handle.name,
                  handle.label, request_id, type(exc).__name__, exc, exc_info=exc)
    what = f"{type(exc).__name__}: {exc}"[:300]
    return ModelFailedError(
        f"model {handle.name!r} version {handle.label} failed on request {request_id}: "
        f"{what}", details={"request_id": request_id, "model": handle.name,
                            "version": handle.number})


def predict_body(model: str, handle: LoadedVersion, result: Output,
                 **more: Any) -> dict[str, Any]:
    """The ``/predict`` answer: model, version, predictions, probabilities and classes
    when the model has them, then ``more`` (deployment, variant, features)."""
    out: dict[str, Any] = {"model": model, "version": handle.number, **more,
                           "predictions": result[0]}
    if result[1] is not None:
        out["probabilities"] = result[1]
        if handle.classes is not None:
            out["classes"] = handle.classes
    return out
