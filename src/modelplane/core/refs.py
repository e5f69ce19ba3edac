"""Short references to ids, as people type them: a unique prefix of an id, the short form
the CLI and UI print (an id's last characters), or a name; and "did you mean" hints.

Ids are 32 hex characters whose first 12 are a timestamp (:mod:`~modelplane.core.ids`), so
ids made close in time share a long prefix: what is printed short is the end of an id,
and both ends are accepted. No I/O here: a service finds the candidates, these functions
choose and word the errors.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from modelplane.core.errors import InvalidArgumentError, NotFoundError

__all__ = ["ID_LENGTH", "LOOKUP_LIMIT", "MIN_FRAGMENT", "did_you_mean", "is_fragment",
           "is_full_id", "pick_one"]

T = TypeVar("T")
ID_LENGTH = 32
#: the fewest characters of an id taken as a fragment of one
MIN_FRAGMENT = 4
_HEX = re.compile(r"[0-9a-f]+")
_SHOWN = 5  # candidates named in an ambiguity error
#: how many candidates a lookup fetches: more than 10 is reported as "more than 10"
LOOKUP_LIMIT = 11


def is_full_id(ref: str) -> bool:
    return len(ref) == ID_LENGTH and _HEX.fullmatch(ref) is not None


def is_fragment(ref: str) -> bool:
    """Whether ``ref`` can be the start or the end of an id."""
    return MIN_FRAGMENT <= len(ref) < ID_LENGTH and _HEX.fullmatch(ref) is not None


def pick_one(kind: str, ref: str, found: Sequence[T], describe: Callable[[T], str],
             what: str) -> T:
    """The one candidate ``ref`` matched; NotFoundError when none did, InvalidArgumentError
    naming the candidates (up to five) when several did. ``what`` says how ``ref`` was
    matched, e.g. "id, start or end of an id, or name"."""
    if len(found) == 1:
        return found[0]
    if not found:
        raise NotFoundError(f"{kind} {ref!r} not found (looked for it as an {what})",
                            details={"field": kind.replace(" ", "_"), "ref": ref})
    shown = "; ".join(describe(item) for item in found[:_SHOWN])
    count = "more than 10" if len(found) >= LOOKUP_LIMIT else str(len(found))
    more = " and more" if len(found) > _SHOWN else ""
    raise InvalidArgumentError(
        f"{kind} {ref!r} is ambiguous: it matches {count} {kind}s ({shown}{more}); "
        "give more characters of the id", details={"field": kind.replace(" ", "_"),
                                                     "ref": ref, "matches": len(found)})


def did_you_mean(name: str, names: Iterable[str], n: int = 3) -> str:
    """``"; did you mean 'a' or 'b'?"`` for the names close to ``name``, else ``""``."""
    close = difflib.get_close_matches(name, list(names), n=n, cutoff=0.6)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
