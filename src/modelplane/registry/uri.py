"""Model URIs: ``models:/NAME:VERSION``, ``models:/NAME@ALIAS``, ``models:/NAME@STAGE``.

The scheme is optional (``churn:3``, ``churn@champion``). A stage name after ``@`` means
the stage (for ``staging``/``production`` its one holder; otherwise the newest version in
it); any other word is an alias. MLflow's ``models:/NAME/VERSION`` and
``models:/NAME/STAGE`` are accepted too. Names, aliases and stages follow the rules here,
which the service also applies when they are created.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from modelplane.core.errors import InvalidArgumentError
from modelplane.registry.entities import STAGES

__all__ = ["URI_FORMS", "ModelRef", "check_alias", "check_model_name", "parse_model_uri"]

URI_FORMS = ("models:/NAME:VERSION, models:/NAME@ALIAS, models:/NAME@STAGE (stage: "
             + ", ".join(STAGES) + "), or the same without 'models:/'")
SCHEME = "models:/"
_NAME = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,255}")
_ALIAS = re.compile(r"[A-Za-z0-9_\-]{1,128}")


@dataclass(frozen=True, slots=True)
class ModelRef:
    """A parsed model URI: ``name`` and exactly one of ``version``, ``alias``, ``stage``."""

    name: str
    version: int | None = None
    alias: str | None = None
    stage: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{SCHEME}{self.name}:{self.version}"
        return f"{SCHEME}{self.name}@{self.alias or self.stage}"


def check_model_name(name: object) -> str:
    """``name`` if it is a valid registered-model name, else InvalidArgumentError."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        shown = repr(name) if isinstance(name, str) else type(name).__name__
        raise InvalidArgumentError(
            f"invalid model name {shown}: expected 1-256 characters of letters, digits, "
            "'_', '-' and '.', not starting with '.'", details={"field": "name"})
    return name


def check_alias(alias: object) -> str:
    """``alias`` if it is a valid alias (not a stage name, not only digits)."""
    if not isinstance(alias, str) or not _ALIAS.fullmatch(alias):
        shown = repr(alias) if isinstance(alias, str) else type(alias).__name__
        raise InvalidArgumentError(
            f"invalid alias {shown}: expected 1-128 letters, digits, '_' or '-'",
            details={"field": "alias"})
    if alias.isdigit():
        raise InvalidArgumentError(
            f"invalid alias {alias!r}: an alias cannot be only digits (it would read as a "
            "version number)", details={"field": "alias"})
    if alias.lower() in STAGES:
        raise InvalidArgumentError(
            f"invalid alias {alias!r}: {', '.join(STAGES)} are stage names, not aliases",
            details={"field": "alias"})
    return alias


def _bad(uri: str, why: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"invalid model URI {uri!r}: {why}; expected {URI_FORMS}",
                                details={"field": "uri", "uri": uri})


def parse_model_uri(uri: str) -> ModelRef:
    """Parse ``uri``; InvalidArgumentError naming the accepted forms when it is not one."""
    if not isinstance(uri, str) or not uri.strip():
        raise _bad(str(uri), "empty")
    body = uri.strip()
    if body.startswith(SCHEME):
        body = body[len(SCHEME):]
        if "/" in body:  # MLflow style: models:/NAME/VERSION or models:/NAME/STAGE
            name, _, rest = body.rpartition("/")
            return _ref(uri, name, rest, digits_mean_version=True)
    elif "://" in body or body.startswith(("/", "models:")):
        raise _bad(uri, "unknown scheme")
    at, colon = body.rfind("@"), body.rfind(":")
    if at > colon:
        return _ref(uri, body[:at], body[at + 1:], digits_mean_version=False)
    if colon > 0:
        name, number = body[:colon], body[colon + 1:]
        if not number.isdigit() or int(number) < 1:
            raise _bad(uri, f"version {number!r} is not a positive integer")
        return ModelRef(_name(uri, name), version=int(number))
    raise _bad(uri, "no version, alias or stage")


def _ref(uri: str, name: str, word: str, *, digits_mean_version: bool) -> ModelRef:
    name = _name(uri, name)
    if digits_mean_version and word.isdigit() and int(word) > 0:
        return ModelRef(name, version=int(word))
    if word.lower() in STAGES:
        return ModelRef(name, stage=word.lower())
    if digits_mean_version:
        raise _bad(uri, f"{word!r} is neither a version number nor a stage")
    try:
        return ModelRef(name, alias=check_alias(word))
    except InvalidArgumentError as exc:
        raise _bad(uri, exc.message.removeprefix("invalid ")) from None


def _name(uri: str, name: str) -> str:
    if not _NAME.fullmatch(name):
        raise _bad(uri, f"{name!r} is not a valid model name")
    return name
