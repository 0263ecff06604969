"""The warm-up assignment rejects plausible wrong answers, question by question.

(That the solution passes every check and the blank student version fails every check is proved
for all assignments by tests/test_grading_assignments.py.) Each run substitutes one wrong answer into
every question at once, so three notebook runs cover three wrong answers per question.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tpmlab.checks import CheckFailed, check_choice
from tpmlab.course import EXERCISES
from tpmlab.grading import notebooks

WARMUP = EXERCISES / "00-warmup" / "warmup.ipynb"


def _fn(name: str, body: str, arg: str = "users") -> str:
    return f"def {name}({arg}):\n    return {body}\n"


WRONG_RUNS = [
    {  # counted cells / only pro / raw counts / the count instead of the name / by day
        "q1_count_users": _fn("count_users", "users.size"),
        "q2_count_paying": _fn(
            "count_paying", "int((workspaces.current_plan == 'pro').sum())", "workspaces"
        ),
        "q3_platform_shares": _fn("platform_shares", "users['platform'].value_counts()"),
        "q4_top_channel": _fn("top_channel", "users['channel'].value_counts().max()"),
        "q5_signups_per_month": _fn(
            "signups_per_month", "users['signup_date'].value_counts().sort_index()"
        ),
    },
    {  # (rows, columns) / the free ones / percentages / the smallest channel / not sorted
        "q1_count_users": _fn("count_users", "users.shape"),
        "q2_count_paying": _fn(
            "count_paying", "int((workspaces.current_plan == 'free').sum())", "workspaces"
        ),
        "q3_platform_shares": _fn(
            "platform_shares", "users['platform'].value_counts(normalize=True) * 100"
        ),
        "q4_top_channel": _fn("top_channel", "users['channel'].value_counts().idxmin()"),
        "q5_signups_per_month": _fn(
            "signups_per_month", "users['signup_date'].str[:7].value_counts()"
        ),
    },
    {  # hard-coded answers pass the public check on Orbit's data but fail the hidden ones
        "q1_count_users": "import tpmlab.data as _d, pandas as _pd\n"
        "_N = len(_pd.read_sql('SELECT user_id FROM users', _d.engine()))\n"
        + _fn("count_users", "_N"),
        "q2_count_paying": _fn("count_paying", "len(workspaces)", "workspaces"),
        "q3_platform_shares": _fn(
            "platform_shares", "users['channel'].value_counts(normalize=True)"
        ),
        "q4_top_channel": "import tpmlab.data as _d, pandas as _pd\n"
        "_TOP = _pd.read_sql('SELECT channel FROM users', _d.engine())['channel'].mode()[0]\n"
        + _fn("top_channel", "_TOP"),
        "q5_signups_per_month": _fn(
            "signups_per_month", "users['signup_date'].str[:7].value_counts().sort_index().cumsum()"
        ),
    },
]


@pytest.mark.slow
@pytest.mark.parametrize("run", range(len(WRONG_RUNS)), ids=lambda i: f"wrong-answers-{i + 1}")
def test_every_question_rejects_the_wrong_answers(run):
    answers = WRONG_RUNS[run]
    results = notebooks.run(WARMUP, answers)
    accepted = sorted(gid for gid, r in results.items() if r.passed)
    assert not accepted, f"these checks accepted a wrong answer (run {run + 1}): {accepted}"
    # Every failure is a worded public check or a hidden answer the grader judged wrong, never
    # a bare crash.
    for gid, result in results.items():
        assert result.error.startswith(("CheckFailed: ", "HiddenTestFailed: ")), (
            f"{gid}: {result.error}"
        )


def test_wrong_answers_get_specific_public_feedback():
    """The public checks name the mistake for the commonest slips (what a learner sees)."""
    results = notebooks.run(
        WARMUP,
        {**WRONG_RUNS[0], "q3_platform_shares": WRONG_RUNS[1]["q3_platform_shares"]},
        released=True,
    )
    errors = {gid: r.error for gid, r in results.items()}
    assert "counted every cell" in errors["q1_count_users_tests"]
    assert "`business` is a paid plan too" in errors["q2_count_paying_tests"]
    assert "fractions between 0 and 1, not percentages" in errors["q3_platform_shares_tests"]
    assert "return the channel's name" in errors["q4_top_channel_tests"]
    assert "months like '2025-01'" in errors["q5_signups_per_month_tests"]


# Question 5 answers an independent review wrote from the question text, which the checks passed
Q5_REVIEW = {
    "periods": (
        "pd.to_datetime(users['signup_date']).dt.to_period('M').value_counts().sort_index()",
        "CheckFailed: The months should be text like '2025-01'",
    ),
    "sorted by count": (
        "users['signup_date'].str[:7].value_counts().sort_values()",
        "CheckFailed: On a small table (2 users in January, 1 in February, 3 in March)",
    ),
    "first six months": (
        "users['signup_date'].str[:7].value_counts().sort_index().head(6)",
        "HiddenTestFailed: 'nine months'",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(Q5_REVIEW))
def test_signups_per_month_catches_what_orbits_data_hides(name):
    """Orbit's signups grow every month and span six months: a count-sorted answer and a
    six-month answer looked right on it; a Period index printed like text."""
    body, words = Q5_REVIEW[name]
    results = notebooks.run(WARMUP, {"q5_signups_per_month": _fn("signups_per_month", body)})
    error = results["q5_signups_per_month_tests"].error
    assert error is not None and error.startswith(words), error


def test_several_values_for_one_are_named_not_a_pandas_error():
    """`mode()` is a Series even when one value is in it: the check says it should be one value
    (it used to surface pandas' "The truth value of a Series is ambiguous" from check_choice)."""
    results = notebooks.run(
        WARMUP, {"q4_top_channel": _fn("top_channel", "users['channel'].mode()")}, released=True
    )
    error = results["q4_top_channel_tests"].error
    assert error.startswith("CheckFailed: `top_channel(users)` should be one value"), error
    assert "a pandas Series of 1 value(s)" in error and "mode()" in error, error
    assert "ambiguous" not in error, error


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (
            pd.Series(["organic", "partner"]),
            "a pandas Series of 2 value(s): ['organic', 'partner']",
        ),
        (pd.DataFrame({"channel": ["organic"]}), "a pandas DataFrame (1 row(s) x 1 column(s))"),
        (np.array(["organic"]), "a numpy array of 1 value(s)"),
        (["organic"], "a list of 1 value(s)"),
    ],
    ids=["series", "dataframe", "array", "list"],
)
def test_check_choice_wants_one_value(value, words):
    with pytest.raises(CheckFailed, match="should be one value") as failure:
        check_choice(value, ["organic", "partner"], "top_channel(users)")
    assert words in str(failure.value)
    check_choice(np.str_("organic"), ["organic", "partner"], "top_channel(users)")  # one value
    with pytest.raises(CheckFailed, match="it must be one of: 'organic', 'partner'"):
        check_choice("paid", ["organic", "partner"], "top_channel(users)")
