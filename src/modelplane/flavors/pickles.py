"""Which stored models may run code when loaded, and the opt-in that allows it.

A pickle runs whatever its ``__reduce__`` names when it is loaded, so whoever can register
a version could make every host that loads it run their code. Models are therefore stored
in formats that describe data, not code, where one exists:

- scikit-learn estimators (and LightGBM's scikit-learn wrappers) with ``skops``
  (``model.skops``); loading constructs only types on an allow-list: classes from
  scikit-learn, NumPy and SciPy (plus the flavor's own library, LightGBM for its wrappers)
  and the builtin types skops trusts itself. A file naming any other type is refused
  with an error that names the types.
- XGBoost (UBJSON), LightGBM boosters (text), PyTorch (TorchScript), ONNX: their own
  formats, loaded by their libraries' parsers.

What skops cannot represent safely (a lambda in a ``FunctionTransformer``, a class from the
user's own module) and the ``python`` flavor are stored as a pickle (cloudpickle), marked
``pickled`` in the descriptor, and loading them needs ``allow_pickle=True``. The check is
made where a flavor is about to unpickle, from the file it reads, never from what the
descriptor claims, so a tampered descriptor cannot skip it.
"""

from __future__ import annotations

import importlib
import io
import pickle
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from modelplane.core.errors import PermissionDeniedError

__all__ = [
    "SKOPS_FILE",
    "TRUSTED_PREFIXES",
    "dump_pickle",
    "dump_skops",
    "load_pickle",
    "load_skops",
    "pickle_refused",
    "trusted_skops_types",
    "untrusted_types",
]

SKOPS_FILE = "model.skops"
TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.")
TRUSTED_NAMES = frozenset({"collections.OrderedDict", "collections.defaultdict"})
OPT_IN = (
    "pass allow_pickle=True (Python), --allow-pickle (modelplane serve / server), or have "
    "an admin allow it for the model (modelplane models allow-pickle NAME)"
)


def pickle_refused(file: Path) -> PermissionDeniedError:
    return PermissionDeniedError(
        f"{file} is a pickle, which can run arbitrary code when loaded; load it only if you "
        f"trust whoever stored it: {OPT_IN}",
        details={"field": "allow_pickle", "expected": True, "got": False, "file": file.name},
    )


def dump_pickle(model: Any, file: Path) -> None:
    """Plain pickle (fast, by reference); cloudpickle when plain pickle refuses."""
    buffer = io.BytesIO()
    try:
        pickle.dump(model, buffer, protocol=5)
    except (pickle.PicklingError, AttributeError, TypeError):
        import cloudpickle

        buffer = io.BytesIO()
        cloudpickle.dump(model, buffer, protocol=5)
    file.write_bytes(buffer.getvalue())


def load_pickle(file: Path, allow_pickle: bool) -> Any:
    """Unpickle ``file``, only under the explicit opt-in."""
    if not allow_pickle:
        raise pickle_refused(file)
    import cloudpickle  # noqa: F401 - objects pickled by value need it to unpickle

    with file.open("rb") as handle:
        return pickle.load(handle)


def _trusted(name: str, prefixes: Iterable[str]) -> bool:
    """A class (never a function) under an allowed package, or a listed builtin type."""
    if name in TRUSTED_NAMES:
        return True
    if not any(name.startswith(p) for p in prefixes):
        return False
    module, _, attr = name.rpartition(".")
    try:
        return isinstance(getattr(importlib.import_module(module), attr), type)
    except (ImportError, AttributeError):
        return False


def untrusted_types(file: Path, prefixes: Iterable[str] = TRUSTED_PREFIXES) -> tuple[list[str],
                                                                                   list[str]]:
    """The types in skops ``file`` that skops does not trust by itself, split into those
    on the allow-list and the others."""
    import skops.io as sio

    names = sio.get_untrusted_types(file=file)
    allowed = [n for n in names if _trusted(n, prefixes)]
    return allowed, [n for n in names if n not in allowed]


def trusted_skops_types(data: bytes, prefixes: Iterable[str] = TRUSTED_PREFIXES) -> list[str]:
    """The types a skops file needs trusted that are on the allow-list (what another
    skops reader, such as MLflow's, is told to trust)."""
    import skops.io as sio

    return [n for n in sio.get_untrusted_types(data=data) if _trusted(n, prefixes)]


def dump_skops(model: Any, file: Path, prefixes: Iterable[str] = TRUSTED_PREFIXES) -> bool:
    """Write ``model`` with skops; False (and no file) when skops cannot represent it or
    it would need a type off the allow-list to load, so the caller falls back to pickle."""
    import skops.io as sio

    try:
        sio.dump(model, file)
        _, refused = untrusted_types(file, prefixes)
    except Exception:  # skops raises several kinds for what it cannot represent
        refused = ["unsupported"]
    if refused:
        file.unlink(missing_ok=True)
        return False
    return True


def load_skops(file: Path, allow_pickle: bool, prefixes: Iterable[str] = TRUSTED_PREFIXES) -> Any:
    """Load skops ``file``, constructing only allow-listed types (any type under the
    pickle opt-in); a type off the list is refused by name."""
    import skops.io as sio

    allowed, refused = untrusted_types(file, prefixes)
    if refused and not allow_pickle:
        raise PermissionDeniedError(
            f"{file} asks to construct types outside the trusted list "
            f"(scikit-learn, NumPy, SciPy): {', '.join(refused)}; refusing to load it. "
            f"If you trust whoever stored it: {OPT_IN}",
            details={"field": "allow_pickle", "expected": True, "got": False,
                     "untrusted_types": refused},
        )
    return sio.load(file, trusted=allowed + refused)
