"""Feedback helpers for public checks in exercises: compare an answer, explain the mistake.

A public check should tell a learner *what* is wrong and *what to try*, never just fail. These
helpers raise :class:`tpmlab.errors.CheckFailed` (an ``AssertionError``, so nbgrader scores the
cell 0) with such a message, and print a short confirmation when the answer passes.

Module-specific checks (SQL result sets, API clients...) build on these.

Lessons' ungraded **Try it** cells use :func:`try_it` instead: it never raises (a lesson must run
top to bottom), prints "Your turn" while the learner's answer is still the placeholder, "Not yet"
with a hint while it is wrong, and the tick only once it is right. A lesson is released with the
placeholder in place, so its self-check must not tick before the learner writes anything:
``make test`` sets ``TPMLAB_STRICT_TRY_IT=1`` while it runs the lessons, and then a self-check
that passes on the released lesson raises :class:`SolvedTryIt`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from numbers import Real

from tpmlab.errors import CheckFailed

__all__ = [
    "CheckFailed",
    "check",
    "check_defined",
    "check_number",
    "check_type",
    "check_choice",
    "passed",
    "try_it",
    "SolvedTryIt",
]

#: What a passing public check's line starts with; feedback keeps exactly the lines that do
#: (:func:`is_passed_line`), so the learner sees their passed checks and nothing else printed.
TICK = "✅"

#: Environment variable that turns a Try-it self-check passing on the released lesson into an error.
STRICT_TRY_IT = "TPMLAB_STRICT_TRY_IT"


def passed(name: str) -> None:
    """Print the success line shown under a passing public check."""
    print(f"{TICK} {name}: public checks passed.")


def is_passed_line(line: str) -> bool:
    """Whether a printed line is a passed check's own line (see :data:`TICK`)."""
    return line.startswith(TICK)


def check(condition: bool, message: str) -> None:
    """Fail with ``message`` unless ``condition`` holds."""
    if not condition:
        raise CheckFailed(message)


def check_defined(namespace: dict, *names: str) -> None:
    """Fail with a clear message if an answer variable was never set or left as ``...``."""
    for name in names:
        if name not in namespace:
            raise CheckFailed(
                f"`{name}` is not defined. Run the answer cell above (Shift+Enter) after "
                "writing your answer, then run this check again."
            )
        if namespace[name] is Ellipsis:
            raise CheckFailed(f"`{name}` is still `...`: replace it with your answer.")


def check_type(value, expected: type | tuple[type, ...], name: str) -> None:
    """Fail if ``value`` is not of the expected type, naming what was found."""
    if isinstance(value, bool) and expected in (int, float, Real):
        raise CheckFailed(f"`{name}` should be a number, but it is {value!r} (True/False).")
    if not isinstance(value, expected):
        wanted = (
            " or ".join(t.__name__ for t in expected)
            if isinstance(expected, tuple)
            else expected.__name__
        )
        article = "an" if wanted[0] in "aeiou" else "a"
        hint = ""
        if type(value).__module__ == "numpy" and hasattr(value, "item"):
            # a value read out of a DataFrame (df["col"].iloc[0]) is numpy's, not Python's
            first = expected[0] if isinstance(expected, tuple) else expected
            hint = (
                f" A value taken out of a DataFrame is numpy's {type(value).__name__}: convert "
                f"it with {first.__name__}(...), for example {first.__name__}(df['col'].iloc[0])."
            )
        raise CheckFailed(
            f"`{name}` should be {article} {wanted}, but it is a {type(value).__name__}: "
            f"{value!r:.80}.{hint}"
        )


def _as_float(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        try:
            import numpy as np

            if isinstance(value, np.generic) and np.issubdtype(value.dtype, np.number):
                return float(value)
        except ImportError:  # pragma: no cover - numpy is a dependency
            pass
        raise CheckFailed(
            f"`{name}` should be a number, but it is a {type(value).__name__}: {value!r:.80}."
        )
    result = float(value)
    if math.isnan(result):
        raise CheckFailed(f"`{name}` is NaN (not a number): check for a division by zero.")
    return result


def check_number(
    value,
    expected: float,
    name: str,
    *,
    rel: float = 1e-6,
    abs_: float = 0.0,
    hint: str = "",
) -> None:
    """Fail unless ``value`` is within tolerance of ``expected`` (relative or absolute)."""
    got = _as_float(value, name)
    if not math.isclose(got, expected, rel_tol=rel, abs_tol=abs_):
        message = f"`{name}` is {got:.6g}, which is not the expected value."
        if hint:
            message += f" {hint}"
        raise CheckFailed(message)


def check_range(value, low: float, high: float, name: str, hint: str = "") -> None:
    """Fail unless ``low <= value <= high``: a plausibility check that leaks no answer."""
    got = _as_float(value, name)
    if not low <= got <= high:
        message = f"`{name}` is {got:.6g}, outside the plausible range [{low:g}, {high:g}]."
        if hint:
            message += f" {hint}"
        raise CheckFailed(message)


def _many_values(value) -> str:
    """What ``value`` is, if it holds several values (a Series, DataFrame, array, list...), else
    ``""``. Text and numpy scalars are one value."""
    if isinstance(value, (str, bytes)):
        return ""
    kind = type(value).__name__
    if kind == "DataFrame" and hasattr(value, "shape"):
        rows, cols = value.shape
        return f"a pandas DataFrame ({rows} row(s) x {cols} column(s))"
    if getattr(value, "ndim", 0) or isinstance(value, (list, tuple, set, frozenset, dict)):
        try:
            items = list(value.values() if isinstance(value, dict) else value)
        except TypeError:  # pragma: no cover - an unusual container
            return f"a {kind}"
        shown = ", ".join(repr(v) for v in items[:3]) + (", ..." if len(items) > 3 else "")
        kind = {"Series": "pandas Series", "Index": "pandas Index", "ndarray": "numpy array"}.get(
            kind, kind
        )
        return f"a {kind} of {len(items)} value(s): [{shown}]"
    return ""


def check_choice(value, choices: Iterable, name: str) -> None:
    """Fail unless ``value`` is one of the allowed ``choices`` (for decision questions).

    A Series, DataFrame, array or list (several values, even if only one is in it) fails with a
    message saying so, never with pandas' "truth value ... is ambiguous"."""
    options = list(choices)
    many = _many_values(value)
    if many:
        raise CheckFailed(
            f"`{name}` should be one value, but it is {many}. Return a single value: take it out "
            "with `[0]` or `.iloc[0]`. (`mode()` returns a Series, because several values can tie "
            "for most frequent; `value_counts().idxmax()` returns one.)"
        )
    try:
        found = value in options
    except (TypeError, ValueError):  # a value that cannot be compared with the options
        found = False
    if not found:
        listed = ", ".join(repr(c) for c in options)
        raise CheckFailed(f"`{name}` is {value!r:.80}; it must be one of: {listed}.")


class SolvedTryIt(AssertionError):
    """A Try-it cell's self-check passed on the lesson as released: nothing is left to try."""


def _is_placeholder(value) -> bool:
    return value is Ellipsis or value is None


def try_it(name: str, value, ok: Callable[[object], bool], *, hint: str) -> bool:
    """Self-check for an ungraded Try-it cell; returns whether the answer is right, never raises.

    ``value`` is the learner's answer (``...`` or ``None`` while they have not written it), ``ok``
    a function that says whether it is right (it may raise: that counts as not right, and its
    message is shown), ``hint`` what to try. Prints one line: "Your turn", "Not yet" or the tick.
    """
    if _is_placeholder(value):
        print(f"✏️ Your turn: `{name}` is still `...`. {hint}")
        return False
    try:
        right = bool(ok(value))
        problem = ""
    except Exception as error:  # a wrong answer may not even have the right shape
        right, problem = False, f" ({type(error).__name__}: {error})"
    if not right:
        print(f"Not yet: `{name}` is not right{problem}. {hint}")
        return False
    if os.environ.get(STRICT_TRY_IT) == "1":
        raise SolvedTryIt(
            f"The Try-it self-check for `{name}` passes on the lesson as released: leave the "
            "learner something to write (a `...` placeholder or a deliberately wrong start)."
        )
    print(f"{TICK} {name}: right.")
    return True
