"""Whether a learner's function computes a metric itself or hands it to ``tpmlab.shipping``.

Part A of the Module 7 assignment asks for the DORA metrics written with pandas; the lesson's
package (:mod:`tpmlab.shipping.dora`) computes them in one call, so a check that only compares
numbers cannot tell the two apart. :func:`package_use_problem` reads the function's source
(``inspect.getsource``, as :func:`tpmlab.api.digests.constant_time_problem` does) and answers
``None`` when it finds no use of the package, otherwise what it found:

* an ``import`` of ``tpmlab.shipping`` or a submodule (``import tpmlab.shipping.dora as d``,
  ``from tpmlab.shipping import dora``, ``from tpmlab import shipping``), or a string naming it
  (``importlib.import_module("tpmlab.shipping.dora")``);
* attribute access that reaches it from a name bound to a module (``tpmlab.shipping.dora.load``
  after ``import tpmlab``), whether the name was bound inside the function or in the notebook;
* a name of the notebook's globals (or a closure variable) that *is* the package, a module of
  it, or something defined in it (``dora`` after ``from tpmlab.shipping import dora`` in an
  earlier cell, or ``by_service`` after ``from tpmlab.shipping.dora import by_service``);
* the same in a helper function of the notebook that the function calls (followed by name).
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import textwrap
import types

PACKAGE = "tpmlab.shipping"


def _forbidden(dotted: str) -> bool:
    return dotted == PACKAGE or dotted.startswith(PACKAGE + ".")


def _from_package(obj) -> str | None:
    """The dotted name of ``tpmlab.shipping`` that ``obj`` is or comes from, or ``None``."""
    if isinstance(obj, types.ModuleType):
        return obj.__name__ if _forbidden(obj.__name__) else None
    try:
        module = getattr(obj, "__module__", None)
    except Exception:  # an object whose attribute lookup fails is not the package's
        return None
    return module if isinstance(module, str) and _forbidden(module) else None


def _dotted(node: ast.AST) -> list[str] | None:
    """``a.b.c`` as ``["a", "b", "c"]`` when the chain starts at a name, else ``None``."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return [node.id, *reversed(parts)]


def _local_modules(tree: ast.AST) -> dict[str, str]:
    """Names that ``import`` statements inside the source bind, to the module they bind."""
    bound = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    bound[alias.asname] = alias.name
                else:
                    first = alias.name.split(".")[0]
                    bound[first] = first
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return bound


def package_use_problem_in_source(
    source: str,
    namespace: dict | None = None,
    *,
    module: str | None = None,
    _seen: set | None = None,
) -> str | None:
    """``None`` if ``source`` (a function definition) does not use ``tpmlab.shipping``.

    ``namespace`` holds the names the function sees besides its own (the notebook's globals and
    its closure variables); helpers found there that were defined in ``module`` (the notebook's,
    ``__main__``; default: any) are checked too, library functions are not.
    """
    namespace = namespace or {}
    seen = _seen if _seen is not None else set()
    try:
        tree = ast.parse(textwrap.dedent(source))
    except SyntaxError as error:
        return f"its source could not be parsed ({error.msg})"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _forbidden(alias.name):
                    return f"imports {alias.name}"
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            if _forbidden(node.module):
                return f"imports from {node.module}"
            for alias in node.names:
                if _forbidden(f"{node.module}.{alias.name}"):
                    return f"imports {node.module}.{alias.name}"
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and _forbidden(node.value.strip())
        ):
            return f"names the module {node.value.strip()}"
    local = _local_modules(tree)
    for node in ast.walk(tree):
        chain = _dotted(node) if isinstance(node, ast.Attribute) else None
        if chain:
            root = chain[0]
            if root in local:
                base = local[root]
            elif isinstance(namespace.get(root), types.ModuleType):
                base = namespace[root].__name__
            else:
                base = None
            if base is not None and _forbidden(".".join([base, *chain[1:]])):
                return f"uses {'.'.join(chain)}, which is in {PACKAGE}"
    for node in ast.walk(tree):
        if not isinstance(node, ast.Name) or node.id not in namespace:
            continue
        obj = namespace[node.id]
        origin = _from_package(obj)
        if origin is not None:
            return f"uses {node.id}, which comes from {origin}"
        helper = isinstance(obj, types.FunctionType) and (
            module is None or obj.__module__ == module
        )
        if helper and id(obj) not in seen:
            seen.add(id(obj))
            problem = _function_problem(obj, seen)
            if problem is not None and not problem.startswith("its source"):
                return f"calls {node.id}, which {problem}"
    return None


def _namespace(function) -> dict:
    names = dict(getattr(function, "__globals__", {}))
    with contextlib.suppress(TypeError, ValueError):
        names.update(inspect.getclosurevars(function).nonlocals)
    return names


def _function_problem(function, seen: set) -> str | None:
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return (
            "its source code cannot be read (define it with `def` in a notebook cell, not with "
            "exec or a lambda)"
        )
    return package_use_problem_in_source(
        source, _namespace(function), module=function.__module__, _seen=seen
    )


def package_use_problem(function) -> str | None:
    """``None`` if ``function`` (and the notebook helpers it calls) does not use
    ``tpmlab.shipping``, else what it found, as a phrase that follows the function's name."""
    return _function_problem(function, {id(function)})
