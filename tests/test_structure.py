"""The package's import structure: an acyclic import graph, and modules that import on their own."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import eisnn

PACKAGE_DIR = Path(eisnn.__file__).parent


def _modules() -> dict[str, tuple[Path, bool]]:
    """{dotted name: (file, is a package)} for every module of src/eisnn."""
    modules = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        modules[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return modules


def _imported(module: str, path: Path, is_package: bool, known) -> set[str]:
    """The eisnn modules that `module` imports anywhere in its source (lazy imports included)."""
    package = module if is_package else module.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            # `from .pkg import name` imports the submodule pkg.name when there is one.
            targets.update(f"{source}.{a.name}" if f"{source}.{a.name}" in known else source for a in node.names)
    return {target for target in targets if target in known and target != module}


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imported(name, path, is_package, modules) for name, (path, is_package) in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of `graph` as [a, b, ..., a], or None."""
    state: dict[str, str] = {}

    def visit(node, path):
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return path[path.index(target) :] + [target]
            if target not in state and (found := visit(target, path + [target])):
                return found
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


def test_the_graph_walk_sees_relative_lazy_and_package_imports():
    graph = import_graph()
    assert {"eisnn.backends", "eisnn.backends.common", "eisnn.params"} <= graph["eisnn.model"]
    assert {"eisnn.backends.compiled", "eisnn.backends.torch_ops"} <= graph["eisnn.backends"]  # lazy
    assert {"eisnn.kernels", "eisnn.surrogates", "eisnn.backends.common"} <= graph["eisnn.backends.compiled"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]


def test_import_graph_of_the_package_is_acyclic():
    assert _cycle(import_graph()) is None


def test_simulation_layers_import_one_way():
    """model → backends → (compiled | torch_ops) → common; the lower layers never import upwards."""
    graph = import_graph()
    upper = {"eisnn.model", "eisnn.backends", "eisnn.backends.compiled", "eisnn.backends.torch_ops"}
    for lower in ("eisnn.backends.common", "eisnn.surrogates", "eisnn.kernels"):
        assert not graph[lower] & upper, lower
    assert "eisnn.backends.compiled" not in graph["eisnn.backends.torch_ops"]
    assert "eisnn.backends.torch_ops" not in graph["eisnn.backends.compiled"]


FRESH = {
    # module: heavy libraries that importing it alone must not import
    "eisnn.surrogates": ("torch", "numba"),
    "eisnn.model": ("numba",),
    "eisnn.backends": ("numba",),
    "eisnn.backends.common": ("numba",),
    "eisnn.backends.torch_ops": ("numba",),
    "eisnn.backends.compiled": (),
    "eisnn.kernels": ("torch",),
}


def test_each_simulation_module_imports_in_a_fresh_interpreter():
    script = "import importlib, json, sys; importlib.import_module(sys.argv[1]); print(json.dumps(sorted(sys.modules)))"
    runs = {
        module: subprocess.Popen(
            [sys.executable, "-c", script, module], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for module in FRESH
    }
    for module, run in runs.items():
        out, err = run.communicate(timeout=300)
        assert run.returncode == 0, f"import {module} failed:\n{err}"
        loaded = set(json.loads(out))
        assert not loaded & set(FRESH[module]), f"{module} imports {sorted(loaded & set(FRESH[module]))}"

