"""Roles, from least to most: ``reader`` < ``writer`` < ``maintainer`` < ``admin``.

- ``reader``: read everything (and predict);
- ``writer``: log runs, datasets, artifacts, register versions, push features, send
  labels, run pipelines;
- ``maintainer``: stages, aliases, deployments, canaries, alert rules, gates;
- ``admin``: users, tokens, deletes, the audit log.

``predict`` is not on that ladder: a token with it may call the serving routes
(``/predict``, ``/v2``) and nothing else, for a client application.
"""

from __future__ import annotations

from typing import Literal

from modelplane.core.errors import InvalidArgumentError

__all__ = ["LADDER", "PREDICT", "ROLES", "Role", "check_role", "role_allows"]

Role = Literal["predict", "reader", "writer", "maintainer", "admin"]
LADDER: tuple[str, ...] = ("reader", "writer", "maintainer", "admin")
PREDICT = "predict"
ROLES: tuple[str, ...] = (PREDICT, *LADDER)
_RANK = {name: rank for rank, name in enumerate(LADDER, start=1)}
_RANK[PREDICT] = 0


def check_role(value: str, field: str = "role") -> str:
    text = str(value).strip().lower()
    if text not in _RANK:
        raise InvalidArgumentError(
            f"unknown {field} {value!r}; expected one of {', '.join(ROLES)}",
            details={"field": field, "allowed": list(ROLES)})
    return text


def rank(role: str) -> int:
    return _RANK.get(role, -1)


def role_allows(held: str, needed: str) -> bool:
    """Whether a caller holding ``held`` may do what needs ``needed``: the ladder, plus
    ``predict`` routes open to the ``predict`` scope and to every role."""
    if needed == PREDICT:
        return held in _RANK
    return held != PREDICT and _RANK.get(held, -1) >= _RANK[needed]


def cap(role: str, ceiling: str) -> str:
    """``role`` no higher than ``ceiling`` (a token never outranks its user)."""
    if role == PREDICT or ceiling == PREDICT:
        return PREDICT
    return role if _RANK[role] <= _RANK[ceiling] else ceiling
