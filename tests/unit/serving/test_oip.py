"""Open Inference Protocol v2 translation: requests, binary tensors, responses."""

from __future__ import annotations

import json
import re
import struct

import numpy as np
import pytest

from modelplane.flavors.signature import ColumnSpec, Signature
from modelplane.serving import oip

COLUMNS = Signature([ColumnSpec("a", "float64"), ColumnSpec("b", "float64")])
TENSOR = Signature([ColumnSpec("input", "float32", (-1, 3))])


def body(inputs: list[dict], **more: object) -> bytes:
    return json.dumps({"inputs": inputs, **more}).encode()


def test_json_tensors_nested_or_flat() -> None:
    flat = oip.parse_request(body([{"name": "input", "shape": [2, 3], "datatype": "FP32",
                                    "data": [1, 2, 3, 4, 5, 6]}]))
    nested = oip.parse_request(body([{"name": "input", "shape": [2, 3], "datatype": "FP32",
                                      "data": [[1, 2, 3], [4, 5, 6]]}], id="r1"))
    for request in (flat, nested):
        tensor = request.inputs[0]
        assert tensor.data.dtype == np.float32 and tensor.data.shape == (2, 3)
    assert nested.id == "r1"
    assert oip.model_input(flat.inputs, TENSOR).shape == (2, 3)


def test_columns_by_name_or_one_stacked_tensor() -> None:
    named = oip.parse_request(body([
        {"name": "b", "shape": [2], "datatype": "FP64", "data": [3, 4]},
        {"name": "a", "shape": [2], "datatype": "FP64", "data": [1, 2]}]))
    data = oip.request_input(named, COLUMNS)  # plain numbers: stacked in one call
    assert data.dtype == np.float64 and data.tolist() == [[1.0, 3.0], [2.0, 4.0]]
    nested = oip.parse_request(body([
        {"name": "b", "shape": [2, 1], "datatype": "FP64", "data": [[3], [4]]},
        {"name": "a", "shape": [2], "datatype": "FP32", "data": [1, 2]}]))
    data = oip.request_input(nested, COLUMNS)  # parsed per column: same values
    assert list(data) == ["a", "b"] and data["b"].tolist() == [3.0, 4.0]
    stacked = oip.parse_request(body([{"name": "x", "shape": [1, 2], "datatype": "FP64",
                                       "data": [1, 2]}]))
    assert oip.model_input(stacked.inputs, COLUMNS).shape == (1, 2)


@pytest.mark.parametrize(("inputs", "message"), [
    ([{"name": "a", "shape": [1], "datatype": "FP64", "data": [1]}],
     "input 'b' is missing"),
    ([{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}],
     "unknown input 'x'"),
    ([{"name": "a", "shape": [1, 2], "datatype": "FP64", "data": [1, 2]},
      {"name": "b", "shape": [1], "datatype": "FP64", "data": [1]}],
     "input 'a': expected shape [-1] or [-1, 1]"),
])
def test_signature_mismatches_name_the_input(inputs: list[dict], message: str) -> None:
    with pytest.raises(oip.OipError, match=message.replace("[", r"\[").replace("]", r"\]")):
        oip.request_input(oip.parse_request(body(inputs)), COLUMNS)


@pytest.mark.parametrize(("raw", "message"), [
    (b"{", "not valid JSON"),
    (b"[]", "JSON object"),
    (body([]), "non-empty list"),
    (body([{"name": "a", "shape": [2], "datatype": "FP64", "data": [1]}]),
     "shape [2] needs 2 values, got 1"),
    (body([{"name": "a", "shape": [1], "datatype": "FP99", "data": [1]}]),
     "unsupported datatype 'FP99'"),
    (body([{"name": "a", "shape": [1], "datatype": "FP64", "data": ["x"]}]),
     "expected FP64 data, got text"),
    (body([{"name": "a", "shape": [1], "datatype": "INT64", "data": [1.5]}]),
     "expected INT64 data, got float64 values"),
    (body([{"name": "a", "shape": [-1], "datatype": "FP64", "data": [1]}]),
     "'shape' must be a list of non-negative integers"),
    (body([{"name": "a", "shape": [1], "datatype": "FP64"}]), "has no 'data'"),
    (body([{"name": "a", "shape": [2], "datatype": "FP64", "data": [[1], [2, 3]]}]),
     "ragged"),
])
def test_bad_requests_are_400_with_a_message(raw: bytes, message: str) -> None:
    with pytest.raises(oip.OipError) as info:
        oip.parse_request(raw)
    assert info.value.status == 400
    assert message in info.value.message


def test_binary_tensor_extension_in_and_out() -> None:
    values = np.arange(6, dtype=np.float32).reshape(2, 3)
    words = [b"hi", b"there"]
    packed = b"".join(struct.pack("<I", len(w)) + w for w in words)
    header = json.dumps({
        "inputs": [
            {"name": "input", "shape": [2, 3], "datatype": "FP32",
             "parameters": {"binary_data_size": values.nbytes}},
            {"name": "s", "shape": [2], "datatype": "BYTES",
             "parameters": {"binary_data_size": len(packed)}}],
        "outputs": [{"name": "label", "parameters": {"binary_data": True}},
                    {"name": "probabilities", "parameters": {"binary_data": False}}],
    }).encode()
    request = oip.parse_request(header + values.tobytes() + packed, len(header))
    assert np.array_equal(request.inputs[0].data, values)
    assert request.inputs[1].data.tolist() == ["hi", "there"]
    labels, proba = np.array([0, 1]), np.array([[0.9, 0.1], [0.2, 0.8]])
    out, length = oip.encode_response("m", "3", [("label", labels), ("probabilities", proba)],
                                      request)
    assert length is not None
    head = json.loads(out[:length])
    assert head["model_name"] == "m" and head["model_version"] == "3"
    label, probabilities = head["outputs"]
    assert label["parameters"]["binary_data_size"] == 16 and "data" not in label
    assert np.array_equal(np.frombuffer(out[length:], dtype="<i8"), labels)
    assert probabilities["data"] == [0.9, 0.1, 0.2, 0.8] and probabilities["shape"] == [2, 2]


@pytest.mark.parametrize(("header_length", "tail", "message"), [
    (10_000, b"", "Inference-Header-Content-Length is 10000"),
    (None, b"", None),
])
def test_binary_framing_errors(header_length: int | None, tail: bytes, message: str | None
                               ) -> None:
    head = json.dumps({"inputs": [{"name": "a", "shape": [1], "datatype": "FP64",
                                   "parameters": {"binary_data_size": 8}}]}).encode()
    with pytest.raises(oip.OipError) as info:
        oip.parse_request(head + tail, header_length)
    assert info.value.status == 400
    if message:
        assert message in info.value.message


def test_unclaimed_or_short_binary_data() -> None:
    head = json.dumps({"inputs": [{"name": "a", "shape": [2], "datatype": "FP64",
                                   "parameters": {"binary_data_size": 16}}]}).encode()
    with pytest.raises(oip.OipError, match="does not fit"):
        oip.parse_request(head + b"\0" * 8, len(head))
    with pytest.raises(oip.OipError, match="not claimed"):
        oip.parse_request(head + b"\0" * 24, len(head))


def test_binary_output_for_every_output_by_request_parameter() -> None:
    request = oip.parse_request(body([{"name": "a", "shape": [1], "datatype": "FP64",
                                       "data": [1]}], parameters={"binary_data_output": True}))
    out, length = oip.encode_response("m", "1", [("label", np.array(["yes"], dtype=object))],
                                      request)
    assert length is not None
    head = json.loads(out[:length])
    assert head["outputs"][0]["datatype"] == "BYTES"
    assert out[length:] == struct.pack("<I", 3) + b"yes"


def test_datatypes_and_metadata() -> None:
    assert oip.datatype_of(np.dtype("int64")) == "INT64"
    assert oip.datatype_of(np.dtype("float32")) == "FP32"
    assert oip.datatype_of(np.dtype(bool)) == "BOOL"
    assert oip.datatype_of(np.dtype(object)) == "BYTES"
    assert oip.tensor_metadata(ColumnSpec("a", "float64")) == {
        "name": "a", "datatype": "FP64", "shape": [-1]}
    assert oip.tensor_metadata(ColumnSpec("t", "string")) == {
        "name": "t", "datatype": "BYTES", "shape": [-1]}
    assert oip.tensor_metadata(ColumnSpec("x", "float32", (-1, 3)))["shape"] == [-1, 3]


INTS = Signature([ColumnSpec("n", "int8"), ColumnSpec("m", "int64")])


@pytest.mark.parametrize(("inputs", "signature", "message"), [
    # the datatype the metadata advertises, or a widening that loses nothing
    ([{"name": "a", "shape": [1], "datatype": "INT64", "data": [1]},
      {"name": "b", "shape": [1], "datatype": "FP64", "data": [1]}], COLUMNS,
     "input 'a': datatype INT64 does not match the model's FP64"),
    ([{"name": "input", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}], TENSOR,
     "input 'input': datatype FP64 does not match the model's FP32"),
    ([{"name": "x", "shape": [1, 2], "datatype": "BYTES", "data": ["1", "2"]}], COLUMNS,
     "input 'x': datatype BYTES does not match the model's FP64"),
    # shapes
    ([{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}], TENSOR,
     "input 'input': expected shape [-1, 3]"),
    ([{"name": "a", "shape": [2], "datatype": "FP64", "data": [1, 2]},
      {"name": "b", "shape": [1], "datatype": "FP64", "data": [1]}], COLUMNS,
     "different batch sizes: 'a' 2, 'b' 1"),
    # out of range for the datatype sent: refused, never wrapped
    ([{"name": "n", "shape": [1], "datatype": "INT8", "data": [300]},
      {"name": "m", "shape": [1], "datatype": "INT64", "data": [1]}], INTS,
     "input 'n': value 300 is out of range for INT8"),
    ([{"name": "n", "shape": [1], "datatype": "INT8", "data": [1]},
      {"name": "m", "shape": [1], "datatype": "INT64", "data": [2 ** 63]}], INTS,
     "input 'm': value 9223372036854775808 is out of range for INT64"),
    ([{"name": "a", "shape": [1], "datatype": "FP32", "data": [1e39]},
      {"name": "b", "shape": [1], "datatype": "FP64", "data": [1]}], COLUMNS,
     "input 'a': value 1e+39 is out of range for FP32"),
    ([{"name": "a", "shape": [1], "datatype": "FP16", "data": [70000]},
      {"name": "b", "shape": [1], "datatype": "FP64", "data": [1]}], COLUMNS,
     "input 'a': value 70000.0 is out of range for FP16"),
    ([{"name": "a", "shape": [1], "datatype": "FP64", "data": [True]},
      {"name": "b", "shape": [1], "datatype": "FP64", "data": [1]}], COLUMNS,
     "input 'a': expected FP64 data, got boolean values"),
])
def test_strict_datatypes_shapes_and_ranges(inputs: list[dict], signature: Signature,
                                            message: str) -> None:
    with pytest.raises(oip.OipError, match=re.escape(message)):
        oip.request_input(oip.parse_request(body(inputs)), signature)


def test_safe_widenings_are_accepted() -> None:
    request = oip.parse_request(body([
        {"name": "a", "shape": [1], "datatype": "FP32", "data": [1.5]},
        {"name": "b", "shape": [1], "datatype": "INT32", "data": [7]}]))
    data = oip.model_input(request.inputs, COLUMNS)
    assert data["a"].tolist() == [1.5] and data["b"].tolist() == [7]
    ints = oip.parse_request(body([
        {"name": "n", "shape": [1], "datatype": "INT8", "data": [-128]},
        {"name": "m", "shape": [1], "datatype": "UINT32", "data": [2 ** 32 - 1]}]))
    data = oip.model_input(ints.inputs, INTS)
    assert data["n"].tolist() == [-128] and data["m"].tolist() == [2 ** 32 - 1]
    assert "FP64" in oip.WIDENS["FP32"] and "FP32" not in oip.WIDENS["FP64"]
    assert "FP32" not in oip.WIDENS["INT32"]  # not every int32 is a float32


def test_binary_infinity_is_refused_naming_the_input() -> None:
    raw = np.array([1.0, np.inf], dtype="<f8").tobytes()
    head = json.dumps({"inputs": [{"name": "a", "shape": [2], "datatype": "FP64",
                                   "parameters": {"binary_data_size": len(raw)}}]}).encode()
    with pytest.raises(oip.OipError, match="input 'a': value inf is out of range for FP64"):
        oip.parse_request(head + raw, len(head))


def test_a_numeric_request_id_comes_back_as_sent() -> None:
    for sent in (42, 4.5, "r-1"):
        request = oip.parse_request(body([{"name": "a", "shape": [1], "datatype": "FP64",
                                           "data": [1]}], id=sent))
        payload, _ = oip.encode_response("m", "1", [("label", np.array([1]))], request)
        assert json.loads(payload)["id"] == sent
    with pytest.raises(oip.OipError, match="'id' must be a string or a number"):
        oip.parse_request(body([{"name": "a", "shape": [1], "datatype": "FP64",
                                 "data": [1]}], id={"x": 1}))
