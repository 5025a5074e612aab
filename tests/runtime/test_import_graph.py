"""The runtime's module graph: no circle of imports inside gochan/_runtime/,
and no module over LINE_LIMIT lines (issue 19).

Which imports count. Every import statement that can run counts, wherever
it is: at module level or inside a function. A lazy import that closes a
circle is still a circle: it only moves the moment the two modules need
each other from import time to call time, and the layering it hides is as
tangled as ever. Importing a submodule also counts as importing its
package (``import a.b`` runs ``a/__init__.py`` first), so a package whose
``__init__`` imports one of its submodules, even lazily, while that
submodule imports the package, is a circle too.

What does not count: imports under ``if TYPE_CHECKING:``. They never run;
they name a class for an annotation (a Task's ``sched: Scheduler``), which
is how a lower layer may mention the layer above it without depending on
it.

A module that must call up a layer is handed what it needs instead:
implicit mode's scheduler factory (``threads.set_implicit``, installed by
run.py), the coroutine functions behind ``Chan``'s async methods
(``chan.FACE``, filled by chan_async.py), and everything a blocking call
needs of the run loop through the task it parks (``task.sched.park``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

RUNTIME = Path(__file__).resolve().parents[2] / "gochan" / "_runtime"
PACKAGE = "gochan._runtime"
# No runtime module is longer than this (style.md: "a core file rarely
# passes 500 lines"; trio regrets its 3000-line _run.py).
LINE_LIMIT = 500


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(RUNTIME).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([PACKAGE, *parts])


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(RUNTIME.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _Imports(ast.NodeVisitor):
    """The runtime modules that one module imports (see the module docstring)."""

    def __init__(self, name: str, path: Path, modules: set[str]) -> None:
        self.modules = modules
        # The package that relative imports start from.
        self.package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        self.found: set[str] = set()

    def _add(self, target: str) -> None:
        # Importing a.b.c runs a/__init__, a/b/__init__ and then a/b/c.
        parts = target.split(".")
        for i in range(len(parts), 0, -1):
            prefix = ".".join(parts[:i])
            if prefix in self.modules:
                self.found.add(prefix)

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.package.split(".")
            if node.level > 1:
                base = base[: -(node.level - 1)]
            module = ".".join(base + ([node.module] if node.module else []))
        else:
            module = node.module or ""
        self._add(module)
        for alias in node.names:  # from pkg import submodule
            sub = f"{module}.{alias.name}"
            if sub in self.modules:
                self._add(sub)


def import_graph() -> dict[str, set[str]]:
    """Each runtime module -> the runtime modules it imports (itself excluded)."""
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        visitor = _Imports(name, path, set(modules))
        visitor.visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        graph[name] = visitor.found - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of the graph, as a closed path (first == last), or None."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(graph, WHITE)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = GREY
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if colour.get(nxt, BLACK) == GREY:
                return [*stack[stack.index(nxt) :], nxt]
            if colour.get(nxt) == WHITE:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        colour[node] = BLACK
        return None

    for start in sorted(graph):
        if colour[start] == WHITE:
            found = visit(start)
            if found:
                return found
    return None


def test_no_import_cycle_inside_the_runtime() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle inside gochan/_runtime: " + " -> ".join(
        m.removeprefix(PACKAGE + ".") for m in cycle
    )


def test_the_graph_is_read_as_documented() -> None:
    """The reader sees what the test relies on: function-level imports,
    relative imports of every form, implicit package imports; and it skips
    TYPE_CHECKING blocks. (So the cycle test cannot pass by reading too
    little.)"""
    g = import_graph()
    rt = PACKAGE + "."
    assert rt + "chan" in g[rt + "chan_async"]  # from .chan import ...
    assert rt + "backends.aio" in g[rt + "backends.catalog"]  # inside make_backend
    assert rt + "backends" in g[rt + "backends.aio"]  # from . import parked_coroutines
    assert rt + "backends" in g[rt + "run"]  # by way of backends.catalog: the package runs first
    assert rt + "scheduler" not in g[rt + "task"]  # only under TYPE_CHECKING there


def test_the_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"a"}}) == ["a", "a"]


def test_the_async_face_of_channels_imports_channels_not_the_reverse() -> None:
    g = import_graph()
    rt = PACKAGE + "."
    assert rt + "chan" in g[rt + "chan_async"]
    assert not {rt + "chan_async", rt + "bridge"} & g[rt + "chan"]


@pytest.mark.parametrize("name", sorted(_modules()), ids=lambda n: n.removeprefix(PACKAGE + "."))
def test_no_runtime_module_is_longer_than_the_limit(name: str) -> None:
    lines = len(_modules()[name].read_text(encoding="utf-8").splitlines())
    assert lines <= LINE_LIMIT, (
        f"{name} has {lines} lines (limit {LINE_LIMIT}): split it along a concept line"
    )
