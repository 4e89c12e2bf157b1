"""The library's layout rules (HACKING.md, Layout): module size, no import cycle, layering.

Imports are read with `ast` (nothing is imported), so this test is fast and
sees lazy imports inside functions too.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = ROOT / "deeptrash"
MAX_LINES = 500
# Layers, lowest first. A module may import its own group and any LOWER layer;
# groups in the same layer (scrape, clean, synth) never import each other.
# Top-level modules (errors, schema, params, synth_params, io, photos, plots, overlays, cli) are the base.
LAYERS = {"base": 0, "scrape": 1, "clean": 1, "synth": 1, "learn": 2, "measure": 3}


def module_name(path: Path) -> str:
    """deeptrash/synth/recipe.py -> deeptrash.synth.recipe; a package's __init__.py -> the package."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def library_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(LIBRARY.rglob("*.py"))}


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """The deeptrash modules a file imports (anywhere in it), resolved to known module names."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from pkg import mod` imports pkg.mod when that is a module, else a name of pkg.
            names = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in known else node.module
                     for alias in node.names]
        else:
            continue
        found.update(n for n in names if n.split(".")[0] in ("deeptrash", "stages", "tests", "bench"))
    return found


def group(module: str) -> str:
    """The layout group of a library module: its subpackage, or 'base' for a top-level module."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYERS) else "base"


def layering_errors(graph: dict[str, set[str]]) -> list[str]:
    errors = []
    for module, targets in graph.items():
        for target in targets:
            if not target.startswith("deeptrash"):
                errors.append(f"{module} imports {target}: the library never imports stages, tests or bench")
                continue
            mine, theirs = group(module), group(target)
            if theirs not in LAYERS or mine not in LAYERS:
                errors.append(f"{module} or {target} is in no layer of LAYERS")
            elif mine != theirs and LAYERS[theirs] >= LAYERS[mine]:
                errors.append(f"{module} ({mine}) imports {target} ({theirs}): not a lower layer")
    return errors


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None (depth-first search)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = library_modules()
    known = set(modules)
    return {name: imported_modules(path, known) - {name} for name, path in modules.items()}


def test_no_library_module_is_too_long():
    long = {name: n for name, path in library_modules().items()
            if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines (split them): {long}"


def test_packages_hold_no_code():
    """A package's __init__.py is a docstring only, so importing one module loads no other
    (and dvc.yaml deps need not list the __init__ files)."""
    for name, path in library_modules().items():
        if path.name == "__init__.py":
            body = ast.parse(path.read_text()).body
            assert all(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) for n in body), name


def test_the_import_graph_has_no_cycle(graph):
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_every_module_imports_only_lower_layers(graph):
    assert not layering_errors(graph), "\n".join(layering_errors(graph))


def test_the_checks_catch_violations():
    """The rules above are live: a higher import, a sibling import and a cycle are all reported."""
    assert layering_errors({"deeptrash.io": {"deeptrash.synth.recipe"}})
    assert layering_errors({"deeptrash.clean.crop": {"deeptrash.synth.augment"}})
    assert layering_errors({"deeptrash.learn.model": {"deeptrash.measure.metrics"}})
    assert layering_errors({"deeptrash.io": {"tests.test_io"}})
    assert not layering_errors({"deeptrash.measure.audit": {"deeptrash.learn.inference", "deeptrash.io"}})
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_bench_does_not_import_tests():
    for path in sorted((ROOT / "bench").glob("*.py")):
        assert not any(t.startswith("tests") for t in imported_modules(path, set())), path.name


# Modules that only word a failure (one-line errors, exit status): editing them changes no output.
MESSAGES_ONLY = {"deeptrash/errors.py", "deeptrash/cli.py"}


def stage_code(script: Path, modules: dict[str, Path]) -> set[str]:
    """The library files a stage script runs: its import closure, as repo-relative paths."""
    known, seen, todo = set(modules), set(), [script]
    while todo:
        for name in imported_modules(todo.pop(), known):
            if name in modules and name not in seen:
                seen.add(name)
                todo.append(modules[name])
    return {str(modules[n].relative_to(ROOT)) for n in seen if modules[n].name != "__init__.py"}


def test_dvc_yaml_lists_exactly_the_code_each_stage_runs():
    """Editing a module re-runs every stage that runs it, and no other (HACKING.md)."""
    import yaml

    modules = library_modules()
    for name, stage in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"].items():
        stage = stage.get("do", stage)
        script = ROOT / (stage["cmd"].split()[2].replace(".", "/") + ".py")   # python -m stages.<name> ...
        listed = {d for d in stage["deps"] if d.startswith("deeptrash/")}
        runs = stage_code(script, modules) - MESSAGES_ONLY
        assert listed == runs, f"{name}: missing {sorted(runs - listed)}, not run {sorted(listed - runs)}"


def test_the_stage_code_check_follows_lazy_imports():
    modules = library_modules()
    train = stage_code(ROOT / "stages" / "train.py", modules)
    assert "deeptrash/learn/selftrain.py" in train and "deeptrash/synth_params.py" in train
    assert "deeptrash/measure/metrics.py" not in train
