"""Loading one model version for serving: fetch, verify, load, warm up (in a worker thread).

The artifact tree comes from the :class:`~modelplane.registry.models.ModelSource` (the
verified local model cache: every file checked against the size and sha256 the version's
manifest records, so a damaged cache copy is never served). The model is
loaded with its flavor (its ONNX form with ``format="onnx"``; PyTorch models on the GPU
with bfloat16 autocast when one is present, unless ``autocast="off"``) and warmed up with
the stored input example, which also checks the predictor's fast path and whether the
model can be batched. Only then is the version handed to the server.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelplane.core.errors import InvalidStateError
from modelplane.flavors.signature import ColumnSpec
from modelplane.serving.predictors import Predictor

if TYPE_CHECKING:
    from modelplane.flavors import LoadedModel
    from modelplane.registry.entities import ModelVersion
    from modelplane.registry.models import ModelSource

__all__ = ["Loaded", "load_version", "output_specs"]

log = logging.getLogger("modelplane.serving")
WARM_UP_CALLS = 3


@dataclass
class Loaded:
    """A version ready to serve: the model, its predictor, where it came from."""

    model: LoadedModel
    predictor: Predictor
    path: Path
    options: dict[str, Any]
    example: Any  # the prepared input example, or None
    seconds: float


def load_options(path: Path, autocast: str) -> dict[str, Any]:
    """Flavor load options: a PyTorch model goes on the GPU when there is one, under
    bfloat16 autocast unless ``autocast`` is ``off``."""
    from modelplane.flavors.base import read_descriptor

    if read_descriptor(path).flavor != "torch":
        return {}
    import torch

    off = autocast == "off"
    if not torch.cuda.is_available():
        return {"autocast": None} if off else {}
    return {"device": "cuda", "autocast": None if off else "bf16"}


def load_version(models: ModelSource, version: ModelVersion, *, fmt: str | None = None,
                 autocast: str = "auto", fast_paths: bool = True) -> Loaded:
    """Fetch, verify, load and warm up ``version`` (blocking; run it in a thread)."""
    from modelplane import flavors

    started = time.perf_counter()
    path = models.path(version, fmt)
    options = load_options(path, autocast)
    if models.pickle_allowed(version):  # --allow-pickle, or the model's admin setting
        options["allow_pickle"] = True  # (also read by a process pool's loader)
    model = flavors.load_model(path, **options)
    predictor = Predictor(model, fast_paths=fast_paths)
    prepared = None
    if model.meta.input_example is None:
        log.warning("%s has no input example: served without warm-up", version.uri)
    else:
        try:
            prepared = model.prepare(model.meta.input_example)
            predictor.check(prepared)
            for _ in range(WARM_UP_CALLS):
                predictor.batch([prepared])
        except Exception as exc:
            raise InvalidStateError(
                f"{version.uri} failed its warm-up on the stored input example: {exc}",
                details={"uri": version.uri}) from exc
    return Loaded(model, predictor, path, options, prepared, time.perf_counter() - started)


def output_specs(model: LoadedModel) -> tuple[ColumnSpec, ColumnSpec | None]:
    """What a prediction returns, from the signature: predictions, then probabilities."""
    outs = list(model.signature.outputs) if model.signature is not None else []
    by_name = {o.name: o for o in outs}
    label = model.meta.extra.get("label_output") or (outs[0].name if outs else "predictions")
    first = by_name.get(label) or ColumnSpec(label, "float64", (-1,))
    if not model.has_proba:
        return first, None
    rest = [o for o in outs if o.name != label]
    name = model.meta.extra.get("proba_output") or (rest[0].name if rest else "probabilities")
    width = len(model.meta.classes) if model.meta.classes else -1
    return first, by_name.get(name) or ColumnSpec(name, "float64", (-1, width))
