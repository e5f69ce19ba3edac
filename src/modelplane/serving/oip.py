"""Open Inference Protocol v2 (KServe / Triton REST): request and response translation.

Pure functions, no I/O. An inference request is JSON::

    {"id": "...", "parameters": {...},
     "inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP32", "data": [...]}],
     "outputs": [{"name": "label", "parameters": {"binary_data": true}}]}

``data`` is row-major, flat or nested. The binary tensor data extension is implemented
both ways: with the ``Inference-Header-Content-Length: N`` header, the first ``N`` bytes
are the JSON header and the rest holds the tensors whose ``parameters.binary_data_size``
is set, back to back, little-endian (``BYTES`` elements as a 4-byte length then the
bytes). Outputs are sent binary when the requested output says ``binary_data: true`` or
the request parameter ``binary_data_output`` is true.

Mapping onto a model's signature: inputs are matched by name. A model whose signature is
named scalar columns takes each column as a ``[B]`` or ``[B, 1]`` tensor, or all of them
as one ``[B, n]`` tensor in signature order. Every problem is an :class:`OipError`
whose message names the input and says what was expected; the server answers it as
``{"error": "..."}`` with its status.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelplane.flavors.signature import ColumnSpec, Signature
from modelplane.serving.jsonio import JSONDecodeError, dumps, loads

__all__ = [
    "InferRequest",
    "OipError",
    "Tensor",
    "check_outputs",
    "datatype_of",
    "encode_response",
    "model_input",
    "parse_request",
    "tensor_metadata",
]

_DTYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype("?"), "UINT8": np.dtype("<u1"), "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"), "UINT64": np.dtype("<u8"), "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"), "INT32": np.dtype("<i4"), "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"), "FP32": np.dtype("<f4"), "FP64": np.dtype("<f8"),
    "BYTES": np.dtype(object),
}
_BY_KIND = {"BOOL": "b", "UINT": "iu", "INT": "iu", "FP": "iuf"}
_SIGNATURE_TYPES = {"bool": "BOOL", "string": "BYTES", "float16": "FP16", "float32": "FP32",
                    "float64": "FP64"}


class OipError(Exception):
    """A request the protocol rejects: answered as ``{"error": message}`` with ``status``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass
class Tensor:
    name: str
    datatype: str
    shape: tuple[int, ...]
    data: np.ndarray[Any, Any]


@dataclass
class InferRequest:
    inputs: list[Tensor]
    id: str | None = None
    outputs: list[tuple[str, bool | None]] | None = None  # (name, binary_data or None)
    binary_output: bool = False
    parameters: dict[str, Any] = field(default_factory=dict)

    def wants_binary(self, name: str) -> bool:
        for wanted, binary in self.outputs or ():
            if wanted == name and binary is not None:
                return binary
        return self.binary_output


def datatype_of(dtype: np.dtype[Any]) -> str:
    """The OIP datatype that carries a numpy dtype (text and objects are BYTES)."""
    kind, size = dtype.kind, dtype.itemsize
    if kind == "b":
        return "BOOL"
    if kind in "iu":
        return f"{'INT' if kind == 'i' else 'UINT'}{size * 8}"
    if kind == "f" and size in (2, 4, 8):
        return f"FP{size * 8}"
    return "BYTES"


def signature_datatype(dtype: str) -> str:
    if dtype in _SIGNATURE_TYPES:
        return _SIGNATURE_TYPES[dtype]
    try:
        return datatype_of(np.dtype(dtype))
    except TypeError:
        return "BYTES"


def tensor_metadata(spec: ColumnSpec) -> dict[str, Any]:
    shape = list(spec.shape) if spec.shape is not None else [-1]
    return {"name": spec.name, "datatype": signature_datatype(spec.dtype), "shape": shape}


# -- requests ---------------------------------------------------------------------------
def _shape(name: str, raw: Any) -> tuple[int, ...]:
    if not isinstance(raw, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in raw
    ):
        raise OipError(f"input {name!r}: 'shape' must be a list of non-negative integers, "
                       f"got {raw!r}")
    return tuple(raw)


def _from_json(name: str, datatype: str, shape: tuple[int, ...], data: Any) -> np.ndarray:
    dtype = _DTYPES[datatype]
    if datatype == "BYTES":
        flat = np.asarray(data, dtype=object).reshape(-1)
        if not all(isinstance(v, str) for v in flat):
            raise OipError(f"input {name!r}: BYTES data must be strings")
        array = flat
    else:
        try:
            array = np.asarray(data)
        except ValueError as exc:
            raise OipError(f"input {name!r}: 'data' is ragged or mixed ({exc})") from None
        group = next(v for k, v in _BY_KIND.items() if datatype.startswith(k))
        if array.size and array.dtype.kind not in group:
            kinds = {"U": "text", "S": "text", "O": "null or mixed", "b": "boolean"}
            got = kinds.get(array.dtype.kind, array.dtype.name)
            raise OipError(f"input {name!r}: expected {datatype} data, got {got} values")
        array = array.astype(dtype, copy=False).reshape(-1)
    expected = int(np.prod(shape)) if shape else 1
    if array.size != expected:
        raise OipError(f"input {name!r}: shape {list(shape)} needs {expected} values, "
                       f"got {array.size}")
    return array.reshape(shape)


def _bytes_elements(name: str, raw: memoryview, count: int) -> np.ndarray:
    out = np.empty(count, dtype=object)
    offset = 0
    for i in range(count):
        if offset + 4 > len(raw):
            raise OipError(f"input {name!r}: binary BYTES data ends inside element {i}")
        (length,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        if offset + length > len(raw):
            raise OipError(f"input {name!r}: binary BYTES element {i} is cut short")
        out[i] = bytes(raw[offset:offset + length]).decode("utf-8", "replace")
        offset += length
    if offset != len(raw):
        raise OipError(f"input {name!r}: {len(raw) - offset} bytes left after {count} "
                       "BYTES elements")
    return out


def _from_binary(name: str, datatype: str, shape: tuple[int, ...], raw: memoryview
                 ) -> np.ndarray:
    count = int(np.prod(shape)) if shape else 1
    if datatype == "BYTES":
        return _bytes_elements(name, raw, count).reshape(shape)
    dtype = _DTYPES[datatype]
    if len(raw) != count * dtype.itemsize:
        raise OipError(f"input {name!r}: shape {list(shape)} of {datatype} needs "
                       f"{count * dtype.itemsize} bytes of binary data, got {len(raw)}")
    return np.frombuffer(raw, dtype=dtype).reshape(shape)


def _header(body: bytes, header_length: int | None) -> tuple[Any, memoryview]:
    view = memoryview(body)
    if header_length is not None:
        if not 0 < header_length <= len(body):
            raise OipError(f"Inference-Header-Content-Length is {header_length}, but the body "
                           f"has {len(body)} bytes")
        head, rest = view[:header_length], view[header_length:]
    else:
        head, rest = view, view[len(body):]
    try:
        return loads(head), rest
    except (JSONDecodeError, UnicodeDecodeError) as exc:
        raise OipError(f"the request body is not valid JSON: {exc}") from None


def _tensor(raw: Any, binary: memoryview, offset: int) -> tuple[Tensor, int]:
    if not isinstance(raw, dict):
        raise OipError("each entry of 'inputs' must be an object with name, shape, datatype")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise OipError("an input has no 'name'")
    datatype = raw.get("datatype")
    if datatype not in _DTYPES:
        raise OipError(f"input {name!r}: unsupported datatype {datatype!r}; expected one of "
                       f"{', '.join(_DTYPES)}")
    shape = _shape(name, raw.get("shape"))
    params = raw.get("parameters") or {}
    size = params.get("binary_data_size") if isinstance(params, dict) else None
    if size is None:
        if "data" not in raw:
            raise OipError(f"input {name!r} has no 'data' (and no binary_data_size)")
        return Tensor(name, datatype, shape, _from_json(name, datatype, shape, raw["data"])), 0
    if not isinstance(size, int) or size < 0 or offset + size > len(binary):
        raise OipError(f"input {name!r}: binary_data_size {size!r} does not fit the "
                       f"{len(binary) - offset} bytes of binary data left")
    chunk = binary[offset:offset + size]
    return Tensor(name, datatype, shape, _from_binary(name, datatype, shape, chunk)), size


def parse_request(body: bytes, header_length: int | None = None) -> InferRequest:
    """Parse an inference request (JSON, or JSON header plus binary tensors)."""
    head, binary = _header(body, header_length)
    if not isinstance(head, dict):
        raise OipError("the request must be a JSON object with 'inputs'")
    raw_inputs = head.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise OipError("'inputs' must be a non-empty list of tensors")
    inputs, offset = [], 0
    for raw in raw_inputs:
        tensor, used = _tensor(raw, binary, offset)
        inputs.append(tensor)
        offset += used
    if offset != len(binary):
        raise OipError(f"{len(binary) - offset} bytes of binary data are not claimed by any "
                       "input's binary_data_size")
    params = head.get("parameters") or {}
    if not isinstance(params, dict):
        raise OipError("'parameters' must be an object")
    outputs = None
    if head.get("outputs") is not None:
        if not isinstance(head["outputs"], list):
            raise OipError("'outputs' must be a list of {\"name\": ...} objects")
        outputs = []
        for item in head["outputs"]:
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise OipError("each requested output needs a 'name'")
            out_params = item.get("parameters") or {}
            binary_flag = out_params.get("binary_data") if isinstance(out_params, dict) else None
            outputs.append((item["name"], None if binary_flag is None else bool(binary_flag)))
    request_id = head.get("id")
    return InferRequest(inputs=inputs, id=None if request_id is None else str(request_id),
                        outputs=outputs, binary_output=bool(params.get("binary_data_output")),
                        parameters=params)


def _column(tensor: Tensor, spec: ColumnSpec) -> np.ndarray:
    data = tensor.data
    if data.ndim == 2 and data.shape[1] == 1:
        return data.reshape(-1)
    if data.ndim != 1:
        raise OipError(f"input {spec.name!r}: expected shape [-1] or [-1, 1] (one "
                       f"{spec.dtype} per row), got {list(data.shape)}")
    return data


def model_input(inputs: list[Tensor], signature: Signature | None) -> Any:
    """What ``LoadedModel.prepare`` takes for these tensors (see the module docstring)."""
    by_name = {t.name: t for t in inputs}
    if len(by_name) != len(inputs):
        raise OipError("two inputs have the same name")
    if signature is None or not signature.inputs:
        return inputs[0].data if len(inputs) == 1 else {t.name: t.data for t in inputs}
    names = signature.input_names
    unknown = [n for n in by_name if n not in names]
    if not unknown:
        missing = [n for n in names if n not in by_name]
        if missing:
            raise OipError(f"input {missing[0]!r} is missing; the model expects "
                           f"{_listing(names)}")
        if signature.is_tensor and len(names) == 1:
            return by_name[names[0]].data
        return {s.name: by_name[s.name].data if s.shape is not None
                else _column(by_name[s.name], s) for s in signature.inputs}
    only = inputs[0].data if len(inputs) == 1 else None
    if (only is not None and not signature.is_tensor and only.ndim == 2
            and only.shape[1] == len(names)):
        return only  # one [B, n] tensor: the columns in signature order
    raise OipError(f"unknown input {unknown[0]!r}; the model expects {_listing(names)}"
                   + ("" if signature.is_tensor else
                      f", or one [-1, {len(names)}] tensor with them in that order"))


def _listing(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:8])
    return f"inputs {shown}{', ...' if len(names) > 8 else ''} ({len(names)} in all)"


# -- responses --------------------------------------------------------------------------
def _serialize_bytes(array: np.ndarray) -> bytes:
    parts = []
    for value in array.reshape(-1):
        raw = value if isinstance(value, bytes) else str(value).encode()
        parts.append(struct.pack("<I", len(raw)))
        parts.append(raw)
    return b"".join(parts)


def encode_response(model_name: str, model_version: str, outputs: list[tuple[str, Any]],
                    request: InferRequest) -> tuple[bytes, int | None]:
    """The response body and, when any output is binary, the JSON header's length."""
    available = [name for name, _ in outputs]
    if request.outputs is not None:
        wanted = [name for name, _ in request.outputs]
        for name in wanted:
            if name not in available:
                raise OipError(f"unknown output {name!r}; the model has outputs "
                               f"{', '.join(repr(a) for a in available)}")
        outputs = [(n, v) for n, v in outputs if n in wanted]
    described, buffers = [], []
    for name, value in outputs:
        array = value if isinstance(value, np.ndarray) else np.asarray(value)
        datatype = datatype_of(array.dtype)
        entry: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(array.shape)}
        if request.wants_binary(name):
            if datatype == "BYTES":
                raw = _serialize_bytes(array)
            else:
                raw = np.ascontiguousarray(array, dtype=_DTYPES[datatype]).tobytes()
            entry["parameters"] = {"binary_data_size": len(raw)}
            buffers.append(raw)
        elif datatype == "BYTES":
            entry["data"] = [v if isinstance(v, str) else str(v) for v in array.reshape(-1)]
        else:
            entry["data"] = np.ascontiguousarray(array).reshape(-1)
        described.append(entry)
    head: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
    if request.id is not None:
        head["id"] = request.id
    head["outputs"] = described
    header = dumps(head)
    if not buffers:
        return header, None
    return header + b"".join(buffers), len(header)


def check_outputs(request: InferRequest, names: list[str]) -> None:
    """Refuse a request asking for an output the model does not have."""
    if request.outputs is None:
        return
    for name, _ in request.outputs:
        if name not in names:
            raise OipError(f"unknown output {name!r}; the model has outputs "
                           f"{', '.join(repr(n) for n in names)}")
