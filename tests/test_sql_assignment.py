"""Module 1's graded assignment (exercises/01-sql-analytics) rejects plausible wrong queries.

- Every autograded question fails each of its (at least two) plausible wrong queries, run through
  the real notebook with :func:`tpmlab.grading.notebooks.run`; where the public check is meant to
  name the typical mistake, its message says so, and otherwise the hidden tests (judged with the
  answer key built from the solution) reject the result on Orbit's data, or, for a mistake
  Orbit's data cannot show (question 7's ties between event times), on a small made-up database
  (:func:`tpmlab.sql.answers.made_up_database`).
- A query that types in the solution's results for Orbit passes every public check and the
  hidden answer on Orbit, and fails the hidden answer on the re-seeded copy (question 9's public
  check already catches it on its made-up database).
- Every solution and every wrong query gets the same pass/fail on SQLite and on PostgreSQL: the
  test cells are executed in-process against the answer key's data (Orbit and its re-seeded copy)
  in both databases, and the answers they record are judged with the same key, built on SQLite.
  (The made-up databases of questions 7 and 9 are in-memory SQLite in both runs.)
"""

from __future__ import annotations

import re
import uuid

import pytest

from tpmlab.course import EXERCISES
from tpmlab.errors import CheckFailed
from tpmlab.grading import notebooks
from tpmlab.grading.judge import judge_records
from tpmlab.grading.keys import load_key
from tpmlab.scoring import collecting
from tpmlab.variants import next_month, parse

PATH = EXERCISES / "01-sql-analytics" / "sql-analytics.ipynb"
QUESTIONS = [f"q{i}" for i in range(1, 11)]
RESEED = 2031  # the seed the hidden tests use (reseeded_engine(2031))

WRONG = {
    "q1": [
        """
SELECT COUNT(*) AS users FROM users WHERE platform = 'ios' AND channel = 'paid_social'
""",
        """
SELECT COUNT(*) AS users FROM users WHERE platform = 'ios' AND channel = 'paid_social'
   AND signup_at BETWEEN '2025-01-01' AND '2025-03-31'
""",
        """
SELECT COUNT(*) AS users FROM events e JOIN users u ON u.user_id = e.user_id
   WHERE e.platform = 'ios' AND u.channel = 'paid_social' AND u.signup_date < '2025-04-01'
""",
        # 'iOS' as the question's text writes it: the data stores 'ios', so 0 users
        """
SELECT COUNT(*) AS users FROM users WHERE platform = 'iOS' AND channel = 'paid_social'
   AND signup_date >= '2025-01-01' AND signup_date < '2025-04-01'
""",
    ],
    "q2": [
        """
SELECT w.current_plan AS plan, COUNT(*) AS workspaces, COUNT(u.user_id) AS users
   FROM workspaces w JOIN users u ON u.workspace_id = w.workspace_id GROUP BY w.current_plan
""",
        """
SELECT w.current_plan AS plan, COUNT(DISTINCT w.workspace_id) AS workspaces, COUNT(u.user_id) AS users
   FROM workspaces w JOIN users u ON u.workspace_id = w.workspace_id
   JOIN subscriptions s ON s.workspace_id = w.workspace_id GROUP BY w.current_plan
""",
        """
SELECT s.plan AS plan, COUNT(DISTINCT w.workspace_id) AS workspaces, COUNT(DISTINCT u.user_id) AS users
   FROM workspaces w JOIN users u ON u.workspace_id = w.workspace_id
   LEFT JOIN subscriptions s ON s.workspace_id = w.workspace_id GROUP BY s.plan
""",
        # only the owner of each workspace: one user per workspace, an undercount
        """
SELECT w.current_plan AS plan, COUNT(*) AS workspaces, COUNT(u.user_id) AS users
   FROM workspaces w JOIN users u ON u.user_id = w.owner_user_id GROUP BY w.current_plan
""",
    ],
    "q3": [
        """
SELECT u.platform, COUNT(*) AS power_users FROM users u JOIN (
   SELECT user_id FROM events WHERE event_name = 'task_created' AND event_date >= '2025-04-01'
   GROUP BY user_id HAVING COUNT(*) > 50) p ON p.user_id = u.user_id GROUP BY u.platform ORDER BY u.platform
""",
        """
SELECT u.platform, COUNT(*) AS power_users FROM users u JOIN (
   SELECT user_id FROM events WHERE event_name IN ('task_created', 'task_completed') AND event_date >= '2025-04-01'
   GROUP BY user_id HAVING COUNT(*) >= 50) p ON p.user_id = u.user_id GROUP BY u.platform ORDER BY u.platform
""",
        """
SELECT e.platform, COUNT(DISTINCT e.user_id) AS power_users FROM events e JOIN (
   SELECT user_id FROM events WHERE event_name = 'task_created' AND event_date >= '2025-04-01'
   GROUP BY user_id HAVING COUNT(*) >= 50) p ON p.user_id = e.user_id
   WHERE e.event_name = 'task_created' GROUP BY e.platform ORDER BY e.platform
""",
    ],
    "q4": [
        """
SELECT priority, COUNT(*) AS tasks, SUM(CASE WHEN assignee_id = NULL THEN 1 ELSE 0 END) AS unassigned,
   AVG(CASE WHEN assignee_id = NULL THEN 1.0 ELSE 0.0 END) AS unassigned_share
   FROM tasks WHERE status <> 'done' GROUP BY priority
""",
        """
SELECT priority, COUNT(*) AS tasks, COUNT(*) - COUNT(assignee_id) AS unassigned,
   (COUNT(*) - COUNT(assignee_id)) / COUNT(*) AS unassigned_share
   FROM tasks WHERE status <> 'done' GROUP BY priority
""",
        """
SELECT priority, COUNT(*) AS tasks, COUNT(*) - COUNT(assignee_id) AS unassigned,
   1.0 * (COUNT(*) - COUNT(assignee_id)) / COUNT(*) AS unassigned_share
   FROM tasks WHERE completed_at IS NOT NULL GROUP BY priority
""",
    ],
    "q5": [
        """
SELECT COUNT(DISTINCT user_id) AS users FROM events WHERE event_name = 'task_created'
   AND event_time BETWEEN '2025-03-01' AND '2025-03-31'
""",
        """
SELECT COUNT(DISTINCT user_id) AS users FROM events WHERE event_name = 'task_created'
   AND event_date BETWEEN '2025-03-01' AND '2025-04-01'
""",
        """
SELECT COUNT(*) AS users FROM events WHERE event_name = 'task_created'
   AND event_time >= '2025-03-01' AND event_time < '2025-04-01'
""",
    ],
    "q6": [
        """
WITH june AS (SELECT user_id, event_date FROM events WHERE event_date >= '2025-06-01'),
   daily AS (SELECT event_date, COUNT(*) AS dau FROM june GROUP BY event_date)
   SELECT (SELECT AVG(1.0 * dau) FROM daily) AS avg_dau, (SELECT COUNT(DISTINCT user_id) FROM june) AS mau,
   (SELECT AVG(1.0 * dau) FROM daily) / (SELECT COUNT(DISTINCT user_id) FROM june) AS stickiness
""",
        """
WITH june AS (SELECT user_id, event_date FROM events WHERE event_date >= '2025-06-01'),
   daily AS (SELECT event_date, COUNT(DISTINCT user_id) AS dau FROM june GROUP BY event_date)
   SELECT AVG(1.0 * dau) AS avg_dau, SUM(dau) AS mau, AVG(1.0 * dau) / SUM(dau) AS stickiness FROM daily
""",
        """
WITH june AS (SELECT user_id, event_date FROM events WHERE event_date > '2025-06-01'),
   daily AS (SELECT event_date, COUNT(DISTINCT user_id) AS dau FROM june GROUP BY event_date)
   SELECT (SELECT AVG(1.0 * dau) FROM daily) AS avg_dau, (SELECT COUNT(DISTINCT user_id) FROM june) AS mau,
   (SELECT AVG(1.0 * dau) FROM daily) / (SELECT COUNT(DISTINCT user_id) FROM june) AS stickiness
""",
    ],
    "q7": [
        """
WITH cohort AS (SELECT user_id FROM users WHERE signup_date >= '2025-02-01' AND signup_date < '2025-03-01')
   SELECT CASE e.event_name WHEN 'signup' THEN 1 WHEN 'onboarding_complete' THEN 2
          WHEN 'project_created' THEN 3 ELSE 4 END AS step, e.event_name, COUNT(DISTINCT e.user_id) AS users
   FROM events e JOIN cohort c ON c.user_id = e.user_id
   WHERE e.event_name IN ('signup', 'onboarding_complete', 'project_created', 'task_created')
   GROUP BY e.event_name ORDER BY step
""",
        """
WITH cohort AS (SELECT user_id, signup_at AS t1 FROM users WHERE signup_date >= '2025-02-01' AND signup_date < '2025-03-01'),
   f AS (SELECT c.user_id, c.t1,
     MIN(CASE WHEN e.event_name = 'onboarding_complete' THEN e.event_time END) AS t2,
     MIN(CASE WHEN e.event_name = 'project_created' THEN e.event_time END) AS t3,
     MIN(CASE WHEN e.event_name = 'task_created' THEN e.event_time END) AS t4
     FROM cohort c JOIN events e ON e.user_id = c.user_id GROUP BY c.user_id, c.t1)
   SELECT 1 AS step, 'signup' AS event_name, COUNT(*) AS users FROM f
   UNION ALL SELECT 2, 'onboarding_complete', COUNT(t2) FROM f
   UNION ALL SELECT 3, 'project_created', SUM(CASE WHEN t3 > t2 THEN 1 ELSE 0 END) FROM f
   UNION ALL SELECT 4, 'task_created', SUM(CASE WHEN t4 > t3 AND t3 > t2 THEN 1 ELSE 0 END) FROM f
   ORDER BY step
""",
        """
WITH cohort AS (SELECT user_id, signup_at AS t1 FROM users WHERE signup_date >= '2025-02-01' AND signup_date < '2025-03-01'),
   s2 AS (SELECT c.user_id, e.event_time AS t2 FROM cohort c JOIN events e ON e.user_id = c.user_id
          AND e.event_name = 'onboarding_complete' AND e.event_time >= c.t1),
   s3 AS (SELECT s.user_id, e.event_time AS t3 FROM s2 s JOIN events e ON e.user_id = s.user_id
          AND e.event_name = 'project_created' AND e.event_time >= s.t2),
   s4 AS (SELECT s.user_id FROM s3 s JOIN events e ON e.user_id = s.user_id
          AND e.event_name = 'task_created' AND e.event_time >= s.t3)
   SELECT 1 AS step, 'signup' AS event_name, COUNT(*) AS users FROM cohort
   UNION ALL SELECT 2, 'onboarding_complete', COUNT(*) FROM s2
   UNION ALL SELECT 3, 'project_created', COUNT(*) FROM s3
   UNION ALL SELECT 4, 'task_created', COUNT(*) FROM s4 ORDER BY step
""",
        # strictly after (>) the previous step instead of at or after (>=): Orbit's times never
        # tie, so only the hidden made-up database with ties tells them apart
        """
WITH cohort AS (SELECT user_id, signup_at AS t1 FROM users WHERE signup_date >= '2025-02-01' AND signup_date < '2025-03-01'),
   s2 AS (SELECT c.user_id, MIN(e.event_time) AS t2 FROM cohort c JOIN events e ON e.user_id = c.user_id
          AND e.event_name = 'onboarding_complete' AND e.event_time > c.t1 GROUP BY c.user_id),
   s3 AS (SELECT s.user_id, MIN(e.event_time) AS t3 FROM s2 s JOIN events e ON e.user_id = s.user_id
          AND e.event_name = 'project_created' AND e.event_time > s.t2 GROUP BY s.user_id),
   s4 AS (SELECT s.user_id FROM s3 s JOIN events e ON e.user_id = s.user_id
          AND e.event_name = 'task_created' AND e.event_time > s.t3 GROUP BY s.user_id)
   SELECT 1 AS step, 'signup' AS event_name, COUNT(*) AS users FROM cohort
   UNION ALL SELECT 2, 'onboarding_complete', COUNT(*) FROM s2
   UNION ALL SELECT 3, 'project_created', COUNT(*) FROM s3
   UNION ALL SELECT 4, 'task_created', COUNT(*) FROM s4 ORDER BY step
""",
    ],
    "q8": [
        """
WITH cohort AS (SELECT user_id, channel FROM users WHERE signup_date >= '2025-01-01' AND signup_date < '2025-04-01'),
   creators AS (SELECT DISTINCT user_id FROM events WHERE event_name = 'task_created')
   SELECT c.channel, COUNT(*) AS users, COUNT(t.user_id) AS activated, 1.0 * COUNT(t.user_id) / COUNT(*) AS activation_rate
   FROM cohort c JOIN creators t ON t.user_id = c.user_id GROUP BY c.channel ORDER BY activation_rate DESC
""",
        """
WITH cohort AS (SELECT user_id, channel FROM users WHERE signup_date >= '2025-01-01' AND signup_date < '2025-04-01')
   SELECT c.channel, COUNT(DISTINCT c.user_id) AS users, COUNT(e.user_id) AS activated,
   1.0 * COUNT(e.user_id) / COUNT(DISTINCT c.user_id) AS activation_rate
   FROM cohort c LEFT JOIN events e ON e.user_id = c.user_id AND e.event_name = 'task_created'
   GROUP BY c.channel ORDER BY activation_rate DESC
""",
        """
WITH cohort AS (SELECT user_id, channel FROM users WHERE signup_date >= '2025-01-01' AND signup_date < '2025-04-01'),
   creators AS (SELECT DISTINCT user_id FROM events WHERE event_name = 'task_created')
   SELECT c.channel, COUNT(*) AS users, COUNT(t.user_id) AS activated, 1.0 * COUNT(t.user_id) / COUNT(*) AS activation_rate
   FROM cohort c LEFT JOIN creators t ON t.user_id = c.user_id GROUP BY c.channel ORDER BY activation_rate ASC
""",
    ],
    "q9": [
        """
WITH calendar AS (
    SELECT event_date AS day, ROW_NUMBER() OVER (ORDER BY event_date) - 1 AS day_no
    FROM (SELECT DISTINCT event_date FROM events) AS d
),
cohort AS (
    SELECT u.user_id, c.day_no AS signup_day, c.day_no / 7 AS cohort_week
    FROM users AS u
    JOIN calendar AS c ON c.day = u.signup_date
    WHERE c.day_no < 84
),
active AS (
    SELECT DISTINCT k.user_id, c.day_no - k.signup_day AS day_n
    FROM cohort AS k
    JOIN events AS e ON e.user_id = k.user_id
    JOIN calendar AS c ON c.day = e.event_date
)
SELECT k.cohort_week,
       COUNT(DISTINCT k.user_id) AS cohort_size,
       1.0 * COUNT(DISTINCT CASE WHEN a.day_n >= 1 THEN a.user_id END)
           / COUNT(DISTINCT k.user_id) AS d1,
       1.0 * COUNT(DISTINCT CASE WHEN a.day_n >= 7 THEN a.user_id END)
           / COUNT(DISTINCT k.user_id) AS d7,
       1.0 * COUNT(DISTINCT CASE WHEN a.day_n >= 14 THEN a.user_id END)
           / COUNT(DISTINCT k.user_id) AS d14,
       1.0 * COUNT(DISTINCT CASE WHEN a.day_n >= 28 THEN a.user_id END)
           / COUNT(DISTINCT k.user_id) AS d28
FROM cohort AS k
LEFT JOIN active AS a ON a.user_id = k.user_id AND a.day_n >= 1
GROUP BY k.cohort_week
ORDER BY k.cohort_week
""",
        """
WITH calendar AS (
    SELECT event_date AS day, ROW_NUMBER() OVER (ORDER BY event_date) AS day_no
    FROM (SELECT DISTINCT event_date FROM events) AS d
),
cohort AS (
    SELECT u.user_id, c.day_no AS signup_day, c.day_no / 7 AS cohort_week
    FROM users AS u
    JOIN calendar AS c ON c.day = u.signup_date
    WHERE c.day_no < 84
),
active AS (
    SELECT DISTINCT k.user_id, c.day_no - k.signup_day AS day_n
    FROM cohort AS k
    JOIN events AS e ON e.user_id = k.user_id
    JOIN calendar AS c ON c.day = e.event_date
)
SELECT k.cohort_week,
       COUNT(DISTINCT k.user_id) AS cohort_size,
       1.0 * COUNT(DISTINCT CASE WHEN a.day_n = 1 THEN a.user_id END)
           / COUNT(DISTINCT k.user_id) AS d1,
       1.0 * COUNT(DISTINCT CASE WHEN a.day_n = 7 THEN a.user_id END)
           / COUNT(DISTINCT k.user_id) AS d7,
       1.0 * COUNT(DISTINCT CASE WHEN a.day_n = 14 THEN a.user_id END)
           / COUNT(DISTINCT k.user_id) AS d14,
       1.0 * COUNT(DISTINCT CASE WHEN a.day_n = 28 THEN a.user_id END)
           / COUNT(DISTINCT k.user_id) AS d28
FROM cohort AS k
LEFT JOIN active AS a ON a.user_id = k.user_id AND a.day_n IN (1, 7, 14, 28)
GROUP BY k.cohort_week
ORDER BY k.cohort_week
""",
        """
WITH calendar AS (
    SELECT event_date AS day, ROW_NUMBER() OVER (ORDER BY event_date) - 1 AS day_no
    FROM (SELECT DISTINCT event_date FROM events) AS d
),
cohort AS (
    SELECT u.user_id, c.day_no AS signup_day, c.day_no / 7 AS cohort_week
    FROM users AS u
    JOIN calendar AS c ON c.day = u.signup_date
    WHERE c.day_no < 84
),
active AS (
    SELECT DISTINCT k.user_id, c.day_no - k.signup_day AS day_n
    FROM cohort AS k
    JOIN events AS e ON e.user_id = k.user_id
    JOIN calendar AS c ON c.day = e.event_date
)
SELECT k.cohort_week,
       COUNT(DISTINCT k.user_id) AS cohort_size,
       1.0 * SUM(CASE WHEN a.day_n = 1 THEN 1 ELSE 0 END) / COUNT(*) AS d1,
       1.0 * SUM(CASE WHEN a.day_n = 7 THEN 1 ELSE 0 END) / COUNT(*) AS d7,
       1.0 * SUM(CASE WHEN a.day_n = 14 THEN 1 ELSE 0 END) / COUNT(*) AS d14,
       1.0 * SUM(CASE WHEN a.day_n = 28 THEN 1 ELSE 0 END) / COUNT(*) AS d28
FROM cohort AS k
LEFT JOIN active AS a ON a.user_id = k.user_id AND a.day_n IN (1, 7, 14, 28)
GROUP BY k.cohort_week
ORDER BY k.cohort_week
""",
    ],
    "q10": [
        """
WITH calendar AS (
    SELECT event_date AS day, ROW_NUMBER() OVER (ORDER BY event_date) - 1 AS day_no
    FROM (SELECT DISTINCT event_date FROM events) AS d
),
weekly AS (
    SELECT c.day_no / 7 AS week, COUNT(*) AS signups
    FROM users AS u
    JOIN calendar AS c ON c.day = u.signup_date
    WHERE c.day_no < 175
    GROUP BY c.day_no / 7
)
SELECT week,
       signups,
       LEAD(signups) OVER (ORDER BY week) AS prev_signups,
       SUM(signups) OVER (ORDER BY week ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
           AS cumulative_signups
FROM weekly
ORDER BY week
""",
        """
WITH calendar AS (
    SELECT event_date AS day, ROW_NUMBER() OVER (ORDER BY event_date) - 1 AS day_no
    FROM (SELECT DISTINCT event_date FROM events) AS d
),
weekly AS (
    SELECT c.day_no / 7 AS week, COUNT(*) AS signups
    FROM users AS u
    JOIN calendar AS c ON c.day = u.signup_date
    WHERE c.day_no < 175
    GROUP BY c.day_no / 7
)
SELECT week,
       signups,
       LAG(signups) OVER (ORDER BY week) AS prev_signups,
       SUM(signups) OVER ()
           AS cumulative_signups
FROM weekly
ORDER BY week
""",
        """
WITH calendar AS (
    SELECT event_date AS day, ROW_NUMBER() OVER (ORDER BY event_date) - 1 AS day_no
    FROM (SELECT DISTINCT event_date FROM events) AS d
),
weekly AS (
    SELECT c.day_no / 7 AS week, COUNT(*) AS signups
    FROM users AS u
    JOIN calendar AS c ON c.day = u.signup_date
    WHERE c.day_no <= 175
    GROUP BY c.day_no / 7
)
SELECT week,
       signups,
       LAG(signups) OVER (ORDER BY week) AS prev_signups,
       SUM(signups) OVER (ORDER BY week ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
           AS cumulative_signups
FROM weekly
ORDER BY week
""",
    ],
}

# (question, index of the wrong query) -> words the learner must see from the PUBLIC check.
TYPICAL_MESSAGES = {
    ("q1", 3): "case-sensitive and Orbit stores values in lower case",
    ("q2", 0): "fan-out",
    ("q2", 3): "one user per workspace, which undercounts",
    ("q4", 0): "IS NULL",
    ("q4", 1): "integer division",
    ("q5", 2): "counted events, not distinct users",
    ("q6", 0): "instead of distinct users",
    ("q6", 1): "counts a user once per active day",
    ("q7", 0): "funnel gets wider",
    ("q8", 0): "LEFT JOIN",
    ("q8", 1): "counted task events",
    ("q8", 2): "highest first",
    ("q9", 0): "active on day N *or later* (>=)",
    ("q9", 2): "Week 0 should be d1 = 0.5",
    ("q10", 0): "LEAD looks forward",
    ("q10", 1): "running total",
}
# (question, index of the wrong query) -> the hidden answer that must catch it (right on Orbit)
CAUGHT_BY_PROBE = {("q7", 3): "HiddenTestFailed: 'made-up data with ties between steps' "}


def answer_source(question: str, sql: str) -> str:
    return f'{question}_sql = """\n{sql}\n"""'


def test_every_question_has_two_or_more_wrong_queries():
    nb = notebooks.read(PATH)
    tested = {gid.removesuffix("-tests") for gid in notebooks.autograded_test_ids(nb)}
    assert tested == set(QUESTIONS) == set(WRONG)
    points = sum(
        float(m.get("points", 0))
        for gid, m in notebooks.grade_cells(nb).items()
        if gid in {f"{q}-tests" for q in QUESTIONS}
    )
    assert points >= 30
    assert all(len(WRONG[q]) >= 2 for q in QUESTIONS)
    # one hand-graded answer with its mark scheme in the source
    manual = [m for m in notebooks.grade_cells(nb).values() if m["cell"].cell_type == "markdown"]
    assert len(manual) == 1 and "Mark scheme" in manual[0]["cell"].source


@pytest.mark.slow
@pytest.mark.parametrize("k", range(max(map(len, WRONG.values()))))
def test_wrong_queries_fail_in_the_notebook(orbit_db, k):
    """The k-th wrong query of every question, substituted all at once, fails every question."""
    answers = {q: answer_source(q, WRONG[q][k]) for q in QUESTIONS if k < len(WRONG[q])}
    results = notebooks.run(PATH, answers)
    for q in answers:
        r = results[f"{q}-tests"]
        assert not r.passed, f"{q}: wrong query {k} passed:\n{WRONG[q][k]}"
        # a worded public check, or the hidden answer on Orbit's own data (never a crash), or
        # for a mistake Orbit's data cannot show, the hidden answer on a made-up database
        expected = CAUGHT_BY_PROBE.get((q, k), ("CheckFailed: ", "HiddenTestFailed: 'orbit' "))
        assert r.error.startswith(expected), f"{q} wrong {k}: {r.error}"
        words = TYPICAL_MESSAGES.get((q, k))
        if words:
            assert words in r.error, f"{q} wrong {k}: public message lacks {words!r}: {r.error}"


def _literal(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "NULL"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(float(value)) if isinstance(value, float) else str(int(value))


def hard_coded(result) -> str:
    """A query that returns ``result`` (a DataFrame) row by row, typed in as constants."""
    columns = [str(c) for c in result.columns]
    rows = []
    for i, row in enumerate(result.itertuples(index=False, name=None)):
        values = [f"{_literal(v)} AS {c}" for v, c in zip(row, columns, strict=True)]
        rows.append("SELECT " + ", ".join([f"{i} AS row_no", *values]))
    body = "\n   UNION ALL ".join(rows)
    return f"SELECT {', '.join(columns)} FROM (\n   {body}\n) AS typed_in ORDER BY row_no"


def _variant_zero(nb) -> dict:
    """What the answer cells use from the parameters cell: ``V`` of variant 0 (the questions as
    the wrong answers above read them) and ``next_month``."""
    return {"V": parse(nb).at(0), "next_month": next_month}


@pytest.mark.slow
def test_hard_coded_results_fail_on_the_reseeded_copy(orbit_engine):
    """Typing in the right numbers for Orbit passes the public checks and the answer on Orbit, but
    not the answer on the re-seeded copy: the hidden tests catch it, question by question. (In
    question 9 the public check already catches it: it also runs the query on a made-up database.)
    """
    from tpmlab.sql.answers import run_learner_query

    nb = notebooks.read(PATH)
    cells = notebooks.grade_cells(nb)
    answers = {}
    for q in QUESTIONS:
        ns: dict = _variant_zero(nb)
        exec(cells[q]["cell"].source, ns)
        result = run_learner_query(ns[f"{q}_sql"], orbit_engine, name=f"{q}_sql")
        answers[q] = answer_source(q, hard_coded(result))
    results = notebooks.run(PATH, answers)
    for q in QUESTIONS:
        error = results[f"{q}-tests"].error
        expected = (
            "CheckFailed: On a small made-up database"
            if q == "q9"
            else "HiddenTestFailed: 'on a re-seeded copy' "
        )
        assert error.startswith(expected), f"{q}: {error}"


# ----------------------------------------------------------------- in-process, SQLite vs PostgreSQL


def _cells():
    nb = notebooks.read(PATH)
    cells = notebooks.grade_cells(nb)
    setup = "\n".join(
        line for line in cells["setup"]["cell"].source.splitlines() if not line.startswith("%")
    )
    return setup, cells


def _outcomes(engine, reseeded, key) -> dict[tuple[str, str], str]:
    """Run every test cell in-process for the solution and each wrong query, on ``engine`` and
    ``reseeded`` (in place of tpmlab.data.engine() and reseeded_engine(2031)), and judge the
    answers its hidden tests record with the answer ``key``."""
    setup, cells = _cells()
    base: dict = {}
    exec(setup.replace("eng = engine()", "eng = __engine__"), base | {"__engine__": engine}, base)
    base["eng"] = engine
    base |= _variant_zero(notebooks.read(PATH))  # the answers' parameters (V), as run() has
    base["reseeded_engine"] = lambda seed: reseeded if seed == RESEED else pytest.fail(seed)
    base["n_users"] = int(base["query"]("SELECT COUNT(*) AS n FROM users", engine)["n"].iloc[0])
    out = {}
    for q in QUESTIONS:
        _run_variants(q, cells, base, key, out)
    return out


def _run_variants(q, cells, base, key, out):
    gid = f"{q}-tests"
    variants = {"solution": cells[q]["cell"].source}
    variants |= {f"wrong{k}": answer_source(q, w) for k, w in enumerate(WRONG[q])}
    for label, source in variants.items():
        ns = dict(base)
        exec(source, ns)
        try:
            with collecting() as records:
                exec(cells[gid]["cell"].source, ns)
        except CheckFailed as exc:
            out[q, label] = "fail: " + str(exc).splitlines()[0][:200]
            continue
        reasons, flags = judge_records(records, key["cells"][gid], gid)
        assert not flags, f"{q} {label}: {flags}"
        out[q, label] = f"fail: HiddenTestFailed: {reasons[0][:200]}" if reasons else "pass"


def _expected_ok(outcomes):
    for (q, label), result in outcomes.items():
        if label == "solution":
            assert result == "pass", f"{q} solution: {result}"
        else:
            assert result.startswith("fail"), f"{q} {label} passed"


#: The answer key holds the solution's results on the data the notebook uses, so both databases
#: get exactly that data: Orbit (tpmlab.data.engine()) and the copy reseeded_engine(2031) opens.
def _sqlite_engines(orbit_engine):
    from tpmlab.data import reseeded_engine

    return {"default": orbit_engine, "reseeded": reseeded_engine(RESEED)}


@pytest.fixture(scope="module")
def answer_key(orbit_db):
    """The assignment's answer key (built on SQLite from the solution, as the grader builds it)."""
    return load_key(PATH)


@pytest.fixture(scope="module")
def sqlite_outcomes(orbit_engine, answer_key):
    engines = _sqlite_engines(orbit_engine)
    return _outcomes(engines["default"], engines["reseeded"], answer_key)


@pytest.fixture(scope="module")
def pg_engines(pg_url, orbit_engine):
    """Orbit (default and re-seeded) loaded into two fresh PostgreSQL databases."""
    import sqlalchemy as sa

    from tpmlab.data import load_into
    from tpmlab.sql.run import normalise_url

    base = normalise_url(pg_url)
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    prefix = f"tpmlab_sql_{uuid.uuid4().hex[:8]}"
    names = {"default": f"{prefix}_orbit", "reseeded": f"{prefix}_reseeded"}
    sources = {key: eng.url.database for key, eng in _sqlite_engines(orbit_engine).items()}
    engines = {}
    try:
        for key, name in names.items():
            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
            url = sa.engine.make_url(base).set(database=name)
            load_into(url.render_as_string(False), sources[key])
            engines[key] = sa.create_engine(url.render_as_string(False))
        yield engines
    finally:
        for eng in engines.values():
            eng.dispose()
        with admin.connect() as conn:
            for name in names.values():
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.postgres
def test_same_pass_fail_on_sqlite_and_postgresql(pg_engines, sqlite_outcomes, answer_key):
    """Every solution passes and every wrong query fails, on the same data in both databases,
    judged with the same answer key."""
    pg = _outcomes(pg_engines["default"], pg_engines["reseeded"], answer_key)
    assert pg.keys() == sqlite_outcomes.keys()
    _expected_ok(sqlite_outcomes)
    _expected_ok(pg)
    differ = {
        key: (sqlite_outcomes[key], pg[key])
        for key in pg
        if re.sub(r"on (SQLite|PostgreSQL)", "", pg[key])[:4]
        != re.sub(r"on (SQLite|PostgreSQL)", "", sqlite_outcomes[key])[:4]
    }
    assert not differ
