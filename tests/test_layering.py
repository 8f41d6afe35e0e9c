"""The layering of ``notes/ARCHITECTURE.md``, read from the imports of ``src/vjepa_ac`` (ast).

Every ``import`` / ``from ... import`` of a ``vjepa_ac`` module counts: at module level, inside a
function (a deferred import is still a dependency) and under ``if TYPE_CHECKING:`` (a cycle
through type hints is still a cycle of the design). An import of ``vjepa_ac.a.b`` is an edge
to ``vjepa_ac.a.b``; its parent packages' ``__init__`` run too, which the transitive rules
below follow.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = SRC / "vjepa_ac"
TOP_LEVEL_OK = {"vjepa_ac", "vjepa_ac.config", "vjepa_ac.atomic"}  # version string, typed configs, atomic writes: used everywhere
# Lazy re-exports of names that moved up a layer (a module-level PEP 562 ``__getattr__`` that imports
# them on first access, for code outside the project): not a dependency of the module, so not an
# edge; test_lazy_reexports_stay_lazy checks that each one is only that.
LAZY_REEXPORTS = {("vjepa_ac.data.features", "vjepa_ac.encode")}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(node: ast.AST, package: str) -> set[str]:
    """Every module name an import node could mean (relative imports resolved)."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names}
    if not isinstance(node, ast.ImportFrom):
        return set()
    base = node.module or ""
    if node.level:
        parent = package.split(".")[: len(package.split(".")) - node.level + 1]
        base = ".".join(parent + ([base] if base else []))
    return {base} | {f"{base}.{a.name}" for a in node.names}


@cache
def import_graph() -> dict[str, frozenset[str]]:
    """module -> the vjepa_ac modules it imports."""
    files = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, frozenset[str]] = {}
    for name, path in files.items():
        tree = ast.parse(path.read_text(), str(path))
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        out: set[str] = set()
        lazy = {id(n) for f in tree.body if isinstance(f, ast.FunctionDef) and f.name == "__getattr__"
                for n in ast.walk(f) if any((name, m) in LAZY_REEXPORTS for m in _imported(n, package))}
        for node in ast.walk(tree):
            if id(node) in lazy:
                continue
            if isinstance(node, ast.Import):
                out |= {a.name for a in node.names if a.name.split(".")[0] == "vjepa_ac"}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parent + ([base] if base else []))
                if base.split(".")[0] != "vjepa_ac":
                    continue
                for a in node.names:
                    out.add(f"{base}.{a.name}" if f"{base}.{a.name}" in files else base)
        unknown = {m for m in out if m not in files}
        assert not unknown, f"{path}: imports of modules that do not exist: {sorted(unknown)}"
        graph[name] = frozenset(out - {name})
    return graph


def _parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def closure(module: str) -> set[str]:
    """Every vjepa_ac module that importing ``module`` runs (imports and their parent packages)."""
    graph, seen, todo = import_graph(), set(), [module]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        todo += [*graph[m], *_parents(m)]
    return seen - {module}


def _in(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def _subpackage(module: str) -> str:
    return ".".join(module.split(".")[:2])


def _violations(packages: tuple[str, ...], allowed) -> list[str]:
    return [f"{m} imports {d}" for m, deps in sorted(import_graph().items()) if _in(m, *packages)
            for d in sorted(deps) if not allowed(m, d)]


def test_data_imports_no_other_subpackage():
    bad = _violations(("vjepa_ac.data",), lambda m, d: _in(d, "vjepa_ac.data") or d in TOP_LEVEL_OK)
    assert not bad, bad


def test_models_import_only_models():
    bad = _violations(("vjepa_ac.models",), lambda m, d: _in(d, "vjepa_ac.models") or d in TOP_LEVEL_OK)
    assert not bad, bad


def test_plan_uses_models_poses_and_transforms_only():
    ok = ("vjepa_ac.plan", "vjepa_ac.models", "vjepa_ac.data.poses", "vjepa_ac.data.transforms")
    bad = _violations(("vjepa_ac.plan",), lambda m, d: _in(d, *ok) or d in TOP_LEVEL_OK)
    assert not bad, bad


def test_sim_uses_only_the_droid_writer_and_evaluate_takes_any_policy():
    ok = ("vjepa_ac.sim", "vjepa_ac.data.droid_writer", "vjepa_ac.data.droid_layout")
    bad = _violations(("vjepa_ac.sim",), lambda m, d: _in(d, *ok) or d in TOP_LEVEL_OK)
    assert not bad, bad


@pytest.mark.parametrize("module", ["vjepa_ac.plan", "vjepa_ac.sim", "vjepa_ac.load", "vjepa_ac.runs", "vjepa_ac.hub",
                                    "vjepa_ac.serve.server", "vjepa_ac.serve.service", "vjepa_ac.serve.loop",
                                    "vjepa_ac.client", "vjepa_ac.eval.sim", "vjepa_ac.eval.landscape",
                                    "vjepa_ac.eval.pictures", "vjepa_ac.rollout", "vjepa_ac.pictures",
                                    "vjepa_ac.calibrate"])
def test_planning_serving_and_loading_need_no_training_code(module):
    graph = import_graph()
    targets = [m for m in graph if _in(m, module)]
    bad = sorted({f"{t} -> {d}" for t in targets for d in closure(t) if _in(d, "vjepa_ac.train")})
    assert not bad, bad


@pytest.mark.parametrize("module", ["vjepa_ac.runs", "vjepa_ac.hub_layout", "vjepa_ac.official"])
def test_reading_runs_and_hub_folders_needs_no_hub_library(module):
    """``vjepa_ac.hub`` imports huggingface_hub (an optional extra) at import; the readers of runs
    and Hub folders must not reach it (``load.py`` imports it only for a Hub spec)."""
    assert "vjepa_ac.hub" not in closure(module)


def test_eval_does_not_import_serve():
    bad = _violations(("vjepa_ac.eval",), lambda m, d: not _in(d, "vjepa_ac.serve"))
    assert not bad, bad


def test_only_the_command_line_imports_the_calibrate_command():
    """``calibrate/`` sits on top (probes in the sim or recorded episodes, the model, the fit); what
    planning, serving and evaluation apply is the record in ``plan/calibration.py``."""
    bad = [f"{m} imports {d}" for m, deps in sorted(import_graph().items()) for d in sorted(deps)
           if _in(d, "vjepa_ac.calibrate") and not _in(m, "vjepa_ac.calibrate", "vjepa_ac.cli")]
    assert not bad, bad


def test_no_import_cycles():
    graph = import_graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_lazy_reexports_stay_lazy():
    """Importing a module with a lazy re-export does not import what it re-exports, and the
    re-exported names resolve (``vjepa_ac.data.features.EncodeConfig`` is ``vjepa_ac.encode``'s)."""
    import subprocess
    import sys

    for module, target in sorted(LAZY_REEXPORTS):
        code = (f"import sys, {module} as m; assert {target!r} not in sys.modules, 'eager'; "
                f"assert not any(k.startswith('vjepa_ac.models') for k in sys.modules), 'models loaded'; "
                f"import {target} as t; assert all(getattr(m, n) is getattr(t, n) for n in m.MOVED_TO_ENCODE)")
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr[-2000:]


def test_the_graph_sees_known_edges():
    """The parser finds real imports (a guard against a test that passes by reading nothing)."""
    graph = import_graph()
    assert "vjepa_ac.models.predictor" in graph["vjepa_ac.plan.world_model"]
    assert "vjepa_ac.runs" in graph["vjepa_ac.load"]
    assert "vjepa_ac.data.features" in graph["vjepa_ac.encode"]  # the encode job sits above data/
    assert _subpackage("vjepa_ac.train.loop") == "vjepa_ac.train"
    assert any(_in(d, "vjepa_ac.train") for d in closure("vjepa_ac.pipeline"))
