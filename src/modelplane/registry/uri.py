"""Model URIs: ``models:/NAME:VERSION``, ``models:/NAME@ALIAS``, ``models:/NAME@STAGE``,
``models:/NAME@latest``.

The scheme is optional (``churn:3``, ``churn@champion``). After ``@`` (or MLflow's ``/``)
a few reserved words keep one meaning whichever separator is used:

- a stage name, any case (``production``, MLflow's ``Production``): the stage (for
  ``staging``/``production`` its one holder; otherwise the newest version in it);
  MLflow's ``None`` stage is ``development``, where new versions start;
- ``latest``: the newest version, whatever its stage (MLflow's ``models:/NAME/latest``).

Any other word after ``@`` is an alias. So MLflow's ``models:/NAME/3``,
``models:/NAME/Production``, ``models:/NAME/None`` and ``models:/NAME/latest`` work as
pasted, and ``@Production`` names the production stage, never an alias: an alias cannot
be named like a reserved word (MLflow would read ``@Production`` as an alias; here that
name is refused when the alias is set, with the reason). Names, aliases and stages follow
the rules here, which the service also applies when they are created.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from modelplane.core.errors import InvalidArgumentError
from modelplane.registry.entities import DEFAULT_STAGE, STAGES

__all__ = ["URI_FORMS", "ModelRef", "check_alias", "check_model_name", "parse_model_uri"]

URI_FORMS = ("models:/NAME:VERSION, models:/NAME@ALIAS, models:/NAME@STAGE (stage: "
             + ", ".join(STAGES) + "), models:/NAME@latest, MLflow's models:/NAME/VERSION, "
             "models:/NAME/STAGE and models:/NAME/latest, or the same without 'models:/'")
LATEST = "latest"
#: words after ``@`` or ``/`` that name a stage (MLflow's "None" is the default stage)
_STAGE_WORDS = {**{s: s for s in STAGES}, "none": DEFAULT_STAGE}
SCHEME = "models:/"
_NAME = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,255}")
_ALIAS = re.compile(r"[A-Za-z0-9_\-]{1,128}")


@dataclass(frozen=True, slots=True)
class ModelRef:
    """A parsed model URI: ``name`` and exactly one of ``version``, ``alias``, ``stage``,
    ``latest`` (the newest version)."""

    name: str
    version: int | None = None
    alias: str | None = None
    stage: str | None = None
    latest: bool = False

    def __str__(self) -> str:
        if self.version is not None:
            return f"{SCHEME}{self.name}:{self.version}"
        return f"{SCHEME}{self.name}@{self.alias or self.stage or LATEST}"


def check_model_name(name: object) -> str:
    """``name`` if it is a valid registered-model name, else InvalidArgumentError."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        shown = repr(name) if isinstance(name, str) else type(name).__name__
        raise InvalidArgumentError(
            f"invalid model name {shown}: expected 1-256 characters of letters, digits, "
            "'_', '-' and '.', not starting with '.'", details={"field": "name"})
    return name


def check_alias(alias: object, *, reserved: bool = True) -> str:
    """``alias`` if it is a valid alias (not only digits; with ``reserved``, not a word
    that means a stage or the newest version: an alias named so before those words were
    reserved can still be deleted)."""
    if not isinstance(alias, str) or not _ALIAS.fullmatch(alias):
        shown = repr(alias) if isinstance(alias, str) else type(alias).__name__
        raise InvalidArgumentError(
            f"invalid alias {shown}: expected 1-128 letters, digits, '_' or '-'",
            details={"field": "alias"})
    if alias.isdigit():
        raise InvalidArgumentError(
            f"invalid alias {alias!r}: an alias cannot be only digits (it would read as a "
            "version number)", details={"field": "alias"})
    word = alias.lower()
    if reserved and (word in _STAGE_WORDS or word == LATEST):
        meaning = ("the newest version" if word == LATEST
                   else f"the {_STAGE_WORDS[word]} stage")
        raise InvalidArgumentError(
            f"invalid alias {alias!r}: models:/NAME@{alias} already means {meaning} (the "
            f"words {', '.join([*STAGES, 'none', LATEST])} are reserved, whatever their case, "
            "unlike MLflow where @Production is an alias); move a version into a stage with "
            "set_stage, or pick another alias name such as 'champion'",
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
        if "/" in body:  # MLflow style: models:/NAME/VERSION, /STAGE or /latest
            name, _, rest = body.removesuffix("/").rpartition("/")
            return _ref(uri, name, rest, digits_mean_version=True)
    elif body.startswith("runs:/"):
        raise _bad(uri, "a runs:/ URI names a run's files, not a registered version (the "
                        "versions a run registered are listed by `modelplane runs show RUN_ID`)")
    elif "://" in body or body.startswith(("/", "models:")):
        raise _bad(uri, "unknown scheme")
    at, colon = body.rfind("@"), body.rfind(":")
    if at > colon:
        return _ref(uri, body[:at], body[at + 1:], digits_mean_version=False)
    if colon > 0:
        name, number = body[:colon], body[colon + 1:]
        if number.lower() == LATEST:
            return ModelRef(_name(uri, name), latest=True)
        if not number.isdigit() or int(number) < 1:
            raise _bad(uri, f"version {number!r} is not a positive integer")
        return ModelRef(_name(uri, name), version=int(number))
    raise _bad(uri, "no version, alias or stage")


def _ref(uri: str, name: str, word: str, *, digits_mean_version: bool) -> ModelRef:
    name = _name(uri, name)
    if digits_mean_version and word.isdigit() and int(word) > 0:
        return ModelRef(name, version=int(word))
    lowered = word.lower()
    if lowered in _STAGE_WORDS:
        return ModelRef(name, stage=_STAGE_WORDS[lowered])
    if lowered == LATEST:
        return ModelRef(name, latest=True)
    if digits_mean_version:
        raise _bad(uri, f"{word!r} is neither a version number, a stage nor 'latest'")
    try:
        return ModelRef(name, alias=check_alias(word))
    except InvalidArgumentError as exc:
        raise _bad(uri, exc.message.removeprefix("invalid ")) from None


def _name(uri: str, name: str) -> str:
    if not _NAME.fullmatch(name):
        raise _bad(uri, f"{name!r} is not a valid model name")
    return name
