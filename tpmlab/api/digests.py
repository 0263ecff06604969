"""A static check that a webhook verifier compares signatures in constant time.

Comparing a computed HMAC with ``==`` returns as soon as one character differs, so the time it
takes leaks how many leading characters of a forged signature were right. Over a network that
leak is small and noisy, and no grader probe can measure it reliably; so the assignment reads the
function's source instead. :func:`constant_time_problem` answers ``None`` when the function calls
``compare_digest`` (``hmac`` or ``secrets``) and never compares a computed digest with ``==``,
``!=``, ``in`` or ``not in``; otherwise it says what it found. A "computed digest" is a call to
``.hexdigest()``/``.digest()``/``hmac.new(...)``/``hmac.digest(...)``, or a name assigned from one.
"""

from __future__ import annotations

import ast
import inspect
import textwrap

_DIGEST_CALLS = {"hexdigest", "digest", "new"}
_COMPARE_OPS = (ast.Eq, ast.NotEq, ast.In, ast.NotIn)


def _call_name(node: ast.AST) -> str | None:
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def _makes_digest(node: ast.AST, tainted: set[str]) -> bool:
    """Whether ``node`` holds a computed digest (not looking inside compare_digest calls)."""
    name = _call_name(node)
    if name == "compare_digest":
        return False
    if name in _DIGEST_CALLS or (isinstance(node, ast.Name) and node.id in tainted):
        return True
    return any(_makes_digest(child, tainted) for child in ast.iter_child_nodes(node))


def _targets(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Tuple | ast.List):
        return [n for elt in node.elts for n in _targets(elt)]
    return []


def constant_time_problem_in_source(source: str) -> str | None:
    """``None`` if ``source`` (a function definition) compares digests in constant time."""
    try:
        tree = ast.parse(textwrap.dedent(source))
    except SyntaxError as error:
        return f"its source could not be parsed ({error.msg})"
    tainted: set[str] = set()
    changed = True
    while changed:  # names assigned from a digest, and names assigned from those
        changed = False
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign | ast.AnnAssign | ast.NamedExpr) and node.value:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if _makes_digest(node.value, tainted):
                    for name in (n for t in targets for n in _targets(t)):
                        if name not in tainted:
                            tainted.add(name)
                            changed = True
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(isinstance(op, _COMPARE_OPS) for op in node.ops):
            operands = [node.left, *node.comparators]
            if any(_makes_digest(operand, tainted) for operand in operands):
                line = ast.unparse(node)
                return f"it compares a computed digest with an ordinary operator: `{line}`"
    if not any(_call_name(node) == "compare_digest" for node in ast.walk(tree)):
        return "it never calls hmac.compare_digest"
    return None


def constant_time_problem(function) -> str | None:
    """``None`` if ``function`` compares digests in constant time, else what is wrong."""
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return (
            "its source code cannot be read (define it with `def` in a notebook cell, not with "
            "exec or a lambda)"
        )
    return constant_time_problem_in_source(source)
