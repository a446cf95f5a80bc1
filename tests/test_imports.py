"""The package's modules import each other without a cycle.

Every import counts, module-level or inside a function (an import moved into a function to dodge
a cycle is still one); imports under ``if TYPE_CHECKING:`` do not, as they never run. Importing
``a.b.c`` also imports the packages ``a.b`` and ``a``; a package the importing module lies in counts
only when the module reads a name from it (``from a.b import f`` inside ``a.b.c``), since it is
imported before the module anyway.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest


def _modules() -> dict[str, Path]:
    """Every module of the installed package, by dotted name (``midi2img.gtzan`` and the other
    folders mapped into it included)."""
    import midi2img
    import midi2img.gtzan

    out: dict[str, Path] = {}
    for pkg in (midi2img, midi2img.gtzan):
        root = Path(pkg.__file__).resolve().parent
        for p in root.rglob("*.py"):
            parts = p.relative_to(root).with_suffix("").parts
            out[".".join((pkg.__name__, *parts)).removesuffix(".__init__")] = p
    return out


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                for n in ast.walk(sub):
                    if hasattr(n, "lineno"):
                        lines.add(n.lineno)
    return lines


def _with_parents(name: str) -> set[str]:
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)}


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports."""
    files = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_checking_lines(tree)
        explicit: set[str] = set()  # the modules named, or whose names are read
        implicit: set[str] = set()  # the packages above them, imported on the way
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) in skip:
                continue
            if isinstance(node, ast.Import):
                for a in node.names:
                    explicit.add(a.name)
                    implicit |= _with_parents(a.name)
            elif isinstance(node, ast.ImportFrom) and node.module:
                base = node.module
                if node.level:  # relative: from the module's own package
                    pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
                    for _ in range(node.level - 1):
                        pkg = pkg.rpartition(".")[0]
                    base = f"{pkg}.{base}"
                implicit |= _with_parents(base)
                for a in node.names:
                    sub = f"{base}.{a.name}"
                    explicit.add(sub if sub in files else base)
        edges = explicit | (implicit - _with_parents(name))
        graph[name] = {m for m in edges if m in files and m != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_graph_sees_every_kind_of_import() -> None:
    g = import_graph()
    assert "midi2img.stages.base" in g["midi2img.stages"]  # from-import of a package's module
    assert "midi2img.gtzan.model" in g["midi2img.rules"]  # a folder mapped into the package
    assert "midi2img.stages" in g["midi2img.analysis"]
    # an import inside a function counts; one under TYPE_CHECKING does not
    assert "midi2img.prompt" in g["midi2img.analysis"]
    assert "midi2img.analysis" not in g["midi2img.stages.base"]


def test_cycles_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("package", ["midi2img"])
def test_the_package_has_no_import_cycle(package: str) -> None:
    found = cycles(import_graph())
    assert found == [], "import cycles: " + "; ".join(" <-> ".join(c) for c in found)
