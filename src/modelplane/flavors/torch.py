"""The PyTorch flavor: TorchScript modules (``model.pt``).

Saving takes a ``torch.jit.ScriptModule`` as is, or an ``nn.Module``, which is scripted,
or traced with the input example when scripting fails (traced in eval mode; the
module's train/eval mode is restored afterwards). TorchScript is deprecated upstream in
favour of ``torch.export``; it is still the one format that loads without the model's
Python code (and without unpickling arbitrary objects). Its deprecation warnings are left
alone: changing the process-wide warnings filter is not thread-safe, and Python hides
deprecation warnings raised inside libraries by default.

Loading maps to CPU; with ``device="cuda"`` (load option) or
``MODELPLANE_TORCH_DEVICE=cuda`` the module moves to the GPU. The save option
``autocast="bf16"`` (kept in ``meta.extra``) runs predictions under bfloat16 autocast,
on CUDA only; on CPU it is ignored. Predictions run under ``torch.inference_mode()``
and come back as numpy arrays (float32 for half-precision outputs). A model returning a
tuple, list or dict yields its first element.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from modelplane.core.errors import ConfigurationError, InvalidArgumentError
from modelplane.flavors.base import LoadedModel, ModelMeta, check_options, example_to_json
from modelplane.flavors.signature import infer_signature

__all__ = ["NAME", "accepts", "load", "save"]

NAME = "torch"
MODEL_FILE = "model.pt"
DEVICE_ENV = "MODELPLANE_TORCH_DEVICE"
_AUTOCAST = {None, "bf16"}


def accepts(model: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(model, torch.nn.Module)


def _example_tensors(input_example: Any) -> tuple[Any, ...]:
    import numpy as np
    import torch

    if input_example is None:
        return ()
    if isinstance(input_example, dict):  # several named inputs, in order
        return tuple(torch.as_tensor(np.asarray(v)) for v in input_example.values())
    if isinstance(input_example, torch.Tensor):
        return (input_example,)
    return (torch.as_tensor(np.asarray(input_example)),)


def _to_script(model: Any, example: tuple[Any, ...]) -> tuple[Any, bool]:
    import torch

    if isinstance(model, torch.jit.ScriptModule):
        return model, False
    was_training = model.training
    model.eval()
    try:
        try:
            return torch.jit.script(model), False
        except Exception as exc:
            if not example:
                raise InvalidArgumentError(
                    f"cannot script {type(model).__name__} ({exc}); pass input_example"
                    " so it can be traced",
                    details={"field": "input_example", "got": None},
                ) from exc
            with torch.no_grad():
                return torch.jit.trace(model, example), True
    finally:
        model.train(was_training)


def save(model: Any, path: Path, input_example: Any, options: Mapping[str, Any]) -> ModelMeta:
    import torch

    check_options(NAME, options, {"autocast"})
    autocast = _autocast(options.get("autocast"))
    example = _example_tensors(input_example)
    scripted, traced = _to_script(model, example)
    torch.jit.save(scripted, str(path / MODEL_FILE))
    signature = None
    if example:
        with torch.inference_mode():
            output = _first(scripted.eval()(*example))
        signature = infer_signature(input_example, output)
    example_json, kind = example_to_json(input_example)
    return ModelMeta(
        flavor=NAME,
        signature=signature,
        input_example=example_json,
        extra={"autocast": autocast, "traced": traced, "input_kind": kind},
        library_version=torch.__version__,
    )


def _autocast(value: Any) -> str | None:
    if value not in _AUTOCAST:
        raise InvalidArgumentError(
            f"autocast must be 'bf16' or None, got {value!r}",
            details={"field": "autocast", "expected": ["bf16", None], "got": value},
        )
    return value  # type: ignore[no-any-return]


def _first(output: Any) -> Any:
    if isinstance(output, tuple | list):
        return _first(output[0])
    if isinstance(output, dict):
        return _first(next(iter(output.values())))
    return output


def _device(options: Mapping[str, Any]) -> str:
    import torch

    explicit = options.get("device")
    device = str(explicit or os.environ.get(DEVICE_ENV) or "cpu")
    if device != "cpu" and not device.startswith("cuda"):
        field = "device" if explicit else DEVICE_ENV
        raise InvalidArgumentError(
            f"{field} must be 'cpu' or 'cuda[:N]', got {device!r}",
            details={"field": field, "expected": ["cpu", "cuda"], "got": device},
        )
    if device.startswith("cuda") and not torch.cuda.is_available():
        message = f"device {device!r} requested but CUDA is not available"
        if explicit:
            raise InvalidArgumentError(message, details={"field": "device", "got": device})
        raise ConfigurationError(message, details={"field": DEVICE_ENV, "got": device})
    return device


def _predictor(module: Any, device: str, autocast: str | None) -> Callable[[Any], Any]:
    import numpy as np
    import torch

    use_cuda = device.startswith("cuda")
    bf16 = use_cuda and autocast == "bf16"

    def to_tensor(value: Any) -> Any:
        if not isinstance(value, torch.Tensor):
            value = np.asarray(value)
            if not value.flags.writeable:
                value = value.copy()
            value = torch.from_numpy(value)
        return value.to(device, non_blocking=True) if use_cuda else value

    def predict(data: Any) -> Any:
        inputs = (
            [to_tensor(v) for v in data.values()] if isinstance(data, dict) else [to_tensor(data)]
        )
        with torch.inference_mode():
            if bf16:
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    output = _first(module(*inputs))
            else:
                output = _first(module(*inputs))
            if output.dtype in (torch.bfloat16, torch.float16):
                output = output.float()
            return output.cpu().numpy()

    return predict


def load(
    path: Path, meta: ModelMeta, options: Mapping[str, Any], allow_pickle: bool = False
) -> LoadedModel:
    import torch

    from modelplane.flavors.inputs import InputAdapter

    check_options(NAME, options, {"device", "autocast"})
    device = _device(options)
    module = torch.jit.load(str(path / MODEL_FILE), map_location="cpu")
    module.eval()
    if device != "cpu":
        module.to(device)
    autocast = _autocast(options.get("autocast", meta.extra.get("autocast")))
    signature = meta.signature
    # several named tensors go in as model(*tensors); named columns are stacked into one
    several = signature is not None and signature.is_tensor and len(signature.inputs) > 1
    adapter = InputAdapter(signature, "columns" if several else "ndarray")
    return LoadedModel(meta, module, adapter, _predictor(module, device, autocast))
