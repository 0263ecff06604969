"""The judge: recorded answers read back from a test cell's outputs and compared with the key.

Hidden test cells record the student's answers with :func:`tpmlab.scoring.answer`, which writes
each value in the encoding of :func:`tpmlab.scoring.canonical` (plain JSON; ``{"$float": "nan"}``,
``{"$set": [...]}``, ``{"$dict": [[k, v], ...]}``, ``{"$series": ...}``, ``{"$frame": ...}``;
``{"$object": ...}`` for what cannot be recorded) as a display output of MIME type
:data:`tpmlab.scoring.MIME`. This module is the other half of that encoding, in the grading
process:

- :func:`code_cells` reads the records out of every code cell's outputs (the one loop the judge
  and :func:`tpmlab.grading.keys.build_key` share); :func:`contains_object` says whether a value
  holds something that is not plain data;
- :func:`compare` decides whether one recorded value matches the expected one, within the
  tolerance and ordering the *solution's* record asked for; it never raises;
- :func:`judge_records` applies one cell's part of an answer key, :func:`judge` a whole key to
  an executed notebook, in place: in each autograded test cell it takes the records out of the
  outputs, and when one differs or is missing puts a :data:`HIDDEN_ENAME` error first in the
  cell's outputs, so nbgrader scores the cell 0. It also drops ``execute_result`` outputs from
  test cells (nbgrader would read a number there as partial credit) and returns review flags for
  records no honest notebook makes (an answer recorded twice, an unknown key, answers outside
  test cells); :func:`scoring_flags` reads those flags back from autograded notebooks.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat

from tpmlab.grading.ipynb import is_autograded_test, read
from tpmlab.scoring import MIME

#: Largest recorded answer (characters of JSON) the judge will look at.
MAX_RECORD_CHARS = 5_000_000
#: The error the judge puts in a test cell whose recorded answers fail.
HIDDEN_ENAME = "HiddenTestFailed"


# ---- records in outputs -----------------------------------------------------------------------
def split_outputs(cell) -> tuple[list, list]:
    """(recorded answers, other outputs) of a code cell."""
    records, others = [], []
    for output in cell.get("outputs", []):
        data = output.get("data") if isinstance(output, dict) else None
        if isinstance(data, dict) and MIME in data:
            records.append(data[MIME])
        else:
            others.append(output)
    return records, others


def code_cells(nb) -> Iterator[tuple[Any, str | None, list, list]]:
    """(cell, grade id, recorded answers, other outputs) of every code cell of ``nb``; the grade
    id is None for a cell that is not an autograded test."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        records, others = split_outputs(cell)
        gid = cell.metadata["nbgrader"]["grade_id"] if is_autograded_test(cell) else None
        yield cell, gid, records, others


def valid_record(rec) -> bool:
    """A record as :func:`tpmlab.scoring.answer` makes it (a key, a value of bounded size)."""
    if not (isinstance(rec, dict) and isinstance(rec.get("key"), str) and "value" in rec):
        return False
    try:
        return len(json.dumps(rec["value"], default=str)) <= MAX_RECORD_CHARS
    except Exception:  # noqa: BLE001 - absurdly nested or unprintable: not an honest record
        return False


def contains_object(value) -> bool:
    """Whether a recorded value holds an ``{"$object": ...}`` (something not plain data)."""
    if isinstance(value, dict):
        return "$object" in value or any(contains_object(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_object(v) for v in value)
    return False


# ---- comparing -------------------------------------------------------------------------------
def _number(x):
    """A float for a recorded number (including the NaN/inf tags), or None."""
    if isinstance(x, bool):
        return None
    if isinstance(x, (int, float)):
        return float(x)  # OverflowError for an int beyond float's range: compare() fails it
    if isinstance(x, dict) and set(x) == {"$float"} and x["$float"] in ("nan", "inf", "-inf"):
        return float(x["$float"])
    return None


def _show(x) -> str:
    try:
        return json.dumps(x, default=str)[:80]
    except (ValueError, RecursionError):  # an integer too long to print, or deep nesting
        return f"<{type(x).__name__} that cannot be shown>"


def _frame(value):
    import pandas as pd

    body = value["$frame"]
    columns = [str(c) for c in body["columns"]]
    rows = []
    for row in body["rows"]:
        if not isinstance(row, list) or len(row) != len(columns):
            raise ValueError("malformed table")
        rows.append([None if _number(v) is not None and math.isnan(_number(v)) else v for v in row])
    return pd.DataFrame(rows, columns=columns, dtype=object)


def _two_numbers(got: float, expected: float) -> str:
    """``"<got>, expected <expected>"`` with 6 significant digits, or as many as it takes for
    the two to print differently (a rounded answer is not shown as equal to the key)."""
    for digits in (6, 9, 12, 17):
        a, b = f"{got:.{digits}g}", f"{expected:.{digits}g}"
        if a != b:
            break
    return f"{a}, expected {b}"


def compare(got, expected, *, rel: float = 1e-9, abs_: float = 0.0, ordered: bool = True):
    """None when ``got`` matches ``expected`` (both recorded values), else why not.

    Never raises: a record the judge cannot read (malformed, out of range, absurdly nested) is a
    failed comparison for this answer only."""
    try:
        return _compare(got, expected, rel, abs_, ordered)
    except Exception as exc:  # noqa: BLE001 - whatever the record, this answer simply fails
        return f"the answer could not be compared ({type(exc).__name__})"


def _compare(got, exp, rel, abs_, ordered):
    if type(got) is int and type(exp) is int and got == exp:
        return None  # equal integers, however large
    e_num = _number(exp)
    if e_num is not None:
        g_num = _number(got)
        if g_num is None:
            return f"is {_show(got)}, expected a number"
        if math.isnan(e_num):
            return None if math.isnan(g_num) else f"is {g_num:.6g}, expected NaN"
        if math.isclose(g_num, e_num, rel_tol=rel, abs_tol=abs_):
            return None
        return f"is {_two_numbers(g_num, e_num)}"
    if exp is None or isinstance(exp, (bool, str)):
        if type(got) is type(exp) and got == exp:
            return None
        return f"is {_show(got)}, expected {_show(exp)}"
    if isinstance(exp, list):
        if not isinstance(got, list):
            return f"is {_show(got)}, expected a list"
        if len(got) != len(exp):
            return f"has {len(got)} item(s), expected {len(exp)}"
        if ordered:
            for i, (g, e) in enumerate(zip(got, exp, strict=True)):
                why = _compare(g, e, rel, abs_, True)
                if why:
                    return f"item {i} {why}"
            return None
        unused = list(got)
        for i, e in enumerate(exp):
            match = next(
                (j for j, g in enumerate(unused) if _compare(g, e, rel, abs_, True) is None),
                None,
            )
            if match is None:
                return f"has no item matching expected item {i} ({_show(e)})"
            unused.pop(match)
        return None
    if not isinstance(exp, dict) or len(exp) != 1:
        return "cannot be compared: the expected value is malformed"
    ((tag, body),) = exp.items()
    if not isinstance(got, dict) or set(got) != {tag}:
        return f"is {_show(got)}, expected a {tag.lstrip('$')}"
    gbody = got[tag]
    if tag == "$set":
        return _compare(gbody, body, rel, abs_, False)
    if tag == "$dict":
        if not isinstance(gbody, list) or not all(
            isinstance(p, list) and len(p) == 2 for p in gbody
        ):
            return "is a malformed dict"
        gkeys = [json.dumps(k, sort_keys=True) for k, _ in gbody]
        ekeys = [json.dumps(k, sort_keys=True) for k, _ in body]
        if sorted(gkeys) != sorted(ekeys):
            return f"has keys {sorted(gkeys)[:6]}, expected {sorted(ekeys)[:6]}"
        gmap = dict(zip(gkeys, (v for _, v in gbody), strict=True))
        for k, (_, e) in zip(ekeys, body, strict=True):
            why = _compare(gmap[k], e, rel, abs_, True)
            if why:
                return f"[{k}] {why}"
        return None
    if tag == "$series":
        gi, gv, ei, ev = gbody["index"], gbody["values"], body["index"], body["values"]
        if not (isinstance(gi, list) and isinstance(gv, list) and len(gi) == len(gv)):
            return "is a malformed Series"
        if not ordered:
            return _compare(
                {"$dict": [[k, v] for k, v in zip(gi, gv, strict=True)]},
                {"$dict": [[k, v] for k, v in zip(ei, ev, strict=True)]},
                rel,
                abs_,
                True,
            )
        why = _compare(gi, ei, rel, abs_, True)
        if why:
            return f"index {why}"
        why = _compare(gv, ev, rel, abs_, True)
        return f"values: {why}" if why else None
    if tag == "$frame":
        from tpmlab.errors import CheckFailed
        from tpmlab.sql.answers import compare_results

        try:
            compare_results(
                _frame(got),
                _frame(exp),
                order_matters=ordered,
                rtol=rel,
                atol=max(abs_, 1e-12),
                name="the result",
            )
        except CheckFailed as exc:
            return str(exc)
        return None
    if tag == "$float":
        return f"is {_show(got)}, expected {_show(exp)}"
    return f"cannot be compared (expected value of kind {tag})"


# ---- judging a student's notebook -------------------------------------------------------------
def judge_records(records: list, expected: list[dict], gid: str) -> tuple[list[str], list[str]]:
    """Compare the answers one test cell recorded with its part of the key (``key["cells"]
    [gid]``): (reasons it fails, empty when it passes; review flags)."""
    reasons, flags = [], []
    bad = [r for r in records if not valid_record(r)]
    if bad:
        flags.append(f"tampering suspected: malformed answer records in {gid}")
        reasons.append("malformed answer records")
    good = [r for r in records if valid_record(r)]
    known = {e["key"] for e in expected}
    unknown = sorted({r["key"] for r in good} - known)
    if unknown:
        flags.append(f"tampering suspected: unknown answers {unknown[:3]} in {gid}")
        reasons.append(f"unknown answers {unknown[:3]}")
    for exp in expected:
        found = [r for r in good if r["key"] == exp["key"]]
        if not found:
            reasons.append(f"no answer for {exp['key']!r} (the cell stopped before it)")
        elif len(found) > 1:
            flags.append(f"tampering suspected: answer {exp['key']!r} recorded twice in {gid}")
            reasons.append(f"answer {exp['key']!r} recorded {len(found)} times")
        else:
            why = compare(
                found[0]["value"],
                exp["value"],
                rel=exp.get("rel", 1e-9),
                abs_=exp.get("abs", 0.0),
                ordered=exp.get("ordered", True),
            )
            if why:
                reasons.append(f"{exp['key']!r} {why}")
    return reasons, flags


def judge(nb, key: dict) -> tuple[dict[str, list[str]], list[str]]:
    """Score the hidden tests of an executed notebook with ``key``, in place (see the module
    docstring). Returns (reasons a cell failed, by grade_id; review flags)."""
    failures: dict[str, list[str]] = {}
    flags: list[str] = []
    for cell, gid, records, others in code_cells(nb):
        if gid is None or gid not in key["cells"]:
            if records:
                flags.append("tampering suspected: answer records outside the hidden tests")
            cell.outputs = others
            continue
        try:
            reasons, cell_flags = judge_records(records, key["cells"][gid], gid)
        except Exception as exc:  # noqa: BLE001 - never let one cell's records stop the judge
            reasons = [f"the answers could not be judged ({type(exc).__name__})"]
            cell_flags = [f"tampering suspected: answers in {gid} could not be judged"]
        flags += cell_flags
        others = [o for o in others if o.get("output_type") != "execute_result"]
        if reasons:
            failures[gid] = reasons
            if not any(o.get("output_type") == "error" for o in others):
                evalue = "; ".join(reasons[:3])[:500]
                others.insert(
                    0,
                    nbformat.v4.new_output(
                        "error",
                        ename=HIDDEN_ENAME,
                        evalue=evalue,
                        traceback=[f"{HIDDEN_ENAME}: {evalue}"],
                    ),
                )
        cell.outputs = others
    return failures, list(dict.fromkeys(flags))


def scoring_flags(folder: Path) -> list[str]:
    """Review flags the judge left in the autograded notebooks of ``folder``."""
    found: list[str] = []
    for path in sorted(Path(folder).glob("*.ipynb")):
        try:
            nb = read(path)
        except Exception:  # an unreadable notebook is flagged elsewhere
            continue
        for flag in nb.metadata.get("tpmlab", {}).get("review_flags", []):
            if flag not in found:
                found.append(flag)
    return found


def judged_copy(nb, key: dict):
    """A judged copy of an executed notebook (the original is left alone)."""
    nb = copy.deepcopy(nb)
    judge(nb, key)
    return nb
