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
as one ``[B, n]`` tensor in signature order; a tensor input must have the declared rank
and fixed dimensions. Every problem is an :class:`OipError` whose message names the
input and says what was expected; the server answers it as ``{"error": "..."}`` with
its status.

Datatypes are strict, as Triton is: a tensor's ``datatype`` must be the one the model's
metadata advertises for that input, or a safe widening that loses nothing (:data:`WIDENS`:
FP16 -> FP32 -> FP64; a narrower INT or UINT -> a wider INT, a UINT -> a wider UINT; an
integer of up to 16 bits -> FP32 and up to 32 bits -> FP64). A value out of range for
the tensor's datatype (an INT8 of 300, an FP32 of 1e39) or not finite is refused naming
the input, never wrapped or passed on as infinity. A request ``id`` comes back as sent.

Speed: named ``[B]`` float tensors with plain JSON numbers (what Triton-style clients
send to a model whose example was a DataFrame) are kept as the parsed lists and stacked
into one array by a single numpy call in :func:`model_input`, instead of one array per
column.
"""

from __future__ import annotations

import math
import struct
from itertools import chain
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
    "request_input",
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
_FLOATS = ("FP16", "FP32", "FP64")
_NUMBER = (float, int)
_NUMBER_SET = frozenset(_NUMBER)
_FLOAT_SET = frozenset(_FLOATS)
_FP16_MAX = 65504.0  # JSON numbers (bool is not one: ``type(v) in _NUMBER``)


def _widens() -> dict[str, frozenset[str]]:
    bits = {"INT": (8, 16, 32, 64), "UINT": (8, 16, 32, 64), "FP": (16, 32, 64)}
    out: dict[str, set[str]] = {t: {t} for t in ("BOOL", "BYTES")}
    for kind, sizes in bits.items():
        for n in sizes:
            out[f"{kind}{n}"] = {f"{kind}{m}" for m in sizes if m >= n}
    for n in bits["UINT"]:
        out[f"UINT{n}"] |= {f"INT{m}" for m in bits["INT"] if m > n}
    for kind in ("INT", "UINT"):
        for n in (8, 16, 32):
            out[f"{kind}{n}"] |= {"FP64"} | ({"FP32"} if n <= 16 else set())
    out["INT8"] |= {"FP16"}
    out["UINT8"] |= {"FP16"}
    return {k: frozenset(v) for k, v in out.items()}


#: For each datatype a request may send, the declared datatypes it is accepted for.
WIDENS = _widens()
_SIGNATURE_TYPES = {"bool": "BOOL", "string": "BYTES", "float16": "FP16", "float32": "FP32",
                    "float64": "FP64"}


class OipError(Exception):
    """A request the protocol rejects: answered as ``{"error": message}`` with ``status``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class Tensor:
    """One input tensor. ``raw`` is the parsed JSON list of a ``[B]`` / ``[B, 1]`` float
    tensor of plain numbers, converted only when ``data`` is read (see the module
    docstring); otherwise ``data`` is set at parse time."""

    __slots__ = ("_data", "datatype", "name", "raw", "shape")

    def __init__(self, name: str, datatype: str, shape: tuple[int, ...],
                 data: np.ndarray[Any, Any] | None = None, raw: list[Any] | None = None
                 ) -> None:
        self.name, self.datatype, self.shape = name, datatype, shape
        self._data, self.raw = data, raw

    @property
    def data(self) -> np.ndarray[Any, Any]:
        if self._data is None:
            self._data = _from_json(self.name, self.datatype, self.shape, self.raw)
        return self._data


class InferRequest:
    """A parsed inference request. ``plain`` holds the common case's inputs as
    ``(name, datatype, values)`` (see :func:`_plain_inputs`); ``inputs`` are the tensors,
    built from ``plain`` when first read."""

    __slots__ = ("_inputs", "binary_output", "id", "outputs", "parameters", "plain")

    def __init__(self, inputs: list[Tensor] | None = None, id: str | int | float | None = None,
                 outputs: list[tuple[str, bool | None]] | None = None,
                 binary_output: bool = False, parameters: dict[str, Any] | None = None,
                 plain: Plain | None = None) -> None:
        self._inputs, self.plain, self.id = inputs, plain, id
        self.outputs = outputs  # (name, binary_data or None)
        self.binary_output = binary_output
        self.parameters = parameters or {}

    @property
    def inputs(self) -> list[Tensor]:
        if self._inputs is None:
            self._inputs = [Tensor(n, d, (len(v),), None, v)
                            for n, d, v in zip(*self.plain, strict=True)] if self.plain else []
        return self._inputs

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
            if array.dtype.kind == "f" and datatype[0] in "IU" and _whole(array):
                got = "integers out of range"  # JSON integers too big for int64 parse as floats
            raise OipError(f"input {name!r}: expected {datatype} data, got {got} values")
        if array.dtype != dtype:  # JSON gives int64 or float64: those fit as they are
            _in_range(name, datatype, array)
        array = array.astype(dtype, copy=False).reshape(-1)
    expected = math.prod(shape)
    if array.size != expected:
        raise OipError(f"input {name!r}: shape {list(shape)} needs {expected} values, "
                       f"got {array.size}")
    return array.reshape(shape)


def _whole(array: np.ndarray) -> bool:
    finite = array[np.isfinite(array)]
    return bool(finite.size) and bool((finite == np.round(finite)).all())


def _in_range(name: str, datatype: str, array: np.ndarray) -> None:
    """Refuse values the datatype cannot hold (never wrap them) and non-finite floats."""
    if not array.size or datatype in ("BOOL", "BYTES"):
        return
    if datatype in _FLOATS:
        limit = float(np.finfo(_DTYPES[datatype]).max)
        values = array.astype(np.float64, copy=False)
        bad = ~np.isfinite(values) | (np.abs(values) > limit)
    else:
        info = np.iinfo(_DTYPES[datatype])
        bad = (array < info.min) | (array > info.max)
    if bad.any():
        value = array.reshape(-1)[int(np.argmax(bad.reshape(-1)))]
        raise OipError(f"input {name!r}: value {value.item()!r} is out of range for "
                       f"{datatype}")


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
    count = math.prod(shape)
    if datatype == "BYTES":
        return _bytes_elements(name, raw, count).reshape(shape)
    dtype = _DTYPES[datatype]
    if len(raw) != count * dtype.itemsize:
        raise OipError(f"input {name!r}: shape {list(shape)} of {datatype} needs "
                       f"{count * dtype.itemsize} bytes of binary data, got {len(raw)}")
    array = np.frombuffer(raw, dtype=dtype).reshape(shape)
    if datatype in _FLOATS:
        _in_range(name, datatype, array)  # infinity is no model's input
    return array


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
        data = raw["data"]
        if (datatype in _FLOATS and type(data) is list and len(shape) in (1, 2)
                and (len(shape) == 1 or shape[1] == 1) and len(data) == shape[0]
                and all(type(v) in _NUMBER for v in data)):
            return Tensor(name, datatype, shape, raw=data), 0  # stacked in model_input
        return Tensor(name, datatype, shape, _from_json(name, datatype, shape, data)), 0
    if not isinstance(size, int) or size < 0 or offset + size > len(binary):
        raise OipError(f"input {name!r}: binary_data_size {size!r} does not fit the "
                       f"{len(binary) - offset} bytes of binary data left")
    chunk = binary[offset:offset + size]
    return Tensor(name, datatype, shape, _from_binary(name, datatype, shape, chunk)), size


Plain = tuple[list[str], list[str], list[list[Any]]]  # names, datatypes, values


def _plain_inputs(raw_inputs: list[Any]) -> Plain | None:
    """The common case in one tight loop: every input a JSON ``[B]`` float tensor with
    a flat list of ``B`` numbers and no parameters, kept as parsed (:func:`request_input`
    stacks them and checks their range). None: parse each input the general way."""
    names, datatypes, values = [], [], []
    floats = _FLOAT_SET
    try:
        for raw in raw_inputs:
            if type(raw) is not dict or len(raw) != 4:
                return None
            name, datatype, shape, data = raw["name"], raw["datatype"], raw["shape"], raw["data"]
            if (type(name) is not str or datatype not in floats or type(shape) is not list
                    or type(data) is not list or len(shape) != 1
                    or type(shape[0]) is not int or shape[0] != len(data) or not name):
                return None
            names.append(name)
            datatypes.append(datatype)
            values.append(data)
    except (KeyError, TypeError):
        return None
    if not set(map(type, chain.from_iterable(values))) <= _NUMBER_SET:
        return None  # booleans, text, nulls, nesting: parsed (and refused) per input
    return names, datatypes, values


def parse_request(body: bytes, header_length: int | None = None) -> InferRequest:
    """Parse an inference request (JSON, or JSON header plus binary tensors)."""
    head, binary = _header(body, header_length)
    if not isinstance(head, dict):
        raise OipError("the request must be a JSON object with 'inputs'")
    raw_inputs = head.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise OipError("'inputs' must be a non-empty list of tensors")
    plain = _plain_inputs(raw_inputs) if not binary else None
    offset = 0
    inputs: list[Tensor] | None = None
    if plain is None:
        inputs = []
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
    if request_id is not None and (type(request_id) not in (str, int, float)):
        raise OipError(f"'id' must be a string or a number, got {type(request_id).__name__}")
    return InferRequest(inputs=inputs, plain=plain, id=request_id,
                        outputs=outputs, binary_output=bool(params.get("binary_data_output")),
                        parameters=params)


def _column(tensor: Tensor, spec: ColumnSpec) -> np.ndarray:
    shape = tensor.shape
    if len(shape) == 2 and shape[1] == 1:
        return tensor.data.reshape(-1)
    if len(shape) != 1:
        raise OipError(f"input {spec.name!r}: expected shape [-1] or [-1, 1] (one "
                       f"{spec.dtype} per row), got {list(shape)}")
    return tensor.data


def _check_datatype(tensor: Tensor, spec: ColumnSpec) -> None:
    declared = signature_datatype(spec.dtype)
    if declared not in WIDENS[tensor.datatype]:
        raise OipError(f"input {tensor.name!r}: datatype {tensor.datatype} does not match "
                       f"the model's {declared} for {spec.name!r} (see /v2/models/NAME)")


def _check_shape(tensor: Tensor, spec: ColumnSpec) -> None:
    declared = list(spec.shape or ())
    got = list(tensor.shape)
    if len(got) == len(declared) - 1:
        got = [1, *got]  # one example without the batch dimension
    if len(got) != len(declared) or any(d not in (-1, g) for d, g in zip(
            declared, got, strict=True)):
        raise OipError(f"input {tensor.name!r}: expected shape {declared} (-1 is any size), "
                       f"got {list(tensor.shape)}")


def _rows(columns: list[Tensor]) -> None:
    sizes = {t.shape[0] for t in columns if t.shape}
    if len(sizes) > 1:
        raise OipError("the inputs have different batch sizes: " + ", ".join(
            f"{t.name!r} {t.shape[0]}" for t in columns[:8] if t.shape))


class _Plan:
    """What :func:`model_input` needs of a signature, worked out once per model."""

    __slots__ = ("all_accept", "dtype", "index", "n", "name_set", "names", "plain",
                 "signature")

    def __init__(self, signature: Signature) -> None:
        specs = signature.inputs
        self.signature, self.n = signature, len(specs)
        self.index = {s.name: i for i, s in enumerate(specs)}
        self.names = [s.name for s in specs]
        self.name_set = set(self.names)
        declared = {signature_datatype(s.dtype) for s in specs}
        self.all_accept = frozenset(t for t, wider in WIDENS.items() if declared <= wider)
        # all scalar float columns: raw float tensors are stacked into one array
        self.plain: frozenset[str] = frozenset()
        if specs and all(s.shape is None for s in specs) and declared <= {"FP32", "FP64"}:
            self.plain = frozenset(t for t in _FLOATS if declared <= WIDENS[t])
        self.dtype = np.float32 if declared == {"FP32"} else np.float64


_PLANS: dict[int, _Plan] = {}


def _plan(signature: Signature) -> _Plan:
    plan = _PLANS.get(id(signature))
    if plan is None or plan.signature is not signature:
        if len(_PLANS) > 256:
            _PLANS.clear()
        plan = _PLANS[id(signature)] = _Plan(signature)
    return plan


def _plain_columns(plain: Plain, plan: _Plan) -> np.ndarray | None:
    """One ``[B, n]`` array for plain float inputs (checked by :func:`_plain_inputs`)
    naming every column once; None: the general path (which also finds what is wrong)."""
    names, datatypes, values = plain
    if len(names) != plan.n or not plan.plain or not set(datatypes) <= plan.plain:
        return None
    if names != plan.names:  # not in signature order
        index = plan.index
        if set(names) != plan.name_set:
            return None
        rows: list[Any] = [None] * plan.n
        for name, column in zip(names, values, strict=True):
            rows[index[name]] = column
        values = rows
    try:
        matrix = np.array(values, dtype=np.float64)
    except ValueError:
        return None  # different batch sizes: the general path names them
    # JSON numbers are finite doubles (orjson refuses 1e400): only FP16/FP32 can overflow
    if (matrix.size and datatypes.count("FP64") != len(datatypes)
            and not float(np.abs(matrix).max()) <= _FP16_MAX):
        for name, datatype, column in zip(*plain, strict=True):  # name input and value
            _in_range(name, datatype, np.asarray(column, dtype=np.float64))
    return np.ascontiguousarray(matrix.T, dtype=plan.dtype)


def request_input(request: InferRequest, signature: Signature | None) -> Any:
    """What ``LoadedModel.prepare`` takes for this request's inputs: plain float inputs
    stacked in one call where the signature allows, else :func:`model_input`."""
    if request.plain is not None and signature is not None:
        fast = _plain_columns(request.plain, _plan(signature))
        if fast is not None:
            return fast
    return model_input(request.inputs, signature)


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
        specs = signature.inputs
        columns = [by_name[s.name] for s in specs]
        for tensor, spec in zip(columns, specs, strict=True):
            _check_datatype(tensor, spec)
            if spec.shape is not None:
                _check_shape(tensor, spec)
        if signature.is_tensor and len(names) == 1:
            return columns[0].data
        scalars = [t for t, s in zip(columns, specs, strict=True) if s.shape is None]
        _rows(scalars)
        return {s.name: t.data if s.shape is not None else _column(t, s)
                for t, s in zip(columns, specs, strict=True)}
    only = inputs[0] if len(inputs) == 1 else None
    if (only is not None and not signature.is_tensor and len(only.shape) == 2
            and only.shape[1] == len(names)):
        if only.datatype not in _plan(signature).all_accept:  # name the first column refusing
            for spec in signature.inputs:  # one [B, n] tensor: the columns in signature order
                _check_datatype(only, spec)
        return only.data
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
