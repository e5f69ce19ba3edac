"""The TorchScript flavor on CPU (the CUDA path needs a GPU and is not exercised here)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelplane.core.errors import ConfigurationError, InvalidArgumentError
from modelplane.flavors import ColumnSpec, load_model, save_model

torch = pytest.importorskip("torch")


def _net() -> Any:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Dropout(0.5), torch.nn.Linear(8, 2)
    )


def test_module_is_scripted_and_round_trips(tmp_path: Path) -> None:
    net = _net()  # in train mode: saving must use eval mode and leave it as it was
    example = torch.randn(4, 6)
    meta = save_model(net, tmp_path / "m", input_example=example, autocast="bf16")
    assert net.training
    assert (meta.flavor, meta.extra["traced"], meta.extra["autocast"]) == ("torch", False, "bf16")
    assert meta.signature is not None
    assert meta.signature.inputs == [ColumnSpec("input", "float32", (-1, 6))]
    assert meta.signature.outputs == [ColumnSpec("output", "float32", (-1, 2))]
    model = load_model(tmp_path / "m")  # bf16 autocast is CUDA-only: ignored on CPU
    with torch.no_grad():
        expected = net.eval()(example).numpy()
    np.testing.assert_allclose(model.predict(example.numpy()), expected, rtol=1e-5, atol=1e-6)
    as_double = example.numpy().astype(np.float64).tolist()
    np.testing.assert_allclose(model.predict(as_double), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict(example), expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(InvalidArgumentError) as info:
        model.predict(np.zeros((2, 5), dtype=np.float32))
    assert info.value.details == {"field": "input", "expected": [-1, 6], "got": [2, 5]}


class _Unscriptable(torch.nn.Module):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(3, 1)

    def forward(self, x: Any) -> Any:
        return self.linear(x) * len(list(self.children()))  # dynamic Python: not scriptable


def test_unscriptable_module_is_traced(tmp_path: Path) -> None:
    module = _Unscriptable()
    example = torch.randn(2, 3)
    meta = save_model(module, tmp_path / "m", input_example=example)
    assert meta.extra["traced"] is True
    model = load_model(tmp_path / "m")
    with torch.no_grad():
        expected = module(example).numpy()
    np.testing.assert_allclose(model.predict(example.numpy()), expected, rtol=1e-6)
    with pytest.raises(InvalidArgumentError) as info:
        save_model(module, tmp_path / "n")
    assert info.value.details["field"] == "input_example"


def test_script_module_without_example(tmp_path: Path) -> None:
    with warnings.catch_warnings():  # TorchScript is deprecated upstream
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(_net().eval())
    meta = save_model(scripted, tmp_path / "m")
    assert meta.extra["traced"] is False
    model = load_model(tmp_path / "m", device="cpu")
    assert model.signature is None
    assert model.predict(np.zeros((3, 6), dtype=np.float32)).shape == (3, 2)


def test_device_and_option_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save_model(_net(), tmp_path / "m", input_example=torch.randn(2, 6))
    with pytest.raises(InvalidArgumentError) as info:
        load_model(tmp_path / "m", device="tpu")
    assert info.value.details["field"] == "device"
    if not torch.cuda.is_available():
        with pytest.raises(InvalidArgumentError):
            load_model(tmp_path / "m", device="cuda")
        monkeypatch.setenv("MODELPLANE_TORCH_DEVICE", "cuda")
        with pytest.raises(ConfigurationError) as env_info:
            load_model(tmp_path / "m")
        assert env_info.value.details["field"] == "MODELPLANE_TORCH_DEVICE"
    with pytest.raises(InvalidArgumentError):
        save_model(_net(), tmp_path / "n", autocast="fp8")


class _TwoInputs(torch.nn.Module):  # type: ignore[misc]
    def forward(self, a: Any, b: Any) -> Any:
        return (a * b).sum(dim=1)


def test_several_named_inputs(tmp_path: Path) -> None:
    example = {"a": torch.ones(2, 3), "b": torch.full((2, 3), 2.0)}
    meta = save_model(_TwoInputs(), tmp_path / "m", input_example=example)
    assert meta.signature is not None
    assert meta.signature.input_names == ["a", "b"]
    model = load_model(tmp_path / "m")
    out = model.predict({"a": [[1, 2, 3]], "b": [[1, 1, 1]]})
    np.testing.assert_allclose(out, [6.0])
    with pytest.raises(InvalidArgumentError) as info:
        model.predict({"a": [[1, 2, 3]]})
    assert info.value.details["field"] == "b"
