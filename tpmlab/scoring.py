"""Hidden tests record answers; the grader, outside the student's kernel, decides pass or fail.

A hidden test that compares inside the student's kernel can be fooled by the student's code: an
object whose ``__eq__`` is always true, a patched check helper, an IPython input transformer that
rewrites the test cell. So hidden tests in this course do not compare. They call the student's
code on probe inputs and **record** what came back::

    ### BEGIN HIDDEN TESTS
    from tpmlab.scoring import answer

    answer("three rows", count_users(_t))
    answer("orbit", platform_shares(users), rel=1e-9)
    ### END HIDDEN TESTS

:func:`answer` turns the value into plain JSON (numbers, text, lists; pandas objects as
tables) and publishes it as a display output of the MIME type :data:`MIME`. The expected values
come from running the instructor's source notebook (the solution) once, in the grading process;
the kernel never sees them. The grader (:mod:`tpmlab.grading.judge`) compares each recorded
answer with the expected one, using the tolerance and ordering the *solution's* record asked
for, and fails the test cell if any differs or is missing. A pass therefore needs the right
values for the probes, which the kernel cannot learn except by computing them.

Rules for authors (tests/test_scoring.py checks the first two for every assignment):

- every autograded test cell records at least one answer in its hidden block;
- keys are unique within a cell and the recorded values are deterministic (seeded);
- record the student's *values*, never a comparison or arithmetic on them (``answer("ok",
  f(x) == 3)`` would record whatever a forged ``__eq__`` returns);
- a DataFrame is compared as a result set (columns by name, any case; rows in order when
  ``ordered``, as a multiset otherwise); its index is ignored, so ``reset_index()`` first if the
  index is part of the answer. A Series is compared with its index.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import sys
from decimal import Decimal

__all__ = ["MIME", "answer", "canonical", "collecting", "outcome"]

#: The MIME type of a recorded answer in a cell's outputs.
MIME = "application/vnd.tpmlab.answer+json"

_collectors: list[list[dict]] = []


def _float(x: float):
    if math.isnan(x):
        return {"$float": "nan"}
    if math.isinf(x):
        return {"$float": "inf" if x > 0 else "-inf"}
    return x


def _is_missing(value) -> bool:
    pd = sys.modules.get("pandas")
    return pd is not None and (value is pd.NA or value is pd.NaT)


def canonical(value, _depth: int = 0):
    """``value`` as JSON-ready data: the form in which answers are recorded and compared.

    Base types are read through their C-level methods, so a subclass that overrides ``__eq__``,
    ``__iter__`` or ``__float__`` records its underlying value (or, for anything unknown, a
    ``{"$object": type name}`` that never equals an expected value)."""
    if _depth > 50:
        return {"$object": "too deeply nested"}
    d = _depth + 1
    if value is None or _is_missing(value):
        return None
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        return _float(float.__float__(value))
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, Decimal):
        return _float(float(value))
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    # numpy and pandas objects exist only if those are imported: never import them here
    np = sys.modules.get("numpy")
    if np is not None:
        if type(value) is np.bool_:
            return bool(value)
        if isinstance(value, np.generic) and type(value).__module__ == "numpy":
            if np.issubdtype(value.dtype, np.integer):
                return int(value)
            if np.issubdtype(value.dtype, np.floating):
                return _float(float(value))
            if np.issubdtype(value.dtype, np.datetime64):
                return canonical(value.astype("datetime64[us]").item(), d)
            return {"$object": f"numpy.{type(value).__name__}"}
        if type(value) is np.ndarray:
            return [canonical(v, d) for v in value.tolist()]
    pd = sys.modules.get("pandas")
    if pd is not None:
        if isinstance(value, pd.Timestamp):
            return value.isoformat()
        if type(value) is pd.Series:
            return {
                "$series": {
                    "index": [canonical(v, d) for v in value.index.tolist()],
                    "values": [canonical(v, d) for v in value.tolist()],
                }
            }
        if type(value) is pd.DataFrame:
            return {
                "$frame": {
                    "columns": [str(c) for c in value.columns],
                    "rows": [
                        [canonical(v, d) for v in row]
                        for row in value.itertuples(index=False, name=None)
                    ],
                }
            }
    if isinstance(value, (list, tuple)):
        items = list.__iter__(value) if isinstance(value, list) else tuple.__iter__(value)
        return [canonical(v, d) for v in items]
    if isinstance(value, (set, frozenset)):
        items = set.__iter__(value) if isinstance(value, set) else frozenset.__iter__(value)
        return {"$set": [canonical(v, d) for v in items]}
    if isinstance(value, dict):
        return {"$dict": [[canonical(k, d), canonical(v, d)] for k, v in dict.items(value)]}
    return {"$object": f"{type(value).__module__}.{type(value).__qualname__}"}


def answer(key: str, value, *, rel: float = 1e-9, abs: float = 0.0, ordered: bool = True) -> None:
    """Record ``value`` as the answer to hidden check ``key`` of the running test cell.

    The grader compares it with the solution's answer for the same key: numbers within ``rel``
    (relative) or ``abs`` (absolute) tolerance, lists, Series and result sets in order unless
    ``ordered=False``. Tolerance and ordering are taken from the solution's record, so a
    submission cannot loosen them. Nothing is checked here, in the kernel."""
    record = {
        "key": str(key),
        "value": canonical(value),
        "rel": float(rel),
        "abs": float(abs),
        "ordered": bool(ordered),
    }
    if _collectors:
        _collectors[-1].append(record)
        return
    from IPython.display import display

    text = f"(answer recorded for the grader: {record['key']})"
    display({MIME: record, "text/plain": text}, raw=True)


def outcome(function, *args, **kwargs):
    """``function(*args, **kwargs)``, or ``{"$raised": "ValueError"}`` if it raised: for hidden
    checks that a bad input is rejected (record the outcome with :func:`answer`)."""
    try:
        return function(*args, **kwargs)
    except Exception as exc:  # the type of the error is the answer
        return {"$raised": type(exc).__name__}


@contextlib.contextmanager
def collecting():
    """Collect :func:`answer` records in a list instead of publishing them (for running hidden
    test code in-process, outside a kernel)."""
    records: list[dict] = []
    _collectors.append(records)
    try:
        yield records
    finally:
        _collectors.pop()
