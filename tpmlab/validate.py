"""Argument checks shared by ``tpmlab.abtest`` and ``tpmlab.sysdesign``.

Every public function of those packages checks its inputs with these helpers before computing, so
that an input outside the function's domain raises :class:`InvalidArgument` (a
:class:`~tpmlab.errors.TPMLabError`, and a ``ValueError`` so ``except ValueError`` keeps working)
whose message names the argument, the value it got and the valid range, and says what to pass
instead. No function of those packages should hang, crash inside numpy/scipy, or return NaN or an
impossible number for a bad input: ``tests/test_domains.py`` checks every one of them.

Percentiles are on the 0-100 scale throughout the course (``99`` is the 99th percentile, as in
``numpy.percentile``). A value strictly between 0 and 1 is refused as ambiguous by
:func:`percentile_rank`: ``0.99`` almost always means "p99" written as a fraction, and reading it
as the 0.99th percentile would answer a different question without a word.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from numbers import Integral, Real

import numpy as np

from tpmlab.errors import TPMLabError


class InvalidArgument(TPMLabError, ValueError):
    """An argument outside the function's domain.

    ``argument`` is the parameter's name and ``value`` what was passed; the message says both, the
    valid range, and what to do.
    """

    def __init__(self, argument: str, value, valid: str, fix: str | None = None):
        self.argument = argument
        self.value = value
        self.valid = valid
        shown = _show(value)
        super().__init__(
            f"`{argument}` must be {valid}, got {shown}.",
            fix or f"Pass {valid} as `{argument}`.",
        )


def _show(value) -> str:
    if isinstance(value, np.ndarray):
        text = np.array2string(value, threshold=6, precision=4)
        return f"an array {text}"
    if isinstance(value, np.generic):
        value = value.item()  # 0.5, not np.float64(0.5)
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _range_text(kind: str, low, high, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        return f"{kind} in {left}{low:g}, {high:g}{right}"
    if low is not None:
        return f"{kind} {'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"{kind} {'<' if high_open else '<='} {high:g}"
    return f"a finite {kind.removeprefix('a ')}" if kind == "a number" else kind


def _in_range(x: float, low, high, low_open: bool, high_open: bool) -> bool:
    if low is not None and (x <= low if low_open else x < low):
        return False
    return not (high is not None and (x >= high if high_open else x > high))


def number(
    name: str,
    value,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    fix: str | None = None,
) -> float:
    """``value`` as a float, if it is a finite real number within the bounds; else raise.

    ``low``/``high`` are inclusive unless ``low_open``/``high_open``. Booleans, strings, NaN and
    infinities are refused.
    """
    valid = _range_text("a number", low, high, low_open, high_open)
    if isinstance(value, bool | np.bool_) or not isinstance(value, Real | np.number):
        raise InvalidArgument(name, value, valid, fix)
    x = float(value)
    if not math.isfinite(x) or not _in_range(x, low, high, low_open, high_open):
        raise InvalidArgument(name, value, valid, fix)
    return x


def whole(
    name: str,
    value,
    *,
    low: int | None = None,
    high: int | None = None,
    fix: str | None = None,
) -> int:
    """``value`` as an int, if it is a whole number (``3`` or ``3.0``) within ``[low, high]``."""
    valid = _range_text("a whole number", low, high, False, False)
    if isinstance(value, bool | np.bool_):
        raise InvalidArgument(name, value, valid, fix)
    if isinstance(value, Integral | np.integer) or (
        isinstance(value, Real | np.floating) and math.isfinite(value) and float(value).is_integer()
    ):
        n = int(value)
    else:
        raise InvalidArgument(name, value, valid, fix)
    if not _in_range(n, low, high, False, False):
        raise InvalidArgument(name, value, valid, fix)
    return n


def fraction(
    name: str, value, *, low_open: bool = False, high_open: bool = False, fix: str | None = None
) -> float:
    """A probability, rate or share in [0, 1] (ends excluded as asked)."""
    return number(
        name,
        value,
        low=0,
        high=1,
        low_open=low_open,
        high_open=high_open,
        fix=fix or f"Pass `{name}` as a fraction: 5% is 0.05, not 5.",
    )


def alpha(value, name: str = "alpha") -> float:
    """A significance level strictly between 0 and 1."""
    return fraction(
        name,
        value,
        low_open=True,
        high_open=True,
        fix=f"Pass the significance level as a fraction, e.g. {name}=0.05 (not 5).",
    )


def percentile_rank(name: str, value, *, high_open: bool = False, zero: bool = True) -> float:
    """A percentile on the 0-100 scale; values strictly between 0 and 1 are refused as ambiguous."""
    high = "100)" if high_open else "100]"
    valid = f"a percentile in [{'0' if zero else '1'}, {high} (99 for p99)"
    fix = f"Write the 99th percentile as {name}=99, not 0.99, and the median as 50."
    p = number(name, value, low=0, high=100, high_open=high_open, fix=fix)
    if 0 < p < 1 or (p == 0 and not zero):
        raise InvalidArgument(name, value, valid, fix)
    return p


def choice(name: str, value, options: Iterable, fix: str | None = None):
    """``value`` if it is one of ``options``, else raise listing them."""
    opts = tuple(options)
    try:
        ok = value in opts
    except TypeError:  # unhashable or uncomparable
        ok = False
    if not ok:
        listed = ", ".join(repr(o) for o in opts)
        raise InvalidArgument(name, value, f"one of {listed}", fix)
    return value


def numbers(
    name: str,
    values,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    min_size: int = 1,
    fix: str | None = None,
) -> np.ndarray:
    """``values`` as a 1-D float array of at least ``min_size`` finite numbers within the bounds."""
    item = _range_text("a number", low, high, low_open, high_open)
    valid = f"a list of at least {min_size} finite numbers, each {item.removeprefix('a number ')}"
    if item == "a finite number":
        valid = f"a list of at least {min_size} finite numbers"
    if isinstance(values, str | bytes):
        raise InvalidArgument(name, values, valid, fix)
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise InvalidArgument(name, values, valid, fix) from None
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1 or arr.size < min_size:
        raise InvalidArgument(name, values, valid, fix)
    bad = ~np.isfinite(arr)
    if low is not None:
        bad |= arr <= low if low_open else arr < low
    if high is not None:
        bad |= arr >= high if high_open else arr > high
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidArgument(f"{name}[{i}]", arr[i], item, fix)
    return arr
