"""Feature references resolved against definitions: which views to read, which features of
each, and which on-demand views to run, with errors that list the close names."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from modelplane.core.errors import InvalidArgumentError, NotFoundError
from modelplane.features.definitions import (
    FeatureService,
    FeatureView,
    OnDemandFeatureView,
    parse_feature_ref,
)

__all__ = ["FeaturePlan", "ViewRead", "plan_features", "unknown_feature", "unknown_name"]


def _close(name: str, names: Iterable[str]) -> list[str]:
    return difflib.get_close_matches(name, list(names), n=5, cutoff=0.5)


def unknown_name(what: str, name: str, names: Iterable[str]) -> NotFoundError:
    close = _close(name, names)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return NotFoundError(f"{what} {name!r} not found{hint}",
                         details={"field": what.replace(" ", "_"), "name": name,
                                  "suggestions": close})


def unknown_feature(view: str, name: str, features: Iterable[str]) -> NotFoundError:
    features = list(features)
    close = _close(name, features)
    hint = (f"did you mean {', '.join(repr(c) for c in close)}?" if close
            else f"it has {', '.join(repr(f) for f in features)}")
    return NotFoundError(f"feature view {view!r} has no feature {name!r}; {hint}",
                         details={"field": "features", "view": view, "name": name,
                                  "suggestions": close})


@dataclass
class ViewRead:
    """The features read from one batch view; ``outputs`` pairs each feature with its
    output column name (None: read only as an on-demand input)."""

    view: FeatureView
    features: list[str] = field(default_factory=list)
    outputs: list[str | None] = field(default_factory=list)

    def add(self, feature: str, output: str | None) -> None:
        if feature in self.features:
            i = self.features.index(feature)
            if self.outputs[i] is None:
                self.outputs[i] = output
            return
        self.features.append(feature)
        self.outputs.append(output)


@dataclass
class OdfvRun:
    view: OnDemandFeatureView
    features: list[str]
    outputs: list[str]
    inputs: list[tuple[str, str]]  # (view name, feature) pairs it reads


@dataclass
class FeaturePlan:
    """What a retrieval reads: batch views in order, then on-demand views; ``columns`` are
    the output names in the order asked."""

    reads: list[ViewRead]
    odfvs: list[OdfvRun]
    columns: list[str]

    @property
    def request_fields(self) -> list[str]:
        return list(dict.fromkeys(f.name for r in self.odfvs for f in r.view.request_fields))


Lookup = Callable[[str, int | None], Any]


def plan_features(refs: Sequence[str] | FeatureService, lookup: Lookup, *,
                  full_names: bool = False) -> FeaturePlan:
    """Resolve ``refs`` with ``lookup(view_name, version)`` (raises NotFoundError)."""
    if isinstance(refs, FeatureService):
        refs = list(refs.features)
    if isinstance(refs, str) or not refs:
        raise InvalidArgumentError("features: expected a non-empty list of 'view:feature' "
                                   "references or a feature service", details={"field": "features"})
    reads: dict[tuple[str, int | None], ViewRead] = {}
    odfvs: dict[str, OdfvRun] = {}
    columns: list[str] = []
    for ref in refs:
        name, version, feature = parse_feature_ref(ref)
        view = lookup(name, version)
        if feature not in view.features:
            raise unknown_feature(name, feature, view.features)
        output = f"{name}__{feature}" if full_names else feature
        if output in columns:
            raise InvalidArgumentError(
                f"features: two features are named {output!r}; ask for full_feature_names "
                "to get 'view__feature' columns", details={"field": "features", "name": output})
        columns.append(output)
        if isinstance(view, OnDemandFeatureView):
            run = odfvs.get(name)
            if run is None:
                run = odfvs[name] = OdfvRun(view, [], [], [])
                for input_ref in view.inputs:
                    source, source_version, source_feature = parse_feature_ref(input_ref)
                    source_view = lookup(source, source_version)
                    if source_feature not in source_view.features:
                        raise unknown_feature(source, source_feature, source_view.features)
                    key = (source, source_version)
                    reads.setdefault(key, ViewRead(source_view)).add(source_feature, None)
                    run.inputs.append((source, source_feature))
            run.features.append(feature)
            run.outputs.append(output)
        else:
            reads.setdefault((name, version), ViewRead(view)).add(feature, output)
    return FeaturePlan(list(reads.values()), list(odfvs.values()), columns)
