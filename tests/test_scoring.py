"""Trusted scoring: what the kernel records (tpmlab.scoring) and how the grader judges it
(tpmlab.grading.judge, with keys from tpmlab.grading.keys), including the records a hostile
kernel could send.

The end-to-end proof (forged passes scored 0 through the real, sandboxed autograder) is in
tests/test_sandbox.py; every real assignment is judged this way in
tests/test_grading_assignments.py.
"""

from __future__ import annotations

import re

import nbformat
import numpy as np
import pandas as pd
import pytest

from tpmlab import authoring as au
from tpmlab.course import EXERCISES
from tpmlab.grading import judge, keys, notebooks
from tpmlab.scoring import MIME, answer, canonical, collecting, outcome


# ---- canonical ---------------------------------------------------------------------------------
class AlwaysEqual(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__

    def __iter__(self):
        return iter([1, 2, 3])


class ForgedList(list):
    def __iter__(self):
        return iter(["forged"])


def test_canonical_reads_the_underlying_value_of_subclasses():
    assert canonical(AlwaysEqual(5)) == 5 and type(canonical(AlwaysEqual(5))) is int
    assert canonical(ForgedList([1, 2])) == [1, 2]
    assert canonical(True) is True and canonical(np.bool_(False)) is False
    assert canonical(np.int64(7)) == 7 and canonical(np.float32(0.5)) == 0.5
    assert canonical(np.array([1, 2])) == [1, 2]
    assert canonical(float("nan")) == {"$float": "nan"}
    assert canonical(float("-inf")) == {"$float": "-inf"}
    assert canonical(pd.NA) is None and canonical(pd.NaT) is None
    assert canonical(pd.Timestamp("2025-06-18 14:05")) == "2025-06-18T14:05:00"
    assert canonical({2: "b", 1: "a"}) == {"$dict": [[2, "b"], [1, "a"]]}
    assert canonical({3, 1}) == {"$set": [1, 3]} or canonical({3, 1}) == {"$set": [3, 1]}
    assert canonical(object())["$object"] == "builtins.object"
    nested: list = []
    for _ in range(100):
        nested = [nested]
    assert "too deeply nested" in str(canonical(nested))


def test_canonical_pandas_objects():
    s = pd.Series([0.5, 0.25], index=["web", "ios"])
    assert canonical(s) == {"$series": {"index": ["web", "ios"], "values": [0.5, 0.25]}}
    df = pd.DataFrame({"a": [1, 2], "b": [1.5, None]})
    nan = {"$float": "nan"}  # a SQL NULL in a float column; the judge reads it as NULL
    assert canonical(df) == {"$frame": {"columns": ["a", "b"], "rows": [[1, 1.5], [2, nan]]}}


def test_answer_publishes_a_record_or_collects_it():
    with collecting() as records:
        answer("k", np.float64(0.25), rel=1e-6, ordered=False)
    assert records == [{"key": "k", "value": 0.25, "rel": 1e-6, "abs": 0.0, "ordered": False}]
    assert outcome(int, "x") == {"$raised": "ValueError"}
    assert outcome(int, "3") == 3


# ---- compare -----------------------------------------------------------------------------------
def same(got, expected, **kw):
    return judge.compare(canonical(got), canonical(expected), **kw) is None


def test_numbers_strings_and_booleans():
    assert same(3, 3.0)
    assert same(0.1 + 0.2, 0.3)
    assert not same(0.31, 0.3)
    assert same(0.31, 0.3, rel=0.05) and same(101, 100, abs_=1) and not same(102, 100, abs_=1)
    assert same(float("nan"), float("nan")) and not same(1.0, float("nan"))
    assert not same(True, 1) and not same(1, True)  # a boolean is not a number
    assert same("organic", "organic") and not same("Organic", "organic")
    assert not same(None, 0) and same(None, None)
    assert not same(AlwaysEqual(5), 3)


def test_containers():
    assert same([1, 2, 3], [1, 2, 3]) and not same([3, 2, 1], [1, 2, 3])
    assert same([3, 2, 1], [1, 2, 3], ordered=False)
    assert not same([1, 1, 2], [1, 2, 2], ordered=False)  # multisets, not sets
    assert not same([1, 2], [1, 2, 3])
    assert same({"a": 1, "b": [1, 2]}, {"b": [1, 2], "a": 1})
    assert not same({"a": 1}, {"a": 1, "b": 2})
    assert same({1, 2}, {2, 1})
    assert same((1, 2), [1, 2])
    assert not same(object(), object())


def test_series_and_frames():
    s = pd.Series([0.5, 0.3, 0.2], index=["web", "ios", "android"])
    assert same(s, s.copy())
    assert not same(s.sort_index(), s)
    assert same(s.sort_index(), s, ordered=False)
    assert not same(s * 100, s, ordered=False)
    assert not same(s.to_dict(), s)  # a dict is not a Series
    df = pd.DataFrame({"step": [1, 2], "users": [100, 40]})
    assert same(df.rename(columns=str.upper), df)
    assert same(df.iloc[::-1], df, ordered=False)
    assert not same(df.iloc[::-1], df, ordered=True)
    assert not same(df.assign(users=[100, 41]), df)
    why = judge.compare(canonical(df.drop(columns="users")), canonical(df))
    assert "missing column" in why


@pytest.mark.parametrize(
    "forged",
    [
        {"$frame": {"columns": ["a"], "rows": [[1, 2]]}},
        {"$frame": "x"},
        {"$series": {"index": [1], "values": []}},
        {"$dict": [[1]]},
        {"$set": 5},
        {"$float": "nan", "extra": 1},
        {"$object": "builtins.int"},
        [[[[[[1]]]]]],
        "3",
        None,
    ],
)
def test_malformed_or_forged_records_never_match_and_never_raise(forged):
    expected = canonical(pd.DataFrame({"a": [3]}))
    assert judge.compare(forged, expected) is not None
    assert judge.compare(forged, 3) is not None


def test_deep_nesting_is_a_failed_comparison_not_a_crash():
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    expected: list = []
    for _ in range(5000):
        expected = [expected]
    assert judge.compare(deep, [[1]]) is not None
    assert "could not be compared" in judge.compare(deep, expected)


def test_out_of_range_and_malformed_values_fail_that_answer_without_raising():
    """An answer the judge cannot turn into a float (10**400), NaN where a number is due, an
    integer too long to print, records deeper than the recursion limit: failed comparisons."""
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    for got in (10**400, -(10**400), {"$float": "nan"}, 10**5000, deep, {"$frame": 10**400}):
        why = judge.compare(got, 0.75)
        assert why is not None, got if got is not deep else "deep"
    assert judge.compare(10**400, 10**400) is None  # equal integers still match
    frame = {"$frame": {"columns": ["a"], "rows": [[10**400]]}}
    assert judge.compare(frame, canonical(pd.DataFrame({"a": [0.75]}))) is not None


def test_one_unreadable_record_costs_its_own_cell_only():
    """Seven points over two cells: a record of 10**400 in one cell fails that cell (1 point)
    and the judge still passes the other (6 points), where today's judge raised."""
    nb = au.notebook(
        [
            au.answer("q1", "### BEGIN SOLUTION\nx = 1\n### END SOLUTION"),
            au.tests("q1-tests", 1, "assert x"),
            au.tests("q2-tests", 6, "assert x"),
        ]
    )
    nb.cells[1].outputs = [_record("a", 10**400)]
    nb.cells[2].outputs = [_record("b", [1, 2])]
    key = {
        "cells": {
            "q1-tests": [{"key": "a", "value": 3, "rel": 1e-9, "abs": 0.0, "ordered": True}],
            "q2-tests": [{"key": "b", "value": [1, 2], "rel": 1e-9, "abs": 0.0, "ordered": True}],
        }
    }
    results = notebooks.results(nb, key)
    assert not results["q1-tests"].passed and results["q2-tests"].passed
    assert sum(r.points for r in results.values() if r.passed) == 6


# ---- judging a notebook ------------------------------------------------------------------------
def _record(key, value, **spec):
    rec = {"key": key, "value": canonical(value), "rel": 1e-9, "abs": 0.0, "ordered": True}
    rec.update(spec)
    return nbformat.v4.new_output("display_data", data={MIME: rec, "text/plain": key})


def _executed(test_outputs, answer_outputs=()):
    nb = au.notebook(
        [
            au.answer("q1", "### BEGIN SOLUTION\nx = 1\n### END SOLUTION"),
            au.tests("q1-tests", 2, "assert x"),
        ]
    )
    nb.cells[0].outputs = list(answer_outputs)
    nb.cells[1].outputs = list(test_outputs)
    return nb


KEY = {
    "cells": {
        "q1-tests": [
            {"key": "a", "value": 3, "rel": 1e-9, "abs": 0.0, "ordered": True},
            {"key": "b", "value": [1, 2], "rel": 1e-9, "abs": 0.0, "ordered": False},
        ]
    }
}


def _judged(nb):
    failures, flags = judge.judge(nb, KEY)
    return failures, flags, nb.cells[1].outputs


def test_judge_passes_matching_answers_and_strips_the_records():
    stdout = nbformat.v4.new_output("stream", name="stdout", text="✅ passed\n")
    failures, flags, outputs = _judged(_executed([stdout, _record("a", 3), _record("b", [2, 1])]))
    assert failures == {} and flags == []
    assert outputs == [stdout]
    assert notebooks.results(_executed([_record("a", 3), _record("b", [1, 2])]), KEY)[
        "q1-tests"
    ].passed


def test_judge_fails_a_wrong_or_missing_answer_with_the_error_first():
    # an execute_result the kernel put first would be nbgrader partial credit: it goes
    partial = nbformat.v4.new_output("execute_result", data={"text/plain": "2"}, execution_count=1)
    failures, flags, outputs = _judged(_executed([partial, _record("a", 4)]))
    assert set(failures) == {"q1-tests"}
    assert "'a' is 4, expected 3" in failures["q1-tests"][0]
    assert "no answer for 'b'" in failures["q1-tests"][1]
    assert outputs[0]["output_type"] == "error" and outputs[0]["ename"] == "HiddenTestFailed"
    assert all(o["output_type"] != "execute_result" for o in outputs)
    result = notebooks.results(_executed([partial, _record("a", 4)]), KEY)["q1-tests"]
    assert not result.passed and result.points == 0


def test_judge_flags_records_no_honest_notebook_makes():
    twice = [_record("a", 3), _record("a", 3), _record("b", [1, 2])]
    failures, flags, _ = _judged(_executed(twice))
    assert "recorded 2 times" in " ".join(failures["q1-tests"])
    assert any("recorded twice" in f for f in flags)

    unknown = [_record("a", 3), _record("b", [1, 2]), _record("zzz", 1)]
    failures, flags, _ = _judged(_executed(unknown))
    assert failures and any("unknown answers" in f for f in flags)

    deep: list = []
    for _ in range(5000):
        deep = [deep]
    huge = {"key": "a", "value": "x" * (judge.MAX_RECORD_CHARS + 1)}
    for bad in (["not", "a", "record"], {"key": "a", "value": deep}, huge):
        out = {"output_type": "display_data", "data": {MIME: bad}, "metadata": {}}
        failures, flags, _ = _judged(_executed([out, _record("b", [1, 2])]))
        assert failures and any("malformed" in f for f in flags), bad if bad is not deep else "deep"

    malformed = [nbformat.v4.new_output("display_data", data={MIME: ["not", "a", "record"]})]
    failures, flags, _ = _judged(_executed([*malformed, _record("a", 3), _record("b", [1, 2])]))
    assert failures and any("malformed" in f for f in flags)

    nb = _executed([_record("a", 3), _record("b", [1, 2])], answer_outputs=[_record("a", 3)])
    failures, flags, _ = _judged(nb)
    assert failures == {} and any("outside the hidden tests" in f for f in flags)
    assert nb.cells[0].outputs == []


def test_a_kernel_error_stays_and_is_not_doubled():
    error = nbformat.v4.new_output("error", ename="CheckFailed", evalue="wrong", traceback=[])
    failures, _, outputs = _judged(_executed([error]))
    assert failures and [o["ename"] for o in outputs] == ["CheckFailed"]


# ---- building keys -----------------------------------------------------------------------------
def _source(tmp_path, test_source, solution="x = 3"):
    nb = au.notebook(
        [
            au.answer("q1", f"### BEGIN SOLUTION\n{solution}\n### END SOLUTION"),
            au.tests("q1-tests", 1, test_source),
        ]
    )
    return au.save(nb, tmp_path / "ps.ipynb")


HIDDEN = "### BEGIN HIDDEN TESTS\nfrom tpmlab.scoring import answer\n{}\n### END HIDDEN TESTS"


def test_build_key_records_the_solutions_answers(tmp_path, monkeypatch):
    monkeypatch.setenv("TPMLAB_ANSWER_KEYS", str(tmp_path / "keys"))
    path = _source(tmp_path, "assert x > 0\n" + HIDDEN.format("answer('x', x, rel=1e-3)"))
    key = keys.load_key(path)
    assert key["cells"] == {
        "q1-tests": [{"key": "x", "value": 3, "rel": 1e-3, "abs": 0.0, "ordered": True}]
    }
    assert len(list((tmp_path / "keys").glob("ps-*.json"))) == 1
    assert keys.load_key(path, build=False) == key  # cached
    results = notebooks.run(path, {"q1": "x = 4"})
    assert not results["q1-tests"].passed and "'x' is 4, expected 3" in results["q1-tests"].error
    assert notebooks.run(path)["q1-tests"].passed


@pytest.mark.parametrize(
    ("test_source", "problem"),
    [
        ("assert x > 0", "record no answer"),
        ("assert x > 5\n" + HIDDEN.format("answer('x', x)"), "fails its own test cell"),
        (HIDDEN.format("answer('x', x)\nanswer('x', x)"), "recorded more than once"),
        (HIDDEN.format("answer('x', object())"), "not plain data"),
    ],
)
def test_build_key_refuses_a_source_that_cannot_be_trusted(tmp_path, test_source, problem):
    with pytest.raises(keys.AnswerKeyError, match=problem):
        keys.build_key(_source(tmp_path, test_source))


def test_a_key_goes_stale_when_the_source_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("TPMLAB_ANSWER_KEYS", str(tmp_path / "keys"))
    path = _source(tmp_path, HIDDEN.format("answer('x', x)"))
    first = keys.load_key(path)
    _source(tmp_path, HIDDEN.format("answer('x', x)"), solution="x = 7")
    with pytest.raises(keys.AnswerKeyError, match="no answer key"):
        keys.load_key(path, build=False)
    assert (
        keys.load_key(path)["cells"]["q1-tests"][0]["value"]
        == 7
        != first["cells"]["q1-tests"][0]["value"]
    )


# ---- the house rule for every assignment -----------------------------------------------------
COMPARES = re.compile(r"^\s*(assert\b|check\w*\(|compare_to_reference\()", re.M)


@pytest.mark.parametrize("path", sorted(EXERCISES.glob("*/*.ipynb")), ids=lambda p: p.parent.name)
def test_hidden_tests_only_record(path):
    """Hidden blocks record answers and never compare in the kernel (tpmlab.scoring's rules)."""
    nb = notebooks.read(path)
    for gid in notebooks.autograded_test_ids(nb):
        source = notebooks.grade_cells(nb)[gid]["cell"].source
        match = re.search(r"### BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS", source, re.S)
        assert match, f"{path.name} {gid}: no hidden block (the grader would have nothing to judge)"
        hidden = match.group(1)
        assert "answer(" in hidden, f"{path.name} {gid}: the hidden block records no answer"
        found = COMPARES.findall(hidden)
        assert not found, f"{path.name} {gid}: the hidden block compares in the kernel: {found}"


# ---- review flags for code that patches what the tests observe ---------------------------------
@pytest.mark.parametrize(
    ("code", "patched"),
    [
        (
            "import tpmlab.api.gateway as g\ng.RateLimiter.allow = lambda *a: True",
            ["tpmlab.api.gateway"],
        ),
        ("from tpmlab.api import gateway\ngateway.FaultInjector = None", ["tpmlab.api.gateway"]),
        ("import tpmlab.checks\ntpmlab.checks.check = print", ["tpmlab"]),
        ("import pandas as pd\npd.Series.value_counts = lambda s: 1", ["pandas"]),
        ("import requests\nsetattr(requests, 'get', None)", ["requests"]),
        ("%matplotlib inline\nimport sys\nsys.excepthook = None", ["sys"]),
        ("import builtins\ndel builtins.print", ["builtins"]),
        # honest habits are not flagged
        ("import pandas as pd\npd.options.display.max_rows = 100", []),
        ("import numpy as np\nx = np.zeros(3)\nx[0] = 1", []),
        ("class A:\n    pass\nA.b = 3\nd = {}\nd['k'] = 1", []),
        ("this is not python", []),
    ],
)
def test_patched_imports_are_found(code, patched):
    from tpmlab.grading.review import patched_imports

    assert patched_imports(code) == patched


@pytest.mark.parametrize("path", sorted(EXERCISES.glob("*/*.ipynb")), ids=lambda p: p.parent.name)
def test_solutions_are_not_flagged_as_patching(path):
    from tpmlab.grading.review import patched_imports

    nb = notebooks.read(path)
    code = "\n".join(
        c.source
        for c in nb.cells
        if c.cell_type == "code" and not c.metadata.get("nbgrader", {}).get("grade")
    )
    assert patched_imports(code) == []


def test_a_near_miss_is_never_shown_as_equal_to_the_key():
    """A share rounded to 6 decimals fails a tight key: the message must show the difference
    (it once read "is 0.497969, expected 0.497969")."""
    why = judge.compare(canonical(0.497969), canonical(0.4979690146))
    assert why == "is 0.497969, expected 0.497969015", why
    assert judge.compare(canonical(1093), canonical(1094)) == "is 1093, expected 1094"
