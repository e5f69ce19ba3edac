"""``modelplane pipelines lineage`` as trees: a model version back to the steps and data that
made it, or a pipeline run forward to what it read, wrote and registered (``--json`` keeps
the full records)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.tree import Tree

    from modelplane.pipelines.artifacts import ArtifactRef
    from modelplane.pipelines.entities import PipelineRun, StepRun
    from modelplane.pipelines.service import ModelLineage

__all__ = ["model_tree", "run_tree"]

_STYLE = {"succeeded": "green", "cached": "cyan", "failed": "red", "running": "yellow"}


def _artifact(ref: ArtifactRef) -> str:
    meta = ref.meta or {}
    if "rows" in meta:
        shape = f"{meta['rows']} rows x {len(meta.get('columns') or [])} columns"
    elif meta.get("flavor"):
        shape = f"{meta['flavor']} model"
    else:
        shape = ref.type_name.rsplit(".", 1)[-1]
    return f"{ref.kind} {shape}, {_size(ref.size)} [dim]{ref.digest[:12]}[/]"


def _size(size: int) -> str:
    return f"{size / 1024:.1f} KiB" if size >= 1024 else f"{size} B"


def _step(step: StepRun) -> str:
    style = _STYLE.get(step.status, "")
    parts = [f"[bold]{step.name}[/] [{style}]{step.status}[/]"]
    if step.duration_s is not None:
        parts.append(f"{step.duration_s:.2f}s")
    if step.params:
        parts.append(" ".join(f"{k}={json.dumps(v)}" for k, v in step.params.items()
                              if not isinstance(v, list | dict)))
    if step.tracking_run_id:
        parts.append(f"[dim]tracking run {step.tracking_run_id}[/]")
    return " ".join(p for p in parts if p)


def _producers(run: PipelineRun, step: StepRun) -> dict[str, str]:
    """Input name -> the upstream step that produced it (from the run's graph)."""
    node = next((n for n in run.graph.get("nodes", []) if n["name"] == step.name), None)
    return {name: src[0] for name, src in (node or {}).get("inputs", {}).items()}


def _grow(branch: Any, run: PipelineRun, step: StepRun, seen: set[str]) -> None:
    """Each input of ``step`` under it, and under each input the step that made it."""
    steps = {s.name: s for s in run.steps}
    producers = _producers(run, step)
    for name, ref in step.inputs.items():
        source = producers.get(name)
        child = branch.add(f"{name} ← {source or 'given'}: {_artifact(ref)}")
        upstream = steps.get(source or "")
        if upstream is None:
            continue
        if upstream.name in seen:
            child.add(f"[dim]{_step(upstream)} (shown above)[/]")
            continue
        seen.add(upstream.name)
        _grow(child.add(_step(upstream)), run, upstream, seen)


def model_tree(lineage: ModelLineage) -> Tree:
    from rich.tree import Tree

    run = lineage.pipeline_run
    params = " ".join(f"{k}={json.dumps(v)}" for k, v in run.params.items())
    root = Tree(f"[bold]models:/{lineage.model}:{lineage.version}[/] ← pipeline "
                f"[bold]{run.pipeline}[/] run {run.id} ({run.status}) {params}")
    _grow(root.add(_step(lineage.step)), run, lineage.step, {lineage.step.name})
    if lineage.datasets:
        data = root.add("datasets")
        for ref in lineage.datasets:
            data.add(_artifact(ref))
    return root


def run_tree(run: PipelineRun, versions: dict[str, list[str]]) -> Tree:
    """The run's steps in graph order, each with what it read, wrote and registered."""
    from rich.tree import Tree

    params = " ".join(f"{k}={json.dumps(v)}" for k, v in run.params.items())
    root = Tree(f"pipeline [bold]{run.pipeline}[/] run {run.id} ({run.status}) {params}")
    producers_of = {s.name: _producers(run, s) for s in run.steps}
    for step in run.steps:
        branch = root.add(_step(step))
        for name, ref in step.inputs.items():
            branch.add(f"reads {name} ← {producers_of[step.name].get(name, 'given')}: "
                       f"{_artifact(ref)}")
        for name, ref in step.outputs.items():
            branch.add(f"writes {name}: {_artifact(ref)}")
        for uri in versions.get(step.name, []):
            branch.add(f"[bold green]registered {uri}[/]")
    return root
