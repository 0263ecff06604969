"""Module 5, part 2 (data stores and cloud cost): the solution passes, the released version fails,
and plausible wrong answers fail their question, through the same judge as grading.

Each wrong answer is one a learner would write: the mean or minimum instead of the median, the
ratio upside down, one GET per token instead of one MGET, a 720-hour month, no free egress,
requests counted one by one instead of in millions, "10x the users is 10x the bill", a
commitment discount on the whole bill, the first or the largest-quantity line of the bill.
"""

from __future__ import annotations

import shutil

import pytest

from tpmlab.grading import notebooks as nbs
from tpmlab.paths import REPO_ROOT

PATH = REPO_ROOT / "exercises" / "05-system-design-stores-and-cost" / "data-stores-and-cost.ipynb"
QUESTIONS = [f"q{i}_tests" for i in (1, 3, 4, 5, 6, 7, 8)]

pytestmark = pytest.mark.kv

Q1 = """q1_store = {
    "task board: tasks, projects and members changed together, kept consistent": "relational",
    "session tokens: token -> user, expiring after an hour, read on every request": "%s",
    "analytics dashboard: events per day and platform over six months": "%s",
    "search box: find tasks by words in their titles, best match first": "%s",
}"""
SR = "def speed_ratio(row_times, col_times):\n    %s\nq3_measured = 5.0"
LU = "def lookup_users(client, tokens):\n    %s"
SC = "def service_cost(instances, s3_gb, million_requests, egress_gb):\n    %s"
OM = "def orbit_monthly(mau):\n    return float(monthly_bill(orbit_usage(mau))['usd'].sum())\nq6_ratio = %s"
AS = "def annual_commitment_savings(mau):\n    %s"
LL = "def largest_line(mau):\n    %s"
WRONG = [
    {
        "q1": Q1 % ("key-value", "relational", "search"),
        "q3": SR % "return statistics.mean(row_times) / statistics.mean(col_times)",
        "q4": LU
        % "return [None if client.get(f'session:{t}') is None else int(client.get(f'session:{t}')) for t in tokens]",
        "q5": SC
        % "return instances * 720 * 0.096 + s3_gb * 0.023 + million_requests * 1.0 + max(0, egress_gb - 100) * 0.09",
        "q6": OM % "10.0",
        "q7": AS
        % "u = orbit_usage(mau); return float(monthly_bill(u)['usd'].sum() - monthly_bill(u, committed=True)['usd'].sum())",
        "q8": LL % "b = monthly_bill(orbit_usage(mau)); return str(b.iloc[0]['item'])",
    },
    {
        "q1": Q1 % ("document", "columnar", "document"),
        "q3": SR % "return min(row_times) / min(col_times)",
        "q4": LU
        % "vals = client.mget([f'session:{t}' for t in tokens]); return [int(v) for v in vals if v is not None]",
        "q5": SC
        % "return instances * 730 * 0.096 + s3_gb * 0.023 + million_requests * 1.0 + egress_gb * 0.09",
        "q6": OM
        % "monthly_bill(orbit_usage(2_000_000), committed=True)['usd'].sum() / monthly_bill(orbit_usage(200_000))['usd'].sum()",
        "q7": AS % "u = orbit_usage(mau); return 12 * 0.35 * float(monthly_bill(u)['usd'].sum())",
        "q8": LL
        % "b = monthly_bill(orbit_usage(mau)); return str(b.loc[b['quantity'].idxmax(), 'item'])",
    },
    {
        "q1": Q1 % ("key-value", "columnar", "relational"),
        "q3": SR % "return statistics.median(col_times) / statistics.median(row_times)",
        "q4": LU % "return [client.get(f'session:{t}') for t in tokens]",
        "q5": SC
        % "return instances * 730 * 0.096 + s3_gb * 0.023 + million_requests * 1e6 * 1.0 + max(0, egress_gb - 100) * 0.09",
        "q7": AS
        % "u = orbit_usage(mau); return 12 * float(monthly_bill(u)['usd'].sum() - monthly_bill(u, committed=True)['usd'].sum()) / 12",
        "q8": LL
        % "b = monthly_bill(orbit_usage(mau)); return str(b.loc[b['unit_usd'].idxmax(), 'item'])",
    },
]


@pytest.fixture(scope="module")
def kv_installed():
    if not any(shutil.which(p) for p in ("valkey-server", "redis-server")):
        pytest.skip("no valkey-server or redis-server: apt-get install redis-server")


@pytest.mark.parametrize("run", range(len(WRONG)))
def test_wrong_answers_fail(kv_installed, run):
    results = nbs.run(PATH, WRONG[run])
    for qid in WRONG[run]:
        result = results[f"{qid}_tests"]
        assert not result.passed, f"run {run}: the wrong answer to {qid} passed"
    untouched = [q for q in QUESTIONS if q.removesuffix("_tests") not in WRONG[run]]
    for q in untouched:
        assert results[q].passed, f"run {run}: the solution of {q} failed: {results[q].error}"


def test_messages_say_what_to_fix(kv_installed):
    results = nbs.run(PATH, {**WRONG[0], **{"q4": WRONG[1]["q4"], "q3": WRONG[2]["q3"]}})
    assert "730" in results["q5_tests"].error
    assert "not ten times the bill" in results["q6_tests"].error
    assert "one entry per token" in results["q4_tests"].error
    assert "divide the row store" in results["q3_tests"].error
    assert "commands sent to the server" in nbs.run(PATH, {"q4": WRONG[0]["q4"]})["q4_tests"].error


REVIEWED_WRONG = {
    # an independent review's wrong answers that passed before
    "q3": "def speed_ratio(row_times, col_times):\n"
    "    med = lambda x: sorted(x)[len(x) // 2]\n"
    "    return med(row_times) / med(col_times)\n"
    "q3_measured = 4.0",
    "q8": "def largest_line(mau):\n"
    "    b = monthly_bill(orbit_usage(mau), committed=True)\n"
    "    return str(b.loc[b['usd'].idxmax(), 'item'])",
    "q1": Q1.replace(
        '"task board: tasks, projects and members changed together, kept consistent"',
        '"task board"',
    )
    % ("key-value", "columnar", "search"),
}
REVIEWED_RIGHT = {
    # valid answers written differently: rounded to the dollar, one decimal
    "q6": "def orbit_monthly(mau):\n"
    "    return float(monthly_bill(orbit_usage(mau))['usd'].sum())\n"
    "q6_ratio = round(orbit_monthly(2_000_000) / orbit_monthly(200_000), 1)",
    "q7": "def annual_commitment_savings(mau):\n"
    "    u = orbit_usage(mau)\n"
    "    return round(12 * float(monthly_bill(u)['usd'].sum()"
    " - monthly_bill(u, committed=True)['usd'].sum()))",
}


def test_reviewed_answers(kv_installed):
    results = nbs.run(PATH, {**REVIEWED_WRONG, **REVIEWED_RIGHT})
    for qid in REVIEWED_WRONG:
        assert not results[f"{qid}_tests"].passed, f"the reviewed wrong answer to {qid} passed"
    assert "keys unchanged" in results["q1_tests"].error
    for qid in REVIEWED_RIGHT:
        assert results[f"{qid}_tests"].passed, results[f"{qid}_tests"].error
    # the server's command count names one MGET as 1, as the question says
    assert "expected 1" in nbs.run(PATH, {"q4": WRONG[0]["q4"]})["q4_tests"].error
