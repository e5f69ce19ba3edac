"""Routing: parsing and checking variants, and picking one per request (pure logic).

Weights are percentages of the traffic; those of the routed variants sum to 100. A request
with a key (header ``x-modelplane-key``, or the deployment's ``key_field`` in the request)
is sticky: the key is hashed (BLAKE2b, salted with the deployment name) to a point in
[0, 100) and the point falls in one variant's range, so one key always meets one variant
while the weights stay; without a key the point is random. Ranges are laid out in the
variants' order and a canary's candidate comes first, so growing its share only ever moves
keys from the baseline to the candidate, never back.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from modelplane.core.errors import InvalidArgumentError
from modelplane.deployments.entities import Variant

__all__ = ["Picker", "check_key_field", "check_name", "key_point", "normalise_ref",
           "parse_variants"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
_STAGES = ("production", "staging")
_TOTAL_TOLERANCE = 1e-6


def _fail(field: str, message: str, **details: Any) -> InvalidArgumentError:
    return InvalidArgumentError(f"{field}: {message}", details={"field": field, **details})


def check_name(name: object, field: str = "name") -> str:
    """A deployment or variant name: 1-64 letters, digits, ``_ . -``."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise _fail(field, f"expected 1-64 letters, digits, '_', '.' or '-' (starting with a "
                    f"letter or digit), got {name!r}")
    return name


def check_key_field(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 256:
        raise _fail("key_field", f"expected a field name of 1-256 characters, got {value!r}")
    return value


def normalise_ref(ref: object, field: str = "ref") -> str:
    """``"3"``/``"v3"``/``3`` -> ``"3"``; ``production``/``staging`` (any case); ``@alias``."""
    if isinstance(ref, int) and not isinstance(ref, bool) and ref >= 1:
        return str(ref)
    if isinstance(ref, str):
        text = ref.strip()
        digits = text[1:] if text[:1] in ("v", "V") else text
        if digits.isdigit() and int(digits) >= 1:
            return str(int(digits))
        if text.lower() in _STAGES:
            return text.lower()
        if text.startswith("@") and _NAME.match(text[1:]):
            return text
    raise _fail(field, f"expected a version number (3 or v3), a stage (production, staging) "
                f"or an alias (@champion), got {ref!r}")


def _weight(value: object, field: str) -> float:
    if isinstance(value, str):
        try:
            value = float(value.strip().rstrip("%"))
        except ValueError:
            raise _fail(field, f"expected a percentage, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(field, f"expected a percentage, got {value!r}")
    if not 0 <= value <= 100:
        raise _fail(field, f"expected a percentage from 0 to 100, got {value:g}")
    return float(value)


def _one(item: Any, shadow: bool, i: int) -> Variant:
    """A variant from ``"name=w"``, ``"name:ref=w"``, ``{"name", "ref"?, "weight"}``."""
    where = f"{'shadows' if shadow else 'routes'}[{i}]"
    if isinstance(item, Variant):
        return Variant(check_name(item.name, where), normalise_ref(item.ref, where),
                       _weight(item.weight, where), shadow)
    if isinstance(item, str):
        head, sep, weight = item.partition("=")
        if not sep and shadow:
            head, weight = item, "100"
        elif not sep:
            raise _fail(where, f"expected NAME=WEIGHT or NAME:REF=WEIGHT, got {item!r}")
        label, _, target = head.strip().partition(":")
        item = {"name": label, "ref": target or None, "weight": weight}
    if not isinstance(item, Mapping):
        raise _fail(where, f"expected NAME=WEIGHT or an object, got {type(item).__name__}")
    unknown = set(item) - {"name", "ref", "weight", "shadow"}
    if unknown:
        raise _fail(where, f"unknown key {sorted(unknown)[0]!r}; expected name, ref, weight")
    raw_name, ref = item.get("name"), item.get("ref")
    if ref is None and raw_name is not None:
        ref = normalise_ref(raw_name, where)
        name = f"v{ref}" if ref.isdigit() else str(ref).lstrip("@")
    else:
        name = check_name(raw_name if raw_name is not None else f"v{ref}", f"{where}.name")
    weight = item.get("weight", 100 if shadow else None)
    if weight is None:
        raise _fail(f"{where}.weight", "missing")
    return Variant(name, normalise_ref(ref, f"{where}.ref"), _weight(weight, f"{where}.weight"),
                   shadow)


def _items(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [{"name": k, "weight": w} for k, w in value.items()]
    if isinstance(value, str):
        return [p for p in re.split(r"[,\s]+", value) if p]
    if isinstance(value, Iterable):
        return list(value)
    raise _fail("routes", f"expected a mapping of name to weight or a list, got "
                f"{type(value).__name__}")


def parse_variants(routes: Any, shadows: Any = None) -> tuple[Variant, ...]:
    """Checked variants from routes (``{"production": 90, "staging": 10}``, ``["a:3=50",
    "b:4=50"]`` or objects) and shadows (``{"4": 100}``, ``["v4"]``): names unique, each
    weight 0-100, routed weights summing to 100 with at least one above 0."""
    out = [_one(item, False, i) for i, item in enumerate(_items(routes))]
    out += [_one(item, True, i) for i, item in enumerate(_items(shadows))]
    if not any(not v.shadow for v in out):
        raise _fail("routes", "a deployment needs at least one route, e.g. production=100")
    seen: set[str] = set()
    for v in out:
        if v.name in seen:
            raise _fail("routes", f"variant name {v.name!r} appears twice", variant=v.name)
        seen.add(v.name)
    check_weights(out)
    return tuple(out)


def check_weights(variants: Sequence[Variant]) -> None:
    total = sum(v.weight for v in variants if not v.shadow)
    if abs(total - 100.0) > _TOTAL_TOLERANCE:
        shown = ", ".join(f"{v.name}={v.weight:g}" for v in variants if not v.shadow)
        raise _fail("routes", f"the weights must sum to 100, got {total:g} ({shown})",
                    total=total)
    for v in variants:
        if v.shadow and v.weight <= 0:
            raise _fail("shadows", f"shadow {v.name!r} needs a share above 0", variant=v.name)


def key_point(deployment: str, key: str) -> float:
    """Where ``key`` falls in [0, 100) for ``deployment``: uniform and stable."""
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8,
                             key=deployment.encode()[:64]).digest()
    return int.from_bytes(digest, "big") / 2 ** 64 * 100.0


class Picker:
    """The ranges of one set of weights: ``pick(key)`` returns an index into ``items``.

    ``items`` are (anything, weight) pairs in range order; weight-0 items are never picked.
    """

    __slots__ = ("_bounds", "_rand", "salt")

    def __init__(self, salt: str, weights: Sequence[float],
                 rand: random.Random | None = None) -> None:
        self.salt = salt
        bounds: list[tuple[float, int]] = []
        running = 0.0
        for i, w in enumerate(weights):
            if w > 0:
                running += w
                bounds.append((running, i))
        if not bounds:
            raise _fail("routes", "no variant has a weight above 0")
        bounds[-1] = (math.inf, bounds[-1][1])  # float sums: the last range takes the rest
        self._bounds = bounds
        self._rand = rand or random.Random()

    def pick(self, key: str | None = None) -> int:
        point = key_point(self.salt, key) if key else self._rand.random() * 100.0
        for upper, index in self._bounds:
            if point < upper:
                return index
        return self._bounds[-1][1]  # pragma: no cover - inf bounds the loop
