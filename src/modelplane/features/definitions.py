"""Feature definitions as code: entities, fields, sources, feature views, on-demand views and
feature services.

Definitions are plain Python objects a feature repo declares at module level. Each one has a
JSON ``spec()`` (what the registry stores) and is rebuilt from it by :func:`from_spec`, so
training and serving read the same definition. A view's *schema* (its join keys and typed
fields) has a hash: the registry makes a new version of the view when the hash changes.

Nothing heavy is imported here: pandas, pyarrow and cloudpickle load where they are used.
"""

from __future__ import annotations

import abc
import base64
import hashlib
import inspect
import json
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from modelplane.core.errors import InvalidArgumentError
from modelplane.features.sources import (
    DataFrameSource,
    FileSource,
    SqlSource,
    as_source,
    source_from_spec,
)

__all__ = [
    "DTYPES",
    "Array",
    "Bool",
    "Bytes",
    "DataFrameSource",
    "Entity",
    "FeatureService",
    "FeatureView",
    "FeatureViewProjection",
    "Field",
    "FileSource",
    "Float32",
    "Float64",
    "Int32",
    "Int64",
    "OnDemandFeatureView",
    "RequestSource",
    "SqlSource",
    "String",
    "Timestamp",
    "array_item",
    "from_spec",
    "on_demand_feature_view",
    "parse_feature_ref",
]

Int32, Int64, Float32, Float64 = "int32", "int64", "float32", "float64"
Bool, String, Bytes, Timestamp = "bool", "string", "bytes", "timestamp"
#: dtypes a list can hold (``Array(Float32)``)
ITEM_DTYPES = (Int32, Int64, Float32, Float64, Bool, String)
KEY_DTYPES = (Int32, Int64, String)


def Array(item: str) -> str:
    """The dtype of a list of ``item`` values: ``Array(Float32) == "array<float32>"``."""
    if item not in ITEM_DTYPES:
        raise InvalidArgumentError(f"Array({item!r}): a list holds one of "
                                   f"{', '.join(ITEM_DTYPES)}", details={"field": "dtype"})
    return f"array<{item}>"


def array_item(dtype: str) -> str | None:
    """The item dtype of an ``array<...>`` dtype, else None."""
    if dtype.startswith("array<") and dtype.endswith(">"):
        return dtype[6:-1]
    return None


#: every feature dtype: the scalars, and lists of the item dtypes
DTYPES = (Int32, Int64, Float32, Float64, Bool, String, Bytes, Timestamp,
          *(f"array<{t}>" for t in ITEM_DTYPES))
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,127}$")
_COLUMN = re.compile(r"^[^\x00-\x1f:@\"]{1,256}$")


def _check_name(value: str, what: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise InvalidArgumentError(
            f"invalid {what} name {value!r}: expected a letter or '_' then letters, digits, "
            "'_' or '-' (at most 128)", details={"field": what})
    return value


def _check_column(value: str, what: str) -> str:
    if not isinstance(value, str) or not _COLUMN.match(value):
        raise InvalidArgumentError(
            f"invalid {what} {value!r}: a column name without ':', '@', '\"' or control "
            "characters", details={"field": what})
    return value


def _check_dtype(dtype: str, where: str, allowed: Sequence[str] = DTYPES) -> str:
    if dtype not in allowed:
        scalars = [d for d in allowed if array_item(d) is None]
        lists = (f", or array<T> (Array(T)) with T one of {', '.join(ITEM_DTYPES)}"
                 if len(scalars) < len(allowed) else "")
        raise InvalidArgumentError(f"{where}: unknown dtype {dtype!r}; expected one of "
                                   f"{', '.join(scalars)}{lists}", details={"field": where})
    return dtype


def _hash(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
                          ).hexdigest()


def _ttl_seconds(ttl: timedelta | float | None) -> float | None:
    if ttl is None:
        return None
    seconds = ttl.total_seconds() if isinstance(ttl, timedelta) else float(ttl)
    if not seconds > 0:
        raise InvalidArgumentError(f"ttl must be positive, got {ttl!r}", details={"field": "ttl"})
    return seconds


class _Definition(abc.ABC):
    """Equality and hashing by spec; ``version`` is set on definitions read from the registry."""

    kind = ""
    name: str
    version: int | None = None

    @abc.abstractmethod
    def spec(self) -> dict[str, Any]:
        """The JSON-able definition: what the registry stores and compares."""

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.spec() == self.spec()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((self.kind, self.name))

    def __repr__(self) -> str:
        version = f" v{self.version}" if self.version else ""
        return f"<{type(self).__name__} {self.name!r}{version}>"


class Field:
    """A typed column of a view: ``Field("conv_rate", Float64, "conversion rate")``,
    ``Field("embedding", Array(Float32))``, ``Field("thumbnail", Bytes)``."""

    __slots__ = ("description", "dtype", "name")

    def __init__(self, name: str, dtype: str, description: str = "") -> None:
        self.name = _check_column(name, "field name")
        self.dtype = _check_dtype(dtype, f"field {name!r}")
        self.description = description

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "description": self.description}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Field) and other.spec() == self.spec()

    def __hash__(self) -> int:
        return hash((self.name, self.dtype))

    def __repr__(self) -> str:
        return f"Field({self.name!r}, {self.dtype!r})"


def _fields(schema: Iterable[Field | tuple[str, str]], where: str) -> tuple[Field, ...]:
    out = tuple(f if isinstance(f, Field) else Field(*f) for f in schema)
    seen: set[str] = set()
    for f in out:
        if f.name in seen:
            raise InvalidArgumentError(f"{where}: field {f.name!r} is declared twice",
                                       details={"field": f.name})
        seen.add(f.name)
    return out


class Entity(_Definition):
    """What features are about (a driver, a customer), identified by its join keys.

    ``Entity("driver", join_keys=["driver_id"])``: join keys default to ``[name]`` and their
    dtype to int64; pass ``dtype="string"`` or ``dtypes={"key": "string", ...}``.
    """

    kind = "entity"

    def __init__(self, name: str, join_keys: Sequence[str] | None = None, *,
                 dtype: str = Int64, dtypes: Mapping[str, str] | None = None,
                 description: str = "", tags: Mapping[str, str] | None = None,
                 owner: str = "") -> None:
        self.name = _check_name(name, "entity")
        keys = list(join_keys or [name])
        if not keys or len(set(keys)) != len(keys):
            raise InvalidArgumentError(f"entity {name!r}: join keys must be distinct and "
                                       "non-empty", details={"field": "join_keys"})
        given = dict(dtypes or {})
        unknown = sorted(set(given) - set(keys))
        if unknown:
            raise InvalidArgumentError(f"entity {name!r}: dtype given for {unknown[0]!r}, "
                                       "which is not a join key", details={"field": unknown[0]})
        self.join_keys = tuple(_check_column(k, "join key") for k in keys)
        self.dtypes = {k: _check_dtype(given.get(k, dtype), f"join key {k!r}", KEY_DTYPES)
                       for k in self.join_keys}
        self.description, self.tags, self.owner = description, dict(tags or {}), owner

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "join_keys": list(self.join_keys), "dtypes": self.dtypes,
                "description": self.description, "tags": self.tags, "owner": self.owner}


class RequestSource:
    """Values that arrive with the request (online) or as entity-frame columns (offline)."""

    def __init__(self, name: str, schema: Iterable[Field | tuple[str, str]]) -> None:
        self.name = _check_name(name, "request source")
        self.schema = _fields(schema, f"request source {name!r}")

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "schema": [f.spec() for f in self.schema]}


# -- views --------------------------------------------------------------------------------


class FeatureView(_Definition):
    """Typed features of one or more entities, read from a source with event timestamps.

    Point in time: a row of the source is valid from its ``timestamp_field`` time for ``ttl``
    (or forever); among rows of one key with the same event time, the greatest
    ``created_timestamp_field`` wins.
    """

    kind = "feature_view"

    def __init__(self, name: str, *, entities: Sequence[Entity], source: Any,
                 schema: Iterable[Field | tuple[str, str]],
                 timestamp_field: str = "event_timestamp",
                 created_timestamp_field: str | None = None,
                 ttl: timedelta | float | None = None, online: bool = True,
                 description: str = "", tags: Mapping[str, str] | None = None,
                 owner: str = "") -> None:
        self.name = _check_name(name, "feature view")
        self.entities = tuple(entities)
        if not self.entities or not all(isinstance(e, Entity) for e in self.entities):
            raise InvalidArgumentError(f"feature view {name!r}: entities must be a non-empty "
                                       "list of Entity", details={"field": "entities"})
        self.source = as_source(source)
        self.schema = _fields(schema, f"feature view {name!r}")
        self.timestamp_field = _check_column(timestamp_field, "timestamp field")
        self.created_timestamp_field = (None if created_timestamp_field is None else
                                        _check_column(created_timestamp_field,
                                                      "created timestamp field"))
        self.ttl_seconds = _ttl_seconds(ttl)
        self.online, self.description, self.owner = online, description, owner
        self.tags = dict(tags or {})
        self._check_columns()

    def _check_columns(self) -> None:
        taken: dict[str, str] = {}
        for what, names in (("join key", self.join_keys), ("field", self.features),
                            ("timestamp field", [self.timestamp_field]),
                            ("created timestamp field", [self.created_timestamp_field or ""])):
            for column in names:
                if column and column in taken:
                    raise InvalidArgumentError(
                        f"feature view {self.name!r}: {column!r} is both a {taken[column]} and "
                        f"a {what}", details={"field": column})
                taken[column] = what

    @property
    def join_keys(self) -> tuple[str, ...]:
        return tuple(k for e in self.entities for k in e.join_keys)

    @property
    def key_dtypes(self) -> dict[str, str]:
        return {k: d for e in self.entities for k, d in e.dtypes.items()}

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.schema)

    def field(self, name: str) -> Field:
        from modelplane.features.resolve import unknown_feature

        for f in self.schema:
            if f.name == name:
                return f
        raise unknown_feature(self.name, name, self.features)

    def schema_spec(self) -> dict[str, Any]:
        return {"join_keys": self.key_dtypes, "fields": [[f.name, f.dtype] for f in self.schema]}

    @property
    def schema_hash(self) -> str:
        return _hash(self.schema_spec())

    def __getitem__(self, features: Sequence[str] | str) -> FeatureViewProjection:
        return FeatureViewProjection(self, [features] if isinstance(features, str) else features)

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "entities": [e.spec() for e in self.entities],
                "source": self.source.spec(), "schema": [f.spec() for f in self.schema],
                "timestamp_field": self.timestamp_field,
                "created_timestamp_field": self.created_timestamp_field,
                "ttl_seconds": self.ttl_seconds, "online": self.online,
                "description": self.description, "tags": self.tags, "owner": self.owner}


class FeatureViewProjection:
    """Some features of a view: ``driver_stats[["conv_rate", "acc_rate"]]``."""

    def __init__(self, view: FeatureView | OnDemandFeatureView, features: Sequence[str]) -> None:
        for name in features:
            view.field(name)
        self.view, self.features = view, tuple(features)

    @property
    def refs(self) -> list[str]:
        return [f"{self.view.name}:{f}" for f in self.features]


class OnDemandFeatureView(_Definition):
    """Features computed by a Python function from request values and other views' features.

    The same function runs offline (on the whole training frame) and online (on the rows of a
    request). ``mode="pandas"``: ``transform(DataFrame) -> DataFrame``; ``mode="python"``:
    ``transform(dict of lists) -> dict of lists`` (no pandas on the online path). The input
    columns are the source features' names and the request fields.
    """

    kind = "on_demand_feature_view"

    def __init__(self, name: str, *,
                 sources: Sequence[FeatureView | FeatureViewProjection | RequestSource],
                 schema: Iterable[Field | tuple[str, str]], transform: Callable[[Any], Any],
                 mode: str = "pandas", description: str = "",
                 tags: Mapping[str, str] | None = None, owner: str = "") -> None:
        self.name = _check_name(name, "on-demand feature view")
        if mode not in ("pandas", "python"):
            raise InvalidArgumentError(f"on-demand view {name!r}: mode must be 'pandas' or "
                                       f"'python', got {mode!r}", details={"field": "mode"})
        if not callable(transform):
            raise InvalidArgumentError(f"on-demand view {name!r}: transform must be callable",
                                       details={"field": "transform"})
        self.schema = _fields(schema, f"on-demand view {name!r}")
        self.transform, self.mode = transform, mode
        self.description, self.tags, self.owner = description, dict(tags or {}), owner
        self.requests = tuple(s for s in sources if isinstance(s, RequestSource))
        self.inputs: list[str] = []  # "view:feature" refs of source features
        for s in sources:
            if isinstance(s, FeatureView):
                self.inputs += [f"{s.name}:{f}" for f in s.features]
            elif isinstance(s, FeatureViewProjection):
                self.inputs += s.refs
            elif not isinstance(s, RequestSource):
                raise InvalidArgumentError(
                    f"on-demand view {name!r}: a source must be a FeatureView, a projection or "
                    f"a RequestSource, got {type(s).__name__}", details={"field": "sources"})
        self._pickled: str | None = None
        self._code = _source_text(transform)

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.schema)

    @property
    def request_fields(self) -> tuple[Field, ...]:
        return tuple(f for r in self.requests for f in r.schema)

    def field(self, name: str) -> Field:
        return FeatureView.field(self, name)  # type: ignore[arg-type]

    def __getitem__(self, features: Sequence[str] | str) -> FeatureViewProjection:
        return FeatureViewProjection(self, [features] if isinstance(features, str) else features)

    @property
    def pickled_transform(self) -> str:
        if self._pickled is None:
            self._pickled = _pickle_by_value(self.transform)
        return self._pickled

    def schema_spec(self) -> dict[str, Any]:
        return {"inputs": self.inputs, "requests": [r.spec() for r in self.requests],
                "fields": [[f.name, f.dtype] for f in self.schema], "mode": self.mode,
                "code": self._code or self.pickled_transform}

    @property
    def schema_hash(self) -> str:
        return _hash(self.schema_spec())

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "inputs": self.inputs,
                "requests": [r.spec() for r in self.requests],
                "schema": [f.spec() for f in self.schema], "mode": self.mode,
                "code": self._code, "transform": self.pickled_transform,
                "description": self.description, "tags": self.tags, "owner": self.owner}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OnDemandFeatureView) and other.schema_hash == self.schema_hash \
            and other.name == self.name and other.description == self.description \
            and other.tags == self.tags and other.owner == self.owner

    __hash__ = _Definition.__hash__


def on_demand_feature_view(*, sources: Sequence[Any], schema: Iterable[Field | tuple[str, str]],
                           mode: str = "pandas", name: str | None = None, description: str = "",
                           tags: Mapping[str, str] | None = None, owner: str = ""
                           ) -> Callable[[Callable[[Any], Any]], OnDemandFeatureView]:
    """Decorator form: the function's name is the view's name unless ``name`` is given."""

    def wrap(fn: Callable[[Any], Any]) -> OnDemandFeatureView:
        return OnDemandFeatureView(name or fn.__name__, sources=sources, schema=schema,
                                   transform=fn, mode=mode, description=description or
                                   (fn.__doc__ or "").strip(), tags=tags, owner=owner)

    return wrap


def _source_text(fn: Callable[..., Any]) -> str:
    try:
        return inspect.getsource(fn)
    except (OSError, TypeError):
        return ""


def _pickle_by_value(fn: Callable[..., Any]) -> str:
    """The function pickled with its code (not a reference to a module the server may lack)."""
    import cloudpickle

    module = sys.modules.get(getattr(fn, "__module__", "") or "")
    by_value = module is not None and module.__name__ != "__main__" and \
        module.__name__ not in cloudpickle.list_registry_pickle_by_value()
    if by_value:
        cloudpickle.register_pickle_by_value(module)
    try:
        return base64.b64encode(cloudpickle.dumps(fn)).decode()
    finally:
        if by_value:
            cloudpickle.unregister_pickle_by_value(module)


def _unpickle(data: str) -> Callable[[Any], Any]:
    import cloudpickle

    return cloudpickle.loads(base64.b64decode(data))  # type: ignore[no-any-return]


class FeatureService(_Definition):
    """A named list of features a model consumes; ``features`` holds views, projections or
    ``"view:feature"`` strings (``"view@2:feature"`` pins a version)."""

    kind = "feature_service"

    def __init__(self, name: str, features: Sequence[Any], *, description: str = "",
                 tags: Mapping[str, str] | None = None, owner: str = "") -> None:
        self.name = _check_name(name, "feature service")
        refs: list[str] = []
        for item in features:
            if isinstance(item, FeatureView | OnDemandFeatureView):
                refs += [f"{item.name}:{f}" for f in item.features]
            elif isinstance(item, FeatureViewProjection):
                refs += item.refs
            elif isinstance(item, str):
                parse_feature_ref(item)
                refs.append(item)
            else:
                raise InvalidArgumentError(
                    f"feature service {name!r}: expected views, projections or 'view:feature' "
                    f"strings, got {type(item).__name__}", details={"field": "features"})
        if not refs:
            raise InvalidArgumentError(f"feature service {name!r} lists no features",
                                       details={"field": "features"})
        self.features = tuple(dict.fromkeys(refs))
        self.description, self.tags, self.owner = description, dict(tags or {}), owner

    @property
    def schema_hash(self) -> str:
        return _hash(list(self.features))

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "features": list(self.features),
                "description": self.description, "tags": self.tags, "owner": self.owner}


def parse_feature_ref(ref: str) -> tuple[str, int | None, str]:
    """``"view:feature"`` or ``"view@3:feature"`` as (view, version or None, feature)."""
    view, sep, feature = ref.partition(":") if isinstance(ref, str) else ("", "", "")
    version: int | None = None
    if "@" in view:
        view, _, number = view.partition("@")
        version = int(number) if number.isdigit() and int(number) > 0 else -1
    if not sep or not view or not feature or version == -1:
        raise InvalidArgumentError(
            f"invalid feature reference {ref!r}: expected 'view:feature' or 'view@VERSION:feature'",
            details={"field": "features", "value": str(ref)})
    return view, version, feature


def from_spec(kind: str, spec: Mapping[str, Any], version: int | None = None) -> Any:
    """Rebuild a definition from its stored ``spec``."""
    if kind == "entity":
        return Entity(spec["name"], spec["join_keys"], dtypes=spec["dtypes"],
                      description=spec["description"], tags=spec["tags"], owner=spec["owner"])
    if kind == "feature_service":
        out: Any = FeatureService(spec["name"], spec["features"], description=spec["description"],
                                  tags=spec["tags"], owner=spec["owner"])
    elif kind == "feature_view":
        out = FeatureView(
            spec["name"], entities=[from_spec("entity", e) for e in spec["entities"]],
            source=source_from_spec(spec["source"]),
            schema=[Field(**f) for f in spec["schema"]], timestamp_field=spec["timestamp_field"],
            created_timestamp_field=spec["created_timestamp_field"], ttl=spec["ttl_seconds"],
            online=spec["online"], description=spec["description"], tags=spec["tags"],
            owner=spec["owner"])
    else:
        out = _odfv_from_spec(spec)
    out.version = version
    return out


def _odfv_from_spec(spec: Mapping[str, Any]) -> OnDemandFeatureView:
    view = OnDemandFeatureView.__new__(OnDemandFeatureView)
    view.name, view.mode = spec["name"], spec["mode"]
    view.schema = tuple(Field(**f) for f in spec["schema"])
    view.requests = tuple(RequestSource(r["name"], [Field(**f) for f in r["schema"]])
                          for r in spec["requests"])
    view.inputs = list(spec["inputs"])
    view.description, view.tags, view.owner = spec["description"], spec["tags"], spec["owner"]
    view._pickled, view._code = spec["transform"], spec["code"]
    view.transform = _LazyTransform(spec["transform"])
    view.version = None
    return view


class _LazyTransform:
    """Unpickles the stored function on first call (listing views never runs user code)."""

    def __init__(self, data: str) -> None:
        self._data, self._fn = data, None

    def __call__(self, inputs: Any) -> Any:
        if self._fn is None:
            self._fn = _unpickle(self._data)  # type: ignore[assignment]
        return self._fn(inputs)  # type: ignore[misc]
