"""``DeploymentService``: deployments, traffic, A/B, shadows, canaries, blue/green.

Every change is checked first (weights summing to 100, versions that exist, one canary at
a time, gates on known metrics) and then made in one locked transaction on the stored
state, with its event: a refused change leaves the state as it was. Every replica reads
the same rows, so all route alike (within their poll interval).

The canary controller calls :meth:`DeploymentService.tick`: it reads the candidate's and
the baseline's figures (summed over every replica), asks
:func:`~modelplane.deployments.canary.decide`, and applies an advance, a completion or a
rollback in a transaction that re-checks the canary is still at that step.
"""

from __future__ import annotations

import builtins
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from modelplane.core.errors import (
    InvalidArgumentError,
    InvalidStateError,
    ModelplaneError,
    NotFoundError,
)
from modelplane.core.ids import new_id
from modelplane.core.timeutil import utcnow
from modelplane.deployments import canary as analysis
from modelplane.deployments.entities import (
    Canary,
    Deployment,
    DeploymentEvent,
    Variant,
    VariantStats,
)
from modelplane.deployments.routing import (
    check_key_field,
    check_name,
    check_weights,
    normalise_ref,
    parse_variants,
)
from modelplane.deployments.store import DeploymentStore, NewEvent

if TYPE_CHECKING:
    from modelplane.flavors import LoadedModel
    from modelplane.registry.entities import ModelVersion
    from modelplane.registry.service import RegistryService

__all__ = ["DeploymentService", "Figures", "GateSources", "ref_uri"]

log = logging.getLogger("modelplane.deployments")
EXCLUSIVE = ("production", "staging")
STATS_RETENTION_S = 7 * 86400


class Figures(Protocol):
    """What canary gates read of monitoring (the monitoring service)."""

    def metric_value(self, model: str, metric: str, window: str = "1h",
                     version: int | None = None) -> float | None: ...


class _ModelLoader(Protocol):
    def load(self, uri: str) -> LoadedModel: ...


class _RunArtifacts(Protocol):
    def download_artifact(self, run_id: str, artifact_path: str,
                          dest: str | os.PathLike[str]) -> Path: ...


@dataclass(frozen=True)
class GateSources:
    """What evaluation gates read: verified models by URI, and the candidate run's
    artifacts (the evaluation dataset)."""

    models: _ModelLoader
    runs: _RunArtifacts


def ref_uri(model: str, ref: str) -> str:
    if ref.isdigit():
        return f"models:/{model}:{ref}"
    return f"models:/{model}{ref}" if ref.startswith("@") else f"models:/{model}@{ref}"


def _running(d: Deployment) -> Canary:
    if d.canary is None or not d.canary.running:
        raise InvalidStateError(f"deployment {d.name!r} has no canary running",
                                details={"deployment": d.name})
    return d.canary


def _no_canary(d: Deployment, what: str) -> None:
    c = d.canary
    if c is not None and c.running:
        raise InvalidStateError(
            f"deployment {d.name!r} has a canary of version {c.version} running (step "
            f"{c.step + 1}/{len(c.steps)}, {c.weight:g}% of traffic); {what} needs it "
            "promoted or aborted first", details={"deployment": d.name, "canary": c.version})


class DeploymentService:
    """See the module docstring. ``registry`` resolves refs and makes promotions;
    ``figures()`` gives monitoring's figures to canary gates (drift, labelled metrics;
    without it those gates have no value); ``gate_sources`` loads models and datasets for
    evaluation gates (without it, a gated stage move is refused)."""

    def __init__(self, store: DeploymentStore, registry: RegistryService, *,
                 figures: Callable[[], Figures] | None = None,
                 gate_sources: GateSources | None = None) -> None:
        self.store = store
        self.registry = registry
        self.figures = figures
        self.gate_sources = gate_sources
        self._last_retention = 0.0

    # -- reading -----------------------------------------------------------------------
    def get(self, name: str) -> Deployment:
        return self.store.get(name)

    def list(self) -> builtins.list[Deployment]:
        return self.store.list_deployments()

    def events(self, name: str, *, limit: int = 100) -> builtins.list[DeploymentEvent]:
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000:
            raise InvalidArgumentError(f"limit: expected 1 to 10000, got {limit!r}",
                                       details={"field": "limit"})
        self.store.get(name)
        return self.store.events(name, limit=limit)

    def resolve(self, deployment: Deployment) -> dict[str, ModelVersion]:
        """The version each variant serves now (stages and aliases resolved)."""
        return {v.name: self.registry.resolve(ref_uri(deployment.model, v.ref))
                for v in deployment.variants}

    def resolve_one(self, deployment: Deployment, variant: Variant) -> int:
        """The version ``variant`` serves now."""
        if variant.ref.isdigit():
            return int(variant.ref)
        return self.registry.resolve(ref_uri(deployment.model, variant.ref)).version

    def stats(self, name: str, window: str | float = "5m") -> dict[str, VariantStats]:
        """Per-variant figures over the last ``window``, summed over every replica."""
        from modelplane.monitoring.windows import parse_duration

        seconds = parse_duration(window, field="window")
        self.store.get(name)
        out: dict[str, VariantStats] = {}
        for variant, _version, stats in self.store.read_stats(name, int(time.time() -
                                                                        seconds)):
            out.setdefault(variant, VariantStats()).add(stats)
        return out

    def stats_over_time(self, name: str, window: str | float = "1h", points: int = 60
                        ) -> tuple[builtins.list[float], dict[str, builtins.list[VariantStats]]]:
        """Per-variant figures per interval over the last ``window`` (at most ``points``
        intervals of whole seconds, all replicas): the intervals' starts (epoch seconds),
        and for each variant one :class:`VariantStats` per interval."""
        from modelplane.monitoring.windows import parse_duration

        seconds = parse_duration(window, field="window")
        self.store.get(name)
        step = max(1, math.ceil(seconds / max(points, 1)))
        now = int(time.time())
        first = now - int(seconds)
        first -= first % step
        starts = list(range(first, now + 1, step))
        out: dict[str, builtins.list[VariantStats]] = {}
        for at, variant, stats in self.store.read_stats_series(name, first, step):
            series = out.setdefault(variant, [VariantStats() for _ in starts])
            series[min(max((at - first) // step, 0), len(starts) - 1)].add(stats)
        return [float(s) for s in starts], out

    def _check_refs(self, model: str, variants: tuple[Variant, ...]) -> None:
        for v in variants:
            try:
                self.registry.resolve(ref_uri(model, v.ref))
            except NotFoundError as exc:
                raise NotFoundError(f"variant {v.name!r}: {exc.message}",
                                    details={**exc.details, "field": "routes",
                                             "variant": v.name}) from None

    # -- create, traffic, delete ---------------------------------------------------------
    def create(self, name: str, model: str, routes: Any = None, *, shadows: Any = None,
               key_field: str | None = None, description: str = "",
               actor: str = "") -> Deployment:
        """A deployment of ``model`` named ``name``; ``routes`` default to
        ``{"production": 100}``. Every ref must resolve now."""
        check_name(name)
        variants = parse_variants({"production": 100} if routes is None else routes, shadows)
        self.registry.get_model(model)
        self._check_refs(model, variants)
        now = utcnow()
        d = Deployment(id=new_id(), name=name, model=model, variants=variants,
                       key_field=check_key_field(key_field), canary=None, previous=None,
                       revision=1, description=str(description or ""), created_at=now,
                       updated_at=now)
        return self.store.create(d, NewEvent("created", f"routes {_show(variants)}", actor,
                                             {"variants": [v.to_dict() for v in variants]}))

    def set_traffic(self, name: str, routes: Any, *, shadows: Any = None,
                    key_field: str | None = None, actor: str = "",
                    reason: str = "") -> Deployment:
        """Replace the routes (and the shadows when given; else they stay)."""
        current = self.store.get(name)
        _no_canary(current, "set-traffic")
        keep = [v for v in current.shadows] if shadows is None else shadows
        variants = parse_variants(routes, keep)
        self._check_refs(current.model, variants)
        new_key = current.key_field if key_field is None else check_key_field(key_field)

        def change(d: Deployment) -> tuple[Deployment, list[NewEvent]]:
            _no_canary(d, "set-traffic")
            return d.evolve(variants=variants, key_field=new_key), [NewEvent(
                "traffic", reason or f"routes {_show(variants)}", actor,
                {"before": [v.to_dict() for v in d.variants],
                 "variants": [v.to_dict() for v in variants]})]
        return self.store.update(name, change)

    def delete(self, name: str, *, actor: str = "") -> None:
        self.store.delete(name)

    # -- blue/green and promotion ------------------------------------------------------
    def switch(self, name: str, to: str, *, actor: str = "", reason: str = "") -> Deployment:
        """Blue/green: send all traffic to variant ``to`` (or to a ref, added as a new
        variant) at once; the others stay loaded at weight 0 for an instant switch-back."""
        current = self.store.get(name)
        _no_canary(current, "a switch")
        target = current.variant(to) if isinstance(to, str) else None
        added: Variant | None = None
        if target is None:
            added = parse_variants([{"ref": to, "weight": 100}])[0]
            if current.variant(added.name) is not None:
                target, added = current.variant(added.name), None
            else:
                self._check_refs(current.model, (added,))
        if target is not None and target.shadow:
            raise InvalidArgumentError(f"to: {to!r} is a shadow; switch to a routed variant",
                                       details={"field": "to"})

        def change(d: Deployment) -> tuple[Deployment, list[NewEvent]]:
            _no_canary(d, "a switch")
            goal = added.name if added else target.name  # type: ignore[union-attr]
            variants = [Variant(v.name, v.ref, 100.0 if v.name == goal else 0.0, v.shadow)
                        if not v.shadow else v for v in d.variants]
            if added is not None:
                variants.insert(0, added)
            return d.evolve(variants=tuple(variants), previous=d.variants), [NewEvent(
                "switched", reason or f"all traffic to {goal}", actor,
                {"to": goal, "before": [v.to_dict() for v in d.variants]})]
        return self.store.update(name, change)

    def switch_back(self, name: str, *, actor: str = "", reason: str = "") -> Deployment:
        """Undo the last switch: the variants before it, at once."""
        def change(d: Deployment) -> tuple[Deployment, list[NewEvent]]:
            _no_canary(d, "a switch-back")
            if not d.previous:
                raise InvalidStateError(f"deployment {d.name!r} has no switch to undo",
                                        details={"deployment": d.name})
            return d.evolve(variants=d.previous, previous=d.variants), [NewEvent(
                "switched_back", reason or f"routes {_show(d.previous)}", actor,
                {"variants": [v.to_dict() for v in d.previous]})]
        return self.store.update(name, change)

    def promote(self, name: str, variant: str | None = None, *, actor: str = "",
                reason: str = "") -> Deployment:
        """With a canary running: finish it now, as if every step had passed. Otherwise:
        make ``variant`` the only route (default: the one with the most traffic)."""
        d = self.store.get(name)
        if d.canary is not None and d.canary.running:
            return self._complete(d, reason or f"promoted by {actor or 'a user'}", actor,
                                  kind="promoted")
        routes = d.routes
        chosen = d.variant(variant) if variant else max(routes, key=lambda v: v.weight)
        if chosen is None or chosen.shadow:
            raise NotFoundError(f"deployment {name!r} has no routed variant {variant!r}; it "
                                f"has {', '.join(v.name for v in routes)}",
                                details={"field": "variant", "variant": variant})

        def change(cur: Deployment) -> tuple[Deployment, list[NewEvent]]:
            _no_canary(cur, "promote")
            variants = (Variant(chosen.name, chosen.ref, 100.0), *cur.shadows)
            return cur.evolve(variants=variants, previous=cur.variants), [NewEvent(
                "promoted", reason or f"{chosen.name} takes all traffic", actor,
                {"variant": chosen.name, "before": [v.to_dict() for v in cur.variants]})]
        return self.store.update(name, change)

    # -- canary --------------------------------------------------------------------------
    def start_canary(self, name: str, version: int | str, *, baseline: str | None = None,
                     steps: Any = (5, 25, 50, 100), hold: str | float = "60s",
                     hold_requests: int = 0, min_requests: int = 20, gates: Any = None,
                     variant: str = "canary", promote_stage: str | None = None,
                     actor: str = "") -> Deployment:
        """Start a canary of ``version`` against ``baseline`` (default: the variant with
        the most traffic); see :class:`~modelplane.deployments.entities.Canary`."""
        from modelplane.monitoring.windows import parse_duration

        d = self.store.get(name)
        _no_canary(d, "another canary")
        spec_steps = analysis.parse_steps(steps)
        spec_gates = analysis.parse_gates(gates)
        hold_s = parse_duration(hold, field="hold")
        for field, value in (("hold_requests", hold_requests), ("min_requests", min_requests)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidArgumentError(f"{field}: expected a count >= 0, got {value!r}",
                                           details={"field": field})
        check_name(variant, "variant")
        if promote_stage is not None and promote_stage not in EXCLUSIVE:
            raise InvalidArgumentError(f"promote_stage: expected production or staging, got "
                                       f"{promote_stage!r}", details={"field": "promote_stage"})
        candidate = self.registry.resolve(ref_uri(d.model, normalise_ref(version, "version")))
        base = d.variant(baseline) if baseline else max(d.routes, key=lambda v: v.weight)
        if base is None or base.shadow or base.weight <= 0:
            raise InvalidArgumentError(f"baseline: {baseline!r} is not a routed variant with "
                                       "traffic", details={"field": "baseline"})
        if self.registry.resolve(ref_uri(d.model, base.ref)).version == candidate.version:
            raise InvalidArgumentError(f"version: the baseline {base.name!r} already serves "
                                       f"version {candidate.version}",
                                       details={"field": "version"})
        now = time.time()
        canary = Canary(candidate=variant, baseline=base.name, version=candidate.version,
                        steps=spec_steps, hold_seconds=hold_s, hold_requests=hold_requests,
                        min_requests=min_requests, gates=spec_gates,
                        baseline_weight=base.weight, started_at=now, step_started_at=now,
                        promote_stage=promote_stage)

        def change(cur: Deployment) -> tuple[Deployment, list[NewEvent]]:
            _no_canary(cur, "another canary")
            if cur.variant(variant) is not None:
                raise InvalidArgumentError(f"variant: deployment {name!r} already has a "
                                           f"variant named {variant!r}; pick another name",
                                           details={"field": "variant"})
            if cur.variant(base.name) != base:
                raise InvalidStateError(f"deployment {name!r} changed meanwhile; try again")
            variants = _with_step(cur.variants, canary, 0)
            return cur.evolve(variants=variants, canary=canary), [NewEvent(
                "canary_started", f"canary of version {candidate.version} against "
                f"{base.name}: steps {', '.join(f'{s:g}%' for s in spec_steps)}, hold "
                f"{hold_s:g} s", actor, {"canary": canary.to_dict()})]
        return self.store.update(name, change)

    def abort(self, name: str, *, reason: str = "", actor: str = "") -> Deployment:
        """Roll a running canary back to its baseline now."""
        why = reason or f"aborted by {actor or 'a user'}"
        return self._roll_back(name, None, why, actor, status="aborted")

    def fail_canary(self, name: str, reason: str, *, actor: str = "") -> Deployment:
        """Fail the running canary's gate from outside (an alert): roll it back."""
        return self._roll_back(name, None, reason, actor, status="rolled_back")

    def tick(self, name: str, *, now: float | None = None) -> analysis.Decision | None:
        """One analysis of ``name``'s running canary, applied; None when none runs."""
        d = self.store.get(name)
        c = d.canary
        if c is None or not c.running:
            return None
        now = time.time() if now is None else now
        cand, base = VariantStats(), VariantStats()
        for variant, _version, stats in self.store.read_stats(name, int(c.started_at)):
            if variant == c.baseline:
                base.add(stats)
        for variant, version, stats in self.store.read_stats(name, int(c.step_started_at)):
            if variant == c.candidate and version == c.version:
                cand.add(stats)
        base_version = None
        monitor = None
        if any(g.metric not in analysis.SERVING_METRICS for g in c.gates):
            base_version = self._version_of(d, c.baseline)
            monitor = self._monitor(d.model)
        decision = analysis.decide(c, cand, base, now, baseline_version=base_version,
                                   monitor=monitor)
        if decision.action == "advance":
            self._advance(name, c.step, decision, now)
        elif decision.action == "complete":
            self._complete(d, decision.reason, "controller", kind="canary_succeeded",
                           results=decision.results, step=c.step)
        elif decision.action == "rollback":
            self._roll_back(name, c.step, decision.reason, "controller",
                            status="rolled_back", results=decision.results)
        self._maybe_retention()
        return decision

    def _version_of(self, d: Deployment, variant: str) -> int | None:
        v = d.variant(variant)
        try:
            return self.registry.resolve(ref_uri(d.model, v.ref)).version if v else None
        except NotFoundError:
            return None

    def _monitor(self, model: str) -> analysis.Monitor | None:
        if self.figures is None:
            return None
        monitoring = self.figures()

        def value(metric: str, version: int, seconds: float) -> float | None:
            try:
                return monitoring.metric_value(model, metric, f"{max(1, int(seconds))}s",
                                               version)
            except ModelplaneError as exc:
                log.info("canary gate %s on %s: %s", metric, model, exc.message)
                return None
        return value

    def _advance(self, name: str, step: int, decision: analysis.Decision, now: float) -> None:
        def change(d: Deployment) -> tuple[Deployment, list[NewEvent]] | None:
            c = d.canary
            if c is None or not c.running or c.step != step:
                return None  # another replica decided first
            nc = c.evolve(step=step + 1, step_started_at=now, last_results=decision.results)
            return d.evolve(variants=_with_step(d.variants, nc, step + 1), canary=nc), [
                NewEvent("canary_advanced", decision.reason, "controller",
                         {"step": step + 1, "weight": nc.weight,
                          "gates": [r.to_dict() for r in decision.results]})]
        self.store.update(name, change)

    def _roll_back(self, name: str, step: int | None, reason: str, actor: str, *,
                   status: str, results: tuple[Any, ...] = ()) -> Deployment:
        def change(d: Deployment) -> tuple[Deployment, list[NewEvent]] | None:
            if step is not None and (d.canary is None or not d.canary.running
                                     or d.canary.step != step):
                return None
            c = _running(d)
            variants = tuple(Variant(v.name, v.ref, c.baseline_weight, v.shadow)
                             if v.name == c.baseline else v
                             for v in d.variants if v.name != c.candidate)
            nc = c.evolve(status=status, finished_at=time.time(), reason=reason,
                          last_results=tuple(results) or c.last_results)
            kind = "canary_aborted" if status == "aborted" else "canary_rolled_back"
            return d.evolve(variants=variants, canary=nc), [NewEvent(
                kind, reason, actor, {"version": c.version, "step": c.step,
                                      "gates": [r.to_dict() for r in results]})]
        return self.store.update(name, change)

    def _complete(self, d: Deployment, reason: str, actor: str, *, kind: str,
                  results: tuple[Any, ...] = (), step: int | None = None) -> Deployment:
        """The candidate takes the baseline's place: through the registry when the
        baseline names a stage or alias (the version is moved there first), else the
        baseline's ref is pinned to the candidate's version."""
        c = _running(d)
        base = d.variant(c.baseline)
        new_ref = str(c.version)
        events: list[NewEvent] = []
        stage = c.promote_stage or (base.ref if base and base.ref in EXCLUSIVE else None)
        if stage is not None:
            try:
                self.registry.set_stage(d.model, c.version, stage, actor=actor or "canary",
                                        reason=f"canary on deployment {d.name!r}: {reason}")
                if base is not None and base.ref == stage:
                    new_ref = stage
            except ModelplaneError as exc:
                events.append(NewEvent("stage_refused", exc.message, actor,
                                       {"stage": stage, "version": c.version}))
        elif base is not None and base.ref.startswith("@"):
            self.registry.set_alias(d.model, base.ref[1:], c.version, actor=actor or "canary")
            new_ref = base.ref

        def change(cur: Deployment) -> tuple[Deployment, list[NewEvent]] | None:
            if step is not None and (cur.canary is None or not cur.canary.running
                                     or cur.canary.step != step):
                return None
            cc = _running(cur)
            variants = tuple(Variant(v.name, new_ref, cc.baseline_weight, v.shadow)
                             if v.name == cc.baseline else v
                             for v in cur.variants if v.name != cc.candidate)
            nc = cc.evolve(status="succeeded", finished_at=time.time(), reason=reason,
                           last_results=tuple(results) or cc.last_results)
            return cur.evolve(variants=variants, canary=nc), [*events, NewEvent(
                kind, reason, actor, {"version": cc.version, "ref": new_ref,
                                      "gates": [r.to_dict() for r in results]})]
        return self.store.update(d.name, change)

    def _maybe_retention(self) -> None:
        if time.monotonic() - self._last_retention > 600:
            self._last_retention = time.monotonic()
            try:
                self.store.delete_stats_before(int(time.time() - STATS_RETENTION_S))
            except ModelplaneError as exc:
                log.warning("deployment stats retention failed: %s", exc.message)

    # -- evaluation gates (CI/CD for models) --------------------------------------------
    def set_eval_gates(self, model: str, gates: Any, *, dataset: str, target: str = "target",
                       stages: Any = ("staging", "production")) -> dict[str, Any]:
        """Gates a version of ``model`` must pass before it enters ``stages``: it and
        the stage's current holder are scored on ``dataset``; see ``gates``."""
        from modelplane.deployments.gates import check_config

        self.registry.get_model(model)
        config = check_config(gates, dataset=dataset, target=target, stages=stages)
        self.store.put_eval_gates(model, config)
        return config

    def get_eval_gates(self, model: str) -> dict[str, Any] | None:
        return self.store.get_eval_gates(model)

    def delete_eval_gates(self, model: str) -> None:
        self.store.put_eval_gates(model, None)

    def check_stage(self, model: str, version: int, stage: str) -> str:
        """Run ``model``'s evaluation gates for a move into ``stage`` (the registry calls
        this before the move). Returns a note for the audit log ("" without gates);
        raises ``InvalidStateError`` when a gate fails. The result is recorded on the
        version as tags either way."""
        config = self.store.get_eval_gates(model)
        if config is None or stage not in config.get("stages", ()):
            return ""
        if self.gate_sources is None:
            raise InvalidStateError("evaluation gates need models and run artifacts to "
                                    "score; this deployment service has none")
        from modelplane.deployments.gates import run_gates

        return run_gates(self.registry, self.gate_sources, config, model, version, stage)


def _with_step(variants: tuple[Variant, ...], c: Canary, step: int) -> tuple[Variant, ...]:
    """The variants at canary ``step``: the candidate first (so sticky keys only move
    baseline -> candidate), the baseline giving up the candidate's share."""
    share = c.steps[step] * c.baseline_weight / 100.0
    rest = [Variant(v.name, v.ref, c.baseline_weight - share, v.shadow)
            if v.name == c.baseline else v for v in variants if v.name != c.candidate]
    out = (Variant(c.candidate, str(c.version), share), *rest)
    check_weights(out)
    return out


def _show(variants: tuple[Variant, ...]) -> str:
    return ", ".join(f"{v.name}{'' if v.name == v.ref else ':' + v.ref}="
                     f"{v.weight:g}{' (shadow)' if v.shadow else ''}" for v in variants)
