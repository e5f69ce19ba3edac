"""Hypothesis strategies for requests to every operation of an OpenAPI document: path and
query parameters and JSON bodies drawn from their schemas, mixed with the values that
have broken servers before (integers past 64 bits, absurd timestamps, nulls everywhere,
huge strings, NUL bytes, wrong types), so a fuzz test can assert that no request gets a
5xx."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

__all__ = ["Operation", "nasty_json", "operations", "request_for"]

HUGE_INTS = [2**63, 2**64 + 1, -(2**63) - 1, -(2**70), 10**40, 2**31, -1, 0]
ODD_STRINGS = ["", " ", "\x00", "a" * 3000, "../../etc/passwd", "%2e%2e", "9" * 40, "1e999",
               "-1", "NaN", "null", "true", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00",
               "99999-01-01", "2024-13-45", "-292277026596-12-04T15:30:07Z",
               "1970-01-01T00:00:00+25:00", "\u202e\ufeff", "名前", "a b", "models:/x@y"]
ODD_NUMBERS = [1e308, -1e308, 5e-324, 0.0, -0.0, 1e19, 2.0**64]


def nasty_scalars() -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from(HUGE_INTS), st.sampled_from(ODD_STRINGS),
                     st.sampled_from(ODD_NUMBERS), st.none(), st.booleans(),
                     st.integers(), st.text(max_size=12))


def nasty_json() -> st.SearchStrategy[Any]:
    return st.recursive(nasty_scalars(), lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=8) | st.sampled_from(ODD_STRINGS), inner,
                        max_size=4)), max_leaves=8)


@dataclass
class Operation:
    method: str
    path: str
    path_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    query_params: dict[str, tuple[bool, dict[str, Any]]] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    body_kind: str = ""  # "json", "bytes" or ""

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


def operations(spec: dict[str, Any]) -> list[Operation]:
    out = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete", "head"):
                continue
            oper = Operation(method.upper(), path)
            for param in op.get("parameters", []):
                schema = param.get("schema", {})
                if param["in"] == "path":
                    oper.path_params[param["name"]] = schema
                elif param["in"] == "query":
                    oper.query_params[param["name"]] = (param.get("required", False), schema)
            content = op.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                oper.body, oper.body_kind = content["application/json"].get("schema", {}), "json"
            elif content:
                oper.body_kind = "bytes"
            out.append(oper)
    return out


class _Schemas:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.components = spec.get("components", {}).get("schemas", {})

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.components[schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    def strategy(self, schema: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
        """Values of ``schema``, often valid, sometimes not (a nasty value instead)."""
        return st.one_of(self._valid(schema, depth), nasty_scalars()) if depth < 4 else \
            nasty_scalars()

    def _valid(self, schema: dict[str, Any], depth: int) -> st.SearchStrategy[Any]:
        schema = self.resolve(schema)
        for key in ("anyOf", "oneOf", "allOf"):
            if key in schema:
                return st.one_of([self.strategy(s, depth + 1) for s in schema[key]])
        if "enum" in schema:
            return st.sampled_from(schema["enum"])
        if "const" in schema:
            return st.just(schema["const"])
        kind = schema.get("type")
        if kind == "integer":
            return st.integers(min_value=-3, max_value=50) | st.sampled_from(HUGE_INTS)
        if kind == "number":
            return st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(
                ODD_NUMBERS) | st.sampled_from(HUGE_INTS)
        if kind == "string":
            return st.text(max_size=10) | st.sampled_from(ODD_STRINGS)
        if kind == "boolean":
            return st.booleans()
        if kind == "null":
            return st.none()
        if kind == "array":
            return st.lists(self.strategy(schema.get("items", {}), depth + 1), max_size=4)
        if kind == "object" or "properties" in schema:
            return self._object(schema, depth)
        return nasty_json()

    def _object(self, schema: dict[str, Any], depth: int) -> st.SearchStrategy[Any]:
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        fixed = {k: self.strategy(v, depth + 1) for k, v in props.items() if k in required}
        optional = {k: self.strategy(v, depth + 1) for k, v in props.items()
                    if k not in required}
        extra = schema.get("additionalProperties")
        base = st.fixed_dictionaries(fixed, optional=optional)
        if isinstance(extra, dict):
            more = st.dictionaries(st.text(max_size=8), self.strategy(extra, depth + 1),
                                   max_size=3)
            return st.builds(lambda a, b: {**b, **a}, base, more)
        return base


@st.composite
def request_for(draw: Any, spec: dict[str, Any], op: Operation,
                known: dict[str, list[str]]) -> dict[str, Any]:
    """Keyword arguments for ``httpx``/``TestClient.request``. ``known``: existing names by
    path parameter name, so requests also reach past the not-found checks."""
    schemas = _Schemas(spec)
    path = op.path
    for name, schema in op.path_params.items():
        value = draw(st.sampled_from(known[name]) if known.get(name) and draw(st.booleans())
                     else schemas.strategy(schema))
        text = str(value).lower() if isinstance(value, bool) else str(value)
        path = path.replace("{" + name + "}", quote(text, safe="") or "x")
    params = {}
    for name, (required, schema) in op.query_params.items():
        if required or draw(st.booleans()):
            value = draw(schemas.strategy(schema))
            if isinstance(value, list):
                value = [str(v) for v in value]
            elif isinstance(value, dict):
                value = str(value)
            elif value is not None:
                value = str(value).lower() if isinstance(value, bool) else str(value)
            if value is not None:
                params[name] = value
    kwargs: dict[str, Any] = {"method": op.method, "url": path, "params": params}
    if op.body_kind == "json":
        kwargs["json"] = draw(schemas.strategy(op.body or {}) | nasty_json())
    elif op.body_kind == "bytes":
        kwargs["content"] = draw(st.binary(max_size=64))
    return kwargs
