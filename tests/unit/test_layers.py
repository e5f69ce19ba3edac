"""The package's floors hold: imports only point down, and no package imports in a loop.

Every ``import`` in ``src/modelplane`` counts, at module level, inside functions and under
``TYPE_CHECKING`` alike: a type-only import upward is still a dependency upward. The floors
are those of ``docs/architecture.md``::

    server/ cli/ workers/                      entry points (processes)
    client.py fluent.py                        the composition root
    remote/                                    REST-backed stores for the client
    serving/ monitoring/ pipelines/ deployments/   runtime capabilities
    migrate_mlflow/                            (importing history from MLflow)
    registry/ tracking/ features/ ops/ auth/   the catalogue (and backups of it), identities
    store/ artifacts/ flavors/ data/ cluster/  storage, model formats, shared data helpers,
                                               the Ray cluster connection
    core/                                      settings, errors, ids, time

A package may import the floors below its own. Sideways imports between packages of one
floor are allowed only as listed in ``SIDEWAYS`` (each with its reason), except among the
composition root and the entry points, which wire everything. Only the composition root
opens another capability's SQL store, and the package graph stays free of cycles.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import modelplane

ROOT = Path(modelplane.__file__).resolve().parent

FLOORS: dict[str, int] = {
    "__about__": 0, "core": 0,
    "store": 1, "artifacts": 1, "flavors": 1, "data": 1, "cluster": 1,
    "registry": 2, "tracking": 2, "features": 2, "ops": 2, "auth": 2,
    "serving": 3, "monitoring": 3, "pipelines": 3, "deployments": 3, "migrate_mlflow": 3,
    "remote": 4,
    "client": 5, "fluent": 5,
    "server": 6, "cli": 6, "workers": 6, "__main__": 6, "__init__": 6,
}
# Imports between packages on one floor: allowed pairs, and why.
SIDEWAYS: dict[tuple[str, str], str] = {
    ("serving", "monitoring"): "served answers go to monitoring's prediction log",
    ("deployments", "serving"): "a deployment routes requests over the serving runtime",
    ("deployments", "monitoring"): "alert actions and canary gates speak monitoring's types",
    ("pipelines", "monitoring"): "the retrain action speaks monitoring's action types",
}
WIRING_FLOORS = {5, 6}  # the composition root and the entry points
COMPOSITION = {"modelplane.client", "modelplane.fluent"}


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1] if len(parts) > 1 else parts
    return ".".join(parts)


def _imports(path: Path, as_module: str | None = None) -> list[tuple[str, int]]:
    """Every modelplane module ``path`` (or ``as_module``) imports, with the line."""
    tree = ast.parse(path.read_text(), filename=str(path))
    name = as_module or _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target == "modelplane":  # from modelplane import x: x may be a module
                found += [(f"modelplane.{a.name}", node.lineno) for a in node.names]
            else:
                found.append((target, node.lineno))
    return [(m, line) for m, line in found if m == "modelplane" or m.startswith("modelplane.")]


def _all_imports() -> list[tuple[str, str, int]]:
    edges = []
    for path in sorted(ROOT.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        source = _module_name(path)
        edges += [(source, target, line) for target, line in _imports(path)]
    return edges


def _is_module(name: str) -> bool:
    parts = name.split(".")[1:]
    base = ROOT.joinpath(*parts)
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def test_no_module_below_the_entry_points_imports_client_or_fluent() -> None:
    bad = [f"{src} imports {dst} (line {line})" for src, dst, line in _all_imports()
           if any(dst == c or dst.startswith(c + ".") for c in COMPOSITION)
           and FLOORS.get(_package(src), 0) < FLOORS["server"]
           and src not in COMPOSITION and src != "modelplane"]
    assert bad == [], "\n".join(bad)


def test_imports_only_point_down() -> None:
    bad = []
    for src, dst, line in _all_imports():
        a, b = _package(src), _package(dst)
        if a == b or (not _is_module(dst) and b not in FLOORS):
            continue
        fa, fb = FLOORS.get(a), FLOORS.get(b)
        assert fa is not None and fb is not None, f"unknown package {a or b}: add it to FLOORS"
        if fb > fa or (fb == fa and fa not in WIRING_FLOORS and (a, b) not in SIDEWAYS):
            bad.append(f"{src} ({a}, floor {fa}) imports {dst} ({b}, floor {fb}), line {line}")
    assert bad == [], "\n".join(bad)


def test_only_the_composition_root_opens_another_capabilitys_sql_store() -> None:
    bad = [f"{src} imports {dst} (line {line})" for src, dst, line in _all_imports()
           if dst.rpartition(".")[2] == "sql" and _package(src) != _package(dst)
           and FLOORS.get(_package(src), 0) < FLOORS["client"]]
    assert bad == [], "\n".join(bad)


def test_no_import_loop_between_packages() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for src, dst, _line in _all_imports():
        a, b = _package(src), _package(dst)
        if a != b and a != "__init__":
            graph[a].add(b)
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*path[path.index(nxt):], nxt]))
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == [], "\n".join(cycles)


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    """The walker itself: an import of the client inside a function, under
    TYPE_CHECKING and relative to a module in serving/ is caught each way."""
    probe = tmp_path / "probe.py"
    probe.write_text("from typing import TYPE_CHECKING\n"
                     "if TYPE_CHECKING:\n    from modelplane.client import Client\n"
                     "def f():\n    from ..fluent import default_client\n"
                     "    import modelplane.client\n")
    found = sorted(_imports(probe, as_module="modelplane.serving.probe"), key=lambda x: x[1])
    assert [m for m, _ in found] == ["modelplane.client", "modelplane.fluent",
                                     "modelplane.client"]
