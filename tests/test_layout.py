"""The package's shape: no import cycle among the modules of ``tpmlab/``, and no module so long
that it holds more than one job (600 lines).

The import graph counts every ``import`` a module makes, at its top or inside a function (an
import deferred into a function still ties the two modules together)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tpmlab"
MAX_LINES = 600


def _modules() -> dict[str, Path]:
    """Dotted name -> file of every module of the package (a package is its ``__init__``)."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of the package it imports."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    here = name.split(".") if is_package else name.split(".")[:-1]
                    here = here[: len(here) - (node.level - 1)]
                    base = ".".join([*here, base] if base else here)
                targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
            for target in targets:
                # the longest prefix that is a module of the package
                parts = target.split(".")
                while parts and ".".join(parts) not in modules:
                    parts.pop()
                found = ".".join(parts)
                if parts and found != name:
                    graph[name].add(found)
    # ``from pkg import module`` also names pkg: keep only the module when both are there
    for name, targets in graph.items():
        graph[name] = {t for t in targets if not any(o.startswith(t + ".") for o in targets)}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (each holds an import cycle)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert import_cycles(graph) == [["a", "b", "c"]]
    assert import_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_tpmlab_grading():
    graph = import_graph()
    assert "tpmlab.grading.judge" in graph["tpmlab.grading.keys"]  # the graph sees imports
    grading = [c for c in import_cycles(graph) if any(m.startswith("tpmlab.grading") for m in c)]
    assert grading == []


def test_no_import_cycle_in_tpmlab():
    assert import_cycles(import_graph()) == []


def _long_files() -> list[str]:
    return sorted(
        f"{p.relative_to(PACKAGE.parent)} ({n} lines)"
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    )


def test_no_module_over_600_lines():
    assert _long_files() == []


def test_the_grading_package_docstring_names_every_module():
    import tpmlab.grading

    grading = PACKAGE / "grading"
    names = {p.stem for p in grading.rglob("*.py") if p.stem != "__init__"}
    names |= {p.name for p in grading.iterdir() if (p / "__init__.py").exists()}
    missing = sorted(n for n in names if f"``{n}``" not in tpmlab.grading.__doc__)
    assert missing == [], f"tpmlab/grading/__init__.py does not say what {missing} are for"
