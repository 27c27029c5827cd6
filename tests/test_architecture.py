"""The package's shape: eqn_core's sub-packages stack in one order, with no import circle and no import from a lower
layer up to a higher one, counting imports inside functions too (a lazy import that closes a loop is still a loop)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "eqn_core"
LAYERS = ("io", "method", "store", "review", "export", "runs", "scale", "cli")  # lowest first
MAX_MODULE_LINES = 450


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, modules: set[str], name: str) -> set[str]:
    """Every eqn_core module `path` imports anywhere in its body (module level, functions, TYPE_CHECKING blocks)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(parent + ([node.module] if node.module else []))
            # `from a.b import c` imports the module a.b.c when there is one, else a name of a.b
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        found.update(target for target in targets if target in modules and target != name)
    return found


def layer(module: str) -> int:
    """The rank of a module's sub-package; the package root (the public API) sits above every layer."""
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 else len(LAYERS)


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    paths = {module_name(path, package): path for path in package.rglob("*.py")}
    return {name: imported_modules(path, set(paths), name) for name, path in sorted(paths.items())}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


GRAPH = import_graph()


def test_every_module_belongs_to_a_layer():
    stray = [name for name in GRAPH if name != "eqn_core" and name.split(".")[1] not in LAYERS]
    assert not stray, f"modules outside the layers {LAYERS}: {stray}"


def test_no_import_circles():
    assert circles(GRAPH) == []


def test_no_import_from_a_lower_layer_up_to_a_higher_one():
    upward = [f"{source} -> {target}" for source, targets in GRAPH.items() for target in sorted(targets)
              if layer(target) > layer(source)]
    assert upward == []


def test_the_core_never_imports_the_app():
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(name.split(".")[0] in ("streamlit", "ui", "app_pages") for name in names), path


def test_sub_packages_hold_no_code_in_their_init():
    # the short public API is eqn_core/__init__.py alone; a sub-package's __init__ only says what it holds
    for path in PACKAGE.glob("*/__init__.py"):
        body = ast.parse(path.read_text(encoding="utf-8")).body
        assert len(body) == 1 and isinstance(body[0], ast.Expr), f"{path} holds more than its docstring"


@pytest.mark.parametrize("root", ["eqn_core", "ui"])
def test_modules_stay_short(root):
    long = {str(path.relative_to(REPO)): count for path in (REPO / root).rglob("*.py")
            if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert long == {}


def test_the_checker_finds_a_circle_and_an_upward_import(tmp_path):
    # the rule itself, on a made-up package: a function-level import that closes a loop counts
    package = tmp_path / "eqn_core"
    for sub in ("io", "store"):
        (package / sub).mkdir(parents=True)
        (package / sub / "__init__.py").write_text('"""doc"""\n')
    (package / "__init__.py").write_text("")
    (package / "io" / "a.py").write_text("def f():\n    from eqn_core.store.b import g\n")
    (package / "store" / "b.py").write_text("from eqn_core.io import a\n\ndef g():\n    pass\n")
    graph = import_graph(package)
    assert circles(graph) == [["eqn_core.io.a", "eqn_core.store.b"]]
    assert [(s, t) for s, ts in graph.items() for t in ts if layer(t) > layer(s)] == [("eqn_core.io.a",
                                                                                        "eqn_core.store.b")]
