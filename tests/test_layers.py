"""The packages' layering, read from the source (ast): imports only go down, and ``pipelines`` has no circle,
between its modules or between its rooms (sub-packages).

``inr_core`` (the library) <- ``gadgets`` (ISMRMRD adapters) <- ``pipelines`` (hosts, commands): a module
may import its own package and the ones below it, never one above (docs/architecture.md). Every import
counts, those inside functions too: a lazy import is still a dependency, only a later one.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("inr_core", "gadgets", "pipelines")  # each may import only itself and the ones before it


def modules(package: str) -> dict[str, Path]:
    out = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports(name: str, path: Path) -> set[str]:
    """Every module ``name`` imports, by absolute name (relative imports resolved)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            # ``from pkg import module`` imports the module pkg.module
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


ALL = {name: path for package in LAYERS for name, path in modules(package).items()}


def _project(module: str) -> str | None:
    """The project module ``module`` names (itself, or the package of a name imported from it), or None."""
    while module and module not in ALL:
        module = module.rpartition(".")[0]
    return module or None


def graph() -> dict[str, set[str]]:
    return {name: {m for i in imports(name, path) if (m := _project(i)) is not None and m != name}
            for name, path in ALL.items()}


def test_imports_only_go_down():
    upward = []
    for name, targets in graph().items():
        layer = LAYERS.index(name.split(".")[0])
        upward += [f"{name} imports {t}" for t in sorted(targets) if LAYERS.index(t.split(".")[0]) > layer]
    assert not upward, "imports going up (inr_core <- gadgets <- pipelines):\n" + "\n".join(upward)


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
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

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_no_import_circle_inside_pipelines():
    edges = {name: {t for t in targets if t.startswith("pipelines") and t != "pipelines"}
             for name, targets in graph().items() if name.startswith("pipelines")}
    found = cycles(edges)
    assert not found, "import circles inside pipelines:\n" + "\n".join(" <-> ".join(c) for c in found)


def room(module: str) -> str:
    """The room of a ``pipelines`` module: its sub-package (``pipelines.files``), or itself at the top."""
    parts = module.split(".")
    return ".".join(parts[:2])


def test_no_import_circle_between_the_rooms_of_pipelines():
    # The rooms (files <- streaming <- commands <- the benches; docs/architecture.md) are layered too:
    # no circle even where each module-level edge alone would be fine.
    edges: dict[str, set[str]] = {}
    for name, targets in graph().items():
        if name.startswith("pipelines."):
            edges.setdefault(room(name), set()).update(
                room(t) for t in targets if t.startswith("pipelines.") and room(t) != room(name))
    found = cycles(edges)
    assert not found, "import circles between rooms of pipelines:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_the_checks_see_imports_and_circles():
    # The two checks would catch what they look for: a known downward import, and a made-up circle.
    assert "inr_core.settings" in graph()["gadgets.base"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert room("pipelines.streaming.host") == "pipelines.streaming" and room("pipelines.cli") == "pipelines.cli"
