"""Answer keys and the trusted judge: hidden tests are decided in the grading process.

Hidden test cells record the student's answers with :func:`tpmlab.scoring.answer` instead of
comparing them in the student's kernel (see that module for why). This module is the trusted
half:

- :func:`build_key` runs the instructor's source notebook (the solution) in a fresh kernel and
  keeps, for every autograded test cell, the answers it recorded and how to compare them. It
  refuses a source whose solution fails its own test cells, whose test cell records nothing or
  records a key twice, or whose answers cannot be compared. :func:`load_key` caches keys by a
  fingerprint of the notebook, the dataset and the tpmlab code, in :func:`key_dir` (inside the
  course folder, which the sandboxed kernels cannot see).
- :func:`judge` applies a key to an executed student notebook, in place: in each autograded test
  cell it takes the recorded answers out of the outputs, compares them with the key, and when
  one differs or is missing puts a ``HiddenTestFailed`` error first in the cell's outputs, so
  nbgrader scores the cell 0. It also drops ``execute_result`` outputs from test cells (nbgrader
  would read a number there as partial credit) and returns review flags for records no honest
  notebook makes (an answer recorded twice, an unknown key, answers outside test cells).
- :class:`TrustedScoring` is the nbgrader preprocessor that does this between executing and
  saving grades; ``autograder/nbgrader_config.py`` installs it, so ``tpmlab-grade autograde``
  and plain ``nbgrader autograde`` both score this way.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import tempfile
from pathlib import Path

import nbformat
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

from tpmlab.errors import TPMLabError
from tpmlab.grading import notebooks
from tpmlab.paths import REPO_ROOT, data_dir
from tpmlab.scoring import MIME

FORMAT = 1
#: Largest recorded answer (characters of JSON) the judge will look at.
MAX_RECORD_CHARS = 5_000_000
HIDDEN_ENAME = "HiddenTestFailed"


class AnswerKeyError(TPMLabError):
    """The source notebook cannot give an answer key (its solution fails, or records nothing)."""


# ---- where keys live ---------------------------------------------------------------------------
def key_dir() -> Path:
    """Cached keys: ``TPMLAB_ANSWER_KEYS``, else ``autograder/.answer-keys`` (never committed, and
    outside everything a sandboxed kernel can read)."""
    return Path(os.environ.get("TPMLAB_ANSWER_KEYS", REPO_ROOT / "autograder" / ".answer-keys"))


def _code_hash() -> str:
    digest = hashlib.sha256()
    package = REPO_ROOT / "tpmlab"
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def fingerprint(source: str | Path) -> str:
    """What a key depends on: the source notebook, the built dataset, the tpmlab code."""
    digest = hashlib.sha256(f"tpmlab-answer-key-{FORMAT}".encode())
    digest.update(Path(source).read_bytes())
    manifest = data_dir() / "manifest.json"
    digest.update(manifest.read_bytes() if manifest.exists() else b"no dataset")
    digest.update(_code_hash().encode())
    return digest.hexdigest()


# ---- records in outputs -----------------------------------------------------------------------
def _split_outputs(cell) -> tuple[list, list]:
    """(recorded answers, other outputs) of a code cell."""
    records, others = [], []
    for output in cell.get("outputs", []):
        data = output.get("data") if isinstance(output, dict) else None
        if isinstance(data, dict) and MIME in data:
            records.append(data[MIME])
        else:
            others.append(output)
    return records, others


def _valid_record(rec) -> bool:
    if not (isinstance(rec, dict) and isinstance(rec.get("key"), str) and "value" in rec):
        return False
    try:
        return len(json.dumps(rec["value"], default=str)) <= MAX_RECORD_CHARS
    except Exception:  # noqa: BLE001 - absurdly nested or unprintable: not an honest record
        return False


# ---- building a key ---------------------------------------------------------------------------
def _contains_object(value) -> bool:
    if isinstance(value, dict):
        return "$object" in value or any(_contains_object(v) for v in value.values())
    if isinstance(value, list):
        return any(_contains_object(v) for v in value)
    return False


def build_key(source: str | Path, *, timeout: int = 300) -> dict:
    """Run the source notebook (the solution) and return its answer key."""
    source = Path(source)
    executed = notebooks.execute(notebooks.read(source), cwd=source.parent, timeout=timeout)
    cells: dict[str, list[dict]] = {}
    problems: list[str] = []
    for cell in executed.cells:
        if cell.cell_type != "code":
            continue
        records, others = _split_outputs(cell)
        if not notebooks.is_autograded_test(cell):
            if records:
                problems.append("answer() is called outside an autograded test cell")
            continue
        gid = cell.metadata["nbgrader"]["grade_id"]
        errors = [o for o in others if o.get("output_type") == "error"]
        if errors:
            problems.append(
                f"{gid}: the solution fails its own test cell "
                f"({errors[0].get('ename')}: {errors[0].get('evalue')})"
            )
            continue
        if not records:
            problems.append(f"{gid}: the hidden tests record no answer")
            continue
        keys = [r.get("key") for r in records]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            problems.append(f"{gid}: answer key(s) {dupes} recorded more than once")
        for rec in records:
            if _contains_object(rec.get("value")):
                problems.append(
                    f"{gid}: the answer {rec.get('key')!r} is not plain data "
                    f"({rec.get('value')!r:.80}); record numbers, text, lists or pandas objects"
                )
        cells[gid] = [
            {k: rec[k] for k in ("key", "value", "rel", "abs", "ordered") if k in rec}
            for rec in records
        ]
    if problems:
        raise AnswerKeyError(
            f"{source.name} cannot give an answer key: " + "; ".join(problems),
            "Fix the source notebook: run it top to bottom; every autograded test cell must pass "
            "with the solution and record at least one answer with tpmlab.scoring.answer() in "
            "its hidden block.",
        )
    return {
        "format": FORMAT,
        "notebook": source.name,
        "fingerprint": fingerprint(source),
        "cells": cells,
    }


def load_key(source: str | Path, *, build: bool = True) -> dict:
    """The cached key of ``source`` (built and cached first if missing or stale)."""
    source = Path(source)
    fp = fingerprint(source)
    path = key_dir() / f"{source.stem}-{fp[:24]}.json"
    try:
        key = json.loads(path.read_text())
        if key.get("fingerprint") == fp and key.get("format") == FORMAT:
            return key
    except (OSError, ValueError):
        pass
    if not build:
        raise AnswerKeyError(
            f"There is no answer key for {source.name} at {path}.",
            "Run `tpmlab-grade autograde` (it builds the keys first) or "
            "`python -m tpmlab.grading.keys SOURCE.ipynb`.",
        )
    key = build_key(source)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".key-", suffix=".json", dir=path.parent)
    with os.fdopen(fd, "w") as handle:
        json.dump(key, handle)
    os.replace(tmp, path)
    return key


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
        return f"is {g_num:.6g}, expected {e_num:.6g}"
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
    bad = [r for r in records if not _valid_record(r)]
    if bad:
        flags.append(f"tampering suspected: malformed answer records in {gid}")
        reasons.append("malformed answer records")
    good = [r for r in records if _valid_record(r)]
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
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        records, others = _split_outputs(cell)
        gid = (
            cell.metadata.get("nbgrader", {}).get("grade_id")
            if notebooks.is_autograded_test(cell)
            else None
        )
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
    seen = set()
    flags = [f for f in flags if not (f in seen or seen.add(f))]
    return failures, flags


class TrustedScoring(Preprocessor):
    """nbgrader preprocessor: judge the hidden tests with the assignment's answer key (between
    ``Execute`` and ``SaveAutoGrades``). Review flags go to the notebook metadata
    (``tpmlab.review_flags``)."""

    enabled = Bool(True, help="nbconvert runs a preprocessor only when enabled").tag(config=True)

    def preprocess(self, nb, resources):
        from nbgrader.coursedir import CourseDirectory

        info = resources.get("nbgrader", {})
        coursedir = CourseDirectory(parent=self)
        source = (
            Path(coursedir.format_path(coursedir.source_directory, ".", info["assignment"]))
            / f"{info['notebook']}.ipynb"
        )
        key = load_key(source)
        _, flags = judge(nb, key)
        # what the sandbox saw the submission do (tpmlab.grading.execute / sentinel)
        flags += [f for f in resources.get("tpmlab_sandbox_evidence", []) if f not in flags]
        nb.metadata.setdefault("tpmlab", {})["review_flags"] = flags
        return nb, resources


def scoring_flags(folder: Path) -> list[str]:
    """Review flags the judge left in the autograded notebooks of ``folder``."""
    found: list[str] = []
    for path in sorted(Path(folder).glob("*.ipynb")):
        try:
            nb = notebooks.read(path)
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


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m tpmlab.grading.keys",
        description="Build (or check) the answer key of source notebooks: runs each solution "
        "once and prints what its hidden tests record.",
    )
    parser.add_argument("sources", nargs="+", type=Path)
    args = parser.parse_args(argv)
    for source in args.sources:
        key = load_key(source)
        n = sum(len(v) for v in key["cells"].values())
        print(f"{source}: {len(key['cells'])} test cells, {n} recorded answers")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
