"""Module 8 capstone: two plausible wrong investigations fail their checkpoints, through the same
judge as grading, and the solution's other checkpoints pass beside them; the rubric the learner
sees is the one the mark scheme declares (the solution scoring full marks and the released version
failing every checkpoint are proven by tests/test_grading_assignments.py).

The first investigation blames the experiment (the one launched last before the drop), dates the
drop by its week's Monday, picks the platform that lost the most activated users in number (not in
rate), calls the drop a tracking change and divides the loss by days instead of weeks. The second
blames the marketing mix (the channel whose share of signups rose most) and types in what it read
on Orbit's seed-42 charts (the date, the platform, the loss) or what the question's text suggests
(the activation event as the broken step), and names the newest failing version instead of the
first. Each wrong answer is computed from the data or typed in as a learner would.
"""

from __future__ import annotations

import pytest

from tpmlab.grading import notebooks as nbs
from tpmlab.grading.markscheme import schemes
from tpmlab.grading.rubric import CAPSTONE, as_markdown, declared
from tpmlab.paths import REPO_ROOT

PATH = REPO_ROOT / "exercises" / "08-capstone" / "capstone.ipynb"
QUESTIONS = [f"q{i}" for i in range(1, 8)]
TIMEOUT = 600

RATES = """
    WITH rates AS (
        SELECT method, endpoint, app_version, COUNT(*) AS calls, AVG(status >= 400) AS error_rate
        FROM api_requests WHERE client_id LIKE 'orbit-%'
        GROUP BY client_id, method, endpoint, app_version HAVING COUNT(*) >= 50
    )"""

BLAMES_THE_EXPERIMENT = {
    # the step converting least after the drop, not the one whose conversion fell the most
    "q4": """def broken_step(eng, platform):
    steps = ["signup", "onboarding_complete", "project_created", "task_created"]
    def did(s):
        return f"EXISTS(SELECT 1 FROM events e WHERE e.user_id=u.user_id AND e.event_name='{s}' AND e.event_time <= DATETIME(u.signup_at, '+7 days'))"
    res = {}
    for prev, cur in zip(steps, steps[1:]):
        sql = f"SELECT AVG({did(cur)}) AS c FROM users u WHERE u.platform=:p AND u.signup_date BETWEEN '2025-06-12' AND '2025-06-23' AND {did(prev)}"
        res[cur] = pd.read_sql(text(sql), eng, params={"p": platform})["c"].iloc[0]
    return min(res, key=res.get)  # step with the lowest after-conversion""",
    "q1": '''def weekly_activation(eng):
    sql = """
    SELECT DATE(u.signup_date, '-6 days', 'weekday 1') AS week, COUNT(*) AS signups,
      SUM(EXISTS (SELECT 1 FROM events e WHERE e.user_id = u.user_id
          AND e.event_name = 'task_created'
          AND e.event_time <= DATETIME(u.signup_at, '+7 days'))) AS activated_events,
      SUM(EXISTS (SELECT 1 FROM tasks t WHERE t.created_by = u.user_id
          AND t.created_at <= DATETIME(u.signup_at, '+7 days'))) AS activated_tasks
    FROM users u WHERE u.signup_date BETWEEN '2025-05-05' AND '2025-06-22'
    GROUP BY week ORDER BY week"""
    return pd.read_sql(text(sql), eng)


q1_verdict = "tracking"''',
    # the Monday of the release's week: one day early on Orbit
    "q2": f'''def drop_start(eng):
    sql = """{RATES}
    SELECT DATE(d.deployed_at, '-6 days', 'weekday 1') AS day
    FROM deploys d JOIN rates r ON r.app_version = d.version
    WHERE r.error_rate > 0.5 ORDER BY d.deployed_at LIMIT 1"""
    return str(pd.read_sql(text(sql), eng)["day"].iloc[0])''',
    # activated users counted, not the rate: the biggest platform loses the most in number
    "q3": '''def affected_platform(eng):
    sql = """
    SELECT u.platform,
      SUM(u.signup_date <= '2025-05-28') AS n_before,
      SUM(u.signup_date >= '2025-06-12') AS n_after
    FROM users u JOIN events e ON e.user_id = u.user_id
    WHERE e.event_name = 'task_created' AND e.event_time <= DATETIME(u.signup_at, '+7 days')
      AND (u.signup_date BETWEEN '2025-05-01' AND '2025-05-28'
           OR u.signup_date BETWEEN '2025-06-12' AND '2025-06-23')
    GROUP BY u.platform"""
    n = pd.read_sql(text(sql), eng).set_index("platform")
    return str((n["n_before"] - n["n_after"]).idxmax())''',
    "q5": """def cause(eng):
    sql = "SELECT experiment_id FROM experiments ORDER BY start_date DESC LIMIT 1"
    return ("experiment", str(pd.read_sql(text(sql), eng)["experiment_id"].iloc[0]))""",
    # per day, not per week
    "q7": '''def users_lost_per_week(eng, platform, start):
    sql = """
    SELECT u.signup_date >= :start AS after, COUNT(*) AS signups,
      AVG(EXISTS (SELECT 1 FROM events e WHERE e.user_id = u.user_id
          AND e.event_name = 'task_created'
          AND e.event_time <= DATETIME(u.signup_at, '+7 days'))) AS rate
    FROM users u WHERE u.platform = :platform
      AND u.signup_date BETWEEN DATE(:start, '-28 days') AND '2025-06-23'
    GROUP BY after"""
    r = pd.read_sql(text(sql), eng, params={"platform": platform, "start": start})
    r = r.set_index("after")
    days = (pd.Timestamp("2025-06-23") - pd.Timestamp(start)).days + 1
    return float((r.loc[0, "rate"] - r.loc[1, "rate"]) * r.loc[1, "signups"] / days)''',
}

BLAMES_THE_MIX = {
    "q2": 'def drop_start(eng):\n    return "2025-06-03"',
    "q3": 'def affected_platform(eng):\n    return "ios"',
    # the platform argument ignored: every signup's funnel, which the broken platform dominates
    "q4": """def broken_step(eng, platform):
    steps = ["signup", "onboarding_complete", "project_created", "task_created"]
    sql = (
        "SELECT u.user_id, u.signup_date <= '2025-05-28' AS early, e.event_name "
        "FROM users u JOIN events e ON e.user_id = u.user_id "
        "WHERE (u.signup_date BETWEEN '2025-05-01' AND '2025-05-28' "
        "OR u.signup_date BETWEEN '2025-06-12' AND '2025-06-23') "
        "AND e.event_time <= DATETIME(u.signup_at, '+7 days') GROUP BY 1, 2, 3"
    )
    did = pd.read_sql(text(sql), eng).assign(one=1)
    wide = did.pivot_table(
        index=["user_id", "early"], columns="event_name", values="one", fill_value=0
    )
    drop = {}
    for prev, step in zip(steps[:-1], steps[1:]):
        rate = wide[wide[prev] == 1].groupby("early")[step].mean()
        drop[step] = rate[1] - rate[0]
    return max(drop, key=drop.get)""",
    "q5": '''def cause(eng):
    sql = """
    SELECT channel,
      AVG(signup_date >= '2025-06-01') - AVG(signup_date < '2025-06-01') AS rise
    FROM (SELECT channel, signup_date, 1 AS one FROM users
          WHERE signup_date BETWEEN '2025-05-01' AND '2025-06-23')
    GROUP BY channel ORDER BY rise DESC LIMIT 1"""
    return ("marketing", str(pd.read_sql(text(sql), eng)["channel"].iloc[0]))''',
    # the newest failing version, not the first
    "q6": f'''def failing_call(eng):
    sql = """{RATES}
    SELECT method, endpoint, MAX(app_version) AS app_version FROM rates
    WHERE error_rate > 0.5 GROUP BY method, endpoint"""
    row = pd.read_sql(text(sql), eng).iloc[0]
    return (str(row["method"]), str(row["endpoint"]), str(row["app_version"]))''',
    "q7": "def users_lost_per_week(eng, platform, start):\n    return 82.7",
}

WRONG = [BLAMES_THE_EXPERIMENT, BLAMES_THE_MIX]

# the public check names the mistake (run, question, words of its message)
MESSAGES = [
    (0, "q5", "does activation differ between its arms"),
    (1, "q5", "Hold the mix fixed"),
]


@pytest.fixture(scope="module")
def runs():
    return [nbs.run(PATH, wrong, timeout=TIMEOUT) for wrong in WRONG]


@pytest.mark.slow
@pytest.mark.parametrize("run", range(len(WRONG)))
def test_wrong_investigations_fail_and_the_solution_passes_beside_them(runs, run):
    results = runs[run]
    for qid in WRONG[run]:
        assert not results[f"{qid}_tests"].passed, f"run {run}: the wrong answer to {qid} passed"
    for qid in QUESTIONS:
        if qid not in WRONG[run]:
            result = results[f"{qid}_tests"]
            assert result.passed, f"run {run}: the solution of {qid} failed: {result.error}"


@pytest.mark.slow
def test_messages_say_what_to_fix(runs):
    for run, qid, words in MESSAGES:
        error = runs[run][f"{qid}_tests"].error or ""
        assert words in error, f"run {run}, {qid}: {words!r} not in {error!r}"


def test_the_rubric_is_shown_to_learners_and_declared_to_graders():
    nb = nbs.read(PATH)
    table = as_markdown(CAPSTONE)
    intro = nb.cells[0].source
    assert table in intro, "the rubric is not shown up front"
    scheme = schemes(nb)["memo"]
    assert table in scheme
    found = declared(scheme)
    assert found is not None and found.names == CAPSTONE.names
    assert found.levels == CAPSTONE.levels
    memo = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "memo")
    assert memo.metadata["nbgrader"]["points"] == CAPSTONE.total == 28
    points = sum(
        c.metadata["nbgrader"].get("points", 0)
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"
    )
    assert points >= 20 and len(QUESTIONS) >= 6
    brief = nbs.read(REPO_ROOT / "course" / "08-capstone" / "01-brief.ipynb")
    assert any(table in c.source for c in brief.cells), "the lesson does not show the rubric"
