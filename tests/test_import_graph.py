"""The package's import graph: no cycles, imports flow one way through the layers, no module
longer than 600 lines.

The graph is read from the source (every ``import`` statement, function-level ones included,
since a function-level import is still a dependency; ``if TYPE_CHECKING:`` blocks are left out
because they never run). Layers, lowest first; a module may import its own layer or lower ones:

0. base: ``messjax`` (lazy ``__init__``), ``errors``, ``fileio``, ``paper``, ``core.names``
1. data: ``messjax.data``
2. features: ``messjax.features``
3. core: ``messjax.core`` (the engine, with the predictor it trains)
4. methods: ``messjax.lp``, ``messjax.baselines``, ``messjax.router``, ``messjax.theory``,
   ``messjax.metrics``
5. outputs: ``messjax.outputs`` (result files, traces, wandb, text tables, figures)
6. runs: ``messjax.runs`` (what the commands call) and ``messjax.serve`` (the live server)
7. commands: ``messjax.commands``, ``messjax.cli``, ``messjax.__main__``
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "messjax"
MAX_LINES = 600

#: (module prefix, layer); the longest matching prefix wins. ``messjax`` itself (the package's
#: lazy ``__init__``) is matched exactly, so a new top-level module must be given a layer here.
LAYERS: list[tuple[str, int]] = [
    ("messjax", 0),
    ("messjax.errors", 0),
    ("messjax.fileio", 0),
    ("messjax.paper", 0),
    ("messjax.core.names", 0),
    ("messjax.yamlfile", 0),
    ("messjax.data", 1),
    ("messjax.features", 2),
    ("messjax.core", 3),
    ("messjax.lp", 4),
    ("messjax.baselines", 4),
    ("messjax.router", 4),
    ("messjax.theory", 4),
    ("messjax.metrics", 4),
    ("messjax.outputs", 5),
    ("messjax.runs", 6),
    ("messjax.serve", 6),
    ("messjax.commands", 7),
    ("messjax.cli", 7),
    ("messjax.__main__", 7),
]
LAYER_NAMES = ["base", "data", "features", "core", "methods", "outputs", "runs", "commands"]


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _layer(module: str) -> int:
    best = max(
        (p for p, _ in LAYERS if module == p or (p != "messjax" and module.startswith(p + "."))),
        key=len,
        default=None,
    )
    if best is None:
        raise AssertionError(f"module {module} has no layer: add it to LAYERS")
    return dict(LAYERS)[best]


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                skip.update(id(n) for n in ast.walk(sub))
    return skip


def _imports(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    skip = _type_checking_nodes(tree)
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [target] + [f"{target}.{a.name}" for a in node.names]
        for name in names:
            if not name.startswith("messjax"):
                continue
            while name not in modules and "." in name:
                name = name.rsplit(".", 1)[0]
            if name in modules and name != module:
                found.add(name)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph = {m: _imports(m, p, modules) for m, p in modules.items()}
    # ``from messjax import x`` also names the package itself; the package's lazy __init__
    # imports nothing, so that edge carries no dependency
    for deps in graph.values():
        deps.discard("messjax")
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
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
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_graph_reader_sees_function_level_imports(tmp_path):
    src = tmp_path / "mod.py"
    src.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from messjax.runs import config\n"
        "def f():\n    from messjax.core import step\n    import messjax.errors\n"
    )
    modules = {"messjax.x": src, "messjax.core.step": src, "messjax.errors": src}
    assert _imports("messjax.x", src, modules) == {"messjax.core.step", "messjax.errors"}


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    cycles = _cycles(_graph())
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_imports_flow_down_the_layers():
    bad = []
    for module, deps in sorted(_graph().items()):
        for dep in sorted(deps):
            if _layer(dep) > _layer(module):
                bad.append(
                    f"{module} ({LAYER_NAMES[_layer(module)]}) imports {dep} "
                    f"({LAYER_NAMES[_layer(dep)]})"
                )
    assert not bad, "imports against the layer order:\n" + "\n".join(bad)


@pytest.mark.parametrize("module", sorted(_modules()))
def test_module_is_short(module):
    n = len(_modules()[module].read_text().splitlines())
    assert n <= MAX_LINES, f"{module} has {n} lines (at most {MAX_LINES})"
