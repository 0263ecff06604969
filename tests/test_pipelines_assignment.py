"""Module 6 assignment (data pipelines and data quality): plausible wrong answers fail their
question, through the same judge as grading; the solution and the released version are proven by
tests/test_grading_assignments.py.

Each wrong answer is one a learner would write from the question text: counting the originals
with the copies, calling exact copies re-deliveries, cutting the UTC offset off, ``= NULL``,
counting the NULL users as orphans, every value without a ``Z`` as local time, distinct names
instead of rows, a forgotten accepted value, a test on the wrong column, a job that appends, one
that empties the table, one that skips a day it already wrote, ``SELECT DISTINCT`` as the dedup,
the latest copy kept instead of the first. Three whole submissions, so three notebook runs test
them all (each run builds dbt's warehouse once).
"""

from __future__ import annotations

import pytest

from tpmlab.data.schema import EVENT_NAMES
from tpmlab.grading import notebooks as nbs
from tpmlab.paths import REPO_ROOT

PATH = REPO_ROOT / "exercises" / "06-data-pipelines" / "data-pipelines.ipynb"
QUESTIONS = [f"q{i}" for i in range(1, 11)]
# the Q8 cell runs dbt on four copies of Orbit: give it time on a busy 2-core machine
TIMEOUT = 900

pytestmark = pytest.mark.slow

NAMES = ", ".join(EVENT_NAMES)


def sql(name: str, query: str) -> str:
    return f'{name} = """\n{query}\n"""'


ACCEPTED = """  - name: event_name
    data_tests:
      - accepted_values:
          arguments:
            values: [{names}]
"""
RELATIONSHIPS = """      - relationships:
          arguments:
            to: "source('raw', 'users')"
            field: user_id
"""


def block(event_id: str, user_id: str, names: str = NAMES) -> str:
    """A Q8 answer: the tests listed under event_id and user_id, then accepted_values."""
    text = (
        f"columns:\n  - name: event_id\n    data_tests:\n{event_id}"
        f"  - name: user_id\n    data_tests:\n{user_id}" + ACCEPTED.format(names=names)
    )
    return f'q8_block = """\n{text}"""'


UNIQUE, NOT_NULL = "      - unique\n", "      - not_null\n"
UNIQUE_WARN = "      - unique:\n          config:\n            severity: warn\n"


JOB = "def daily_active_job(con, day):\n{body}"
INSERT = (
    '    con.execute("INSERT INTO daily_active (day, platform, active_users) '
    "SELECT event_date, platform, {count} FROM events WHERE event_date = ? "
    'GROUP BY event_date, platform", (day,))\n'
)
DEDUP_RANKED = """WITH ranked AS (
    SELECT event_id, user_id, event_name, event_time, received_at,
           ROW_NUMBER() OVER (PARTITION BY user_id, event_name, event_time
                              ORDER BY received_at {direction}) AS n
    FROM raw_events
    {where}
)
SELECT event_id, user_id, event_name, event_time, received_at FROM ranked WHERE n = 1"""

WRONG = [
    {
        # the originals counted with their copies
        "q1": sql(
            "q1_sql",
            "SELECT COUNT(*) AS rows FROM raw_events WHERE event_id IN "
            "(SELECT event_id FROM raw_events GROUP BY event_id HAVING COUNT(*) > 1)",
        ),
        # exact copies counted as re-deliveries
        "q2": sql(
            "q2_sql",
            "SELECT COUNT(*) - (SELECT COUNT(*) FROM (SELECT DISTINCT user_id, event_name, "
            "event_time FROM raw_events WHERE user_id IS NOT NULL)) AS rows "
            "FROM raw_events WHERE user_id IS NOT NULL",
        ),
        # the offset cut off: local time read as UTC
        "q3": sql(
            "q3_sql",
            "SELECT COUNT(*) AS rows FROM raw_events "
            "WHERE julianday(received_at) - julianday(substr(event_time, 1, 19)) > 2",
        ),
        "q4": sql("q4_sql", "SELECT COUNT(*) AS rows FROM raw_events WHERE user_id = NULL"),
        # NULL users counted as orphans
        "q5": sql(
            "q5_sql",
            "SELECT COUNT(*) AS rows FROM raw_events AS r "
            "LEFT JOIN users AS u ON u.user_id = r.user_id WHERE u.user_id IS NULL",
        ),
        # Android's values without an offset counted as local time
        "q6": sql(
            "q6_sql", "SELECT COUNT(*) AS rows FROM raw_events WHERE event_time NOT LIKE '%Z'"
        ),
        # distinct names, not rows
        "q7": sql(
            "q7_sql",
            "SELECT COUNT(DISTINCT event_name) AS rows FROM raw_events WHERE event_name NOT IN ("
            + ", ".join(f"'{n}'" for n in NAMES.split(", "))
            + ")",
        ),
        # one accepted value forgotten: the clean copy's downgrades fail the test
        "q8": block(UNIQUE, NOT_NULL + RELATIONSHIPS, names=NAMES.replace(", downgrade", "")),
        # appends: a second run doubles the day
        "q9": JOB.format(
            body="    with con:\n    " + INSERT.format(count="COUNT(DISTINCT user_id)")
        ),
        # SELECT DISTINCT drops exact copies only
        "q10": sql(
            "q10_sql",
            "SELECT DISTINCT event_id, user_id, event_name, event_time, received_at "
            "FROM raw_events WHERE user_id IS NOT NULL",
        ),
    },
    {
        # the same user, name and time taken for an exact copy (re-deliveries counted too)
        "q1": sql(
            "q1_sql",
            "SELECT COUNT(*) - COUNT(DISTINCT user_id || '|' || event_name || '|' || event_time) "
            "AS rows FROM raw_events",
        ),
        # the events seen more than once counted, exact copies included
        "q2": sql(
            "q2_sql",
            "SELECT COUNT(*) AS rows FROM (SELECT user_id FROM raw_events "
            "WHERE user_id IS NOT NULL GROUP BY user_id, event_name, event_time "
            "HAVING COUNT(*) > 1)",
        ),
        # 48 read as hours, but julianday() counts days
        "q3": sql(
            "q3_sql",
            "SELECT COUNT(*) AS rows FROM raw_events "
            "WHERE julianday(received_at) - julianday(event_time) > 48",
        ),
        # "no user" read as no known user
        "q4": sql(
            "q4_sql",
            "SELECT COUNT(*) AS rows FROM raw_events "
            "WHERE user_id IS NULL OR user_id NOT IN (SELECT user_id FROM users)",
        ),
        # distinct orphan ids, not rows
        "q5": sql(
            "q5_sql",
            "SELECT COUNT(DISTINCT r.user_id) AS rows FROM raw_events AS r "
            "LEFT JOIN users AS u ON u.user_id = r.user_id "
            "WHERE u.user_id IS NULL AND r.user_id IS NOT NULL",
        ),
        # positive offsets only: the Americas' '-05:00' missed
        "q6": sql(
            "q6_sql", "SELECT COUNT(*) AS rows FROM raw_events WHERE event_time LIKE '%+__:__'"
        ),
        # only the Title_Case names: the kebab-case ones missed
        "q7": sql(
            "q7_sql",
            "SELECT COUNT(*) AS rows FROM raw_events WHERE event_name <> lower(event_name)",
        ),
        # not_null on the id instead of the user: passes on the raw layer
        "q8": block(UNIQUE + NOT_NULL, RELATIONSHIPS),
        # empties the whole table, then writes its day
        "q9": JOB.format(
            body='    with con:\n        con.execute("DELETE FROM daily_active")\n    '
            + INSERT.format(count="COUNT(DISTINCT user_id)")
        ),
        # the latest copy kept instead of the first received
        "q10": sql(
            "q10_sql", DEDUP_RANKED.format(direction="DESC", where="WHERE user_id IS NOT NULL")
        ),
    },
    {
        # the duplicated groups counted, not their extra copies (a row sent three times has two)
        "q1": sql(
            "q1_sql",
            "SELECT COUNT(*) AS rows FROM (SELECT 1 FROM raw_events GROUP BY event_id, user_id, "
            "event_name, event_time, received_at, platform, client_version HAVING COUNT(*) > 1)",
        ),
        # the logged-out pings' re-deliveries counted too (no user_id filter)
        "q2": sql(
            "q2_sql",
            "SELECT COALESCE(SUM(n - 1), 0) AS rows FROM (SELECT COUNT(DISTINCT event_id) AS n "
            "FROM raw_events GROUP BY user_id, event_name, event_time)",
        ),
        # COUNT(column) skips the NULLs it is asked to count
        "q4": sql("q4_sql", "SELECT COUNT(user_id) AS rows FROM raw_events WHERE user_id IS NULL"),
        # local time taken to mean the iOS app
        "q6": sql("q6_sql", "SELECT COUNT(*) AS rows FROM raw_events WHERE platform = 'ios'"),
        # the name's form checked instead of the list: a misspelt lower-case name passes
        "q7": sql(
            "q7_sql",
            "SELECT COUNT(*) AS rows FROM raw_events "
            "WHERE event_name GLOB '*[A-Z]*' OR event_name LIKE '%-%'",
        ),
        # each late event once, not every row
        "q3": sql(
            "q3_sql",
            "SELECT COUNT(DISTINCT event_id) AS rows FROM raw_events "
            "WHERE julianday(received_at) - julianday(event_time) > 2",
        ),
        # unique on user_id instead of event_id (and not_null on the id): the clean copy fails
        "q8": block(NOT_NULL, UNIQUE + NOT_NULL + RELATIONSHIPS),
        # "don't redo work": skips a day it already wrote, so the late partition never lands
        "q9": JOB.format(
            body='    if con.execute("SELECT 1 FROM daily_active WHERE day = ?", (day,)).fetchone():\n'
            "        return\n"
            "    with con:\n    " + INSERT.format(count="COUNT(DISTINCT user_id)")
        ),
        # rows without a user kept
        "q10": sql("q10_sql", DEDUP_RANKED.format(direction="", where="")),
    },
    {
        # the re-delivered events counted, not their extra ids
        "q2": sql(
            "q2_sql",
            "SELECT COUNT(*) AS rows FROM (SELECT 1 FROM raw_events WHERE user_id IS NOT NULL "
            "GROUP BY user_id, event_name, event_time HAVING COUNT(DISTINCT event_id) > 1)",
        ),
        # "more than 48 hours" read as "at least"
        "q3": sql(
            "q3_sql",
            "SELECT COUNT(*) AS rows FROM raw_events "
            "WHERE julianday(received_at) - julianday(event_time) >= 2",
        ),
        # any offset, +00:00 included
        "q6": sql(
            "q6_sql",
            "SELECT COUNT(*) AS rows FROM raw_events WHERE event_time GLOB '*[+-][0-9][0-9]:[0-9][0-9]'",
        ),
        # a name is wrong when it is not lower snake_case: a misspelt one passes
        "q7": sql(
            "q7_sql",
            "SELECT COUNT(*) AS rows FROM raw_events "
            "WHERE event_name <> lower(replace(event_name, '-', '_'))",
        ),
        # the tests only warn: the run does not fail
        "q8": block(UNIQUE_WARN, NOT_NULL + RELATIONSHIPS),
        # the smallest id kept, with the first time received: another copy's id
        "q10": sql(
            "q10_sql",
            "SELECT MIN(event_id) AS event_id, user_id, event_name, event_time, "
            "MIN(received_at) AS received_at FROM raw_events WHERE user_id IS NOT NULL "
            "GROUP BY user_id, event_name, event_time",
        ),
        # events counted instead of distinct users
        "q9": JOB.format(
            body='    with con:\n        con.execute("DELETE FROM daily_active WHERE day = ?", (day,))\n'
            "    " + INSERT.format(count="COUNT(*)")
        ),
    },
]

# the public check names the mistake (run, question, words of its message)
MESSAGES = [
    (0, "q1", "originals included"),
    (0, "q2", "exact copies of Q1"),
    (1, "q2", "More extra ids"),
    (0, "q4", "IS NULL"),
    (0, "q5", "no user_id too"),
    (0, "q6", "no offset are UTC"),
    (0, "q7", "distinct names"),
    (0, "q8", "fails on the clean copy"),
    (0, "q9", "appends instead of replacing"),
    (0, "q10", "re-deliveries"),
    (1, "q8", "exactly"),
    (1, "q9", "earlier day"),
    (1, "q10", "not received first"),
    (2, "q9", "even when it already has rows"),
    (2, "q10", "no user_id"),
    (3, "q9", "DISTINCT user_id"),
    (1, "q3", "0 late rows"),
    (2, "q4", "COUNT(user_id) skips NULLs"),
    (3, "q8", "only warns"),
    # caught by the public check on one case of edge_cases_engine() (or, for Q10, on Orbit)
    (2, "q1", "stored three times"),
    (3, "q2", "three ids"),
    (3, "q3", "exactly 48 hours"),
    (3, "q6", "+00:00 is UTC"),
    (3, "q10", "121 was received first"),
]


@pytest.fixture(scope="module")
def runs():
    return [nbs.run(PATH, wrong, timeout=TIMEOUT) for wrong in WRONG]


@pytest.mark.parametrize("run", range(len(WRONG)))
def test_wrong_answers_fail(runs, run):
    results = runs[run]
    for qid in WRONG[run]:
        assert not results[f"{qid}_tests"].passed, f"run {run}: the wrong answer to {qid} passed"
    for qid in QUESTIONS:
        if qid not in WRONG[run]:
            result = results[f"{qid}_tests"]
            assert result.passed, f"run {run}: the solution of {qid} failed: {result.error}"


def test_messages_say_what_to_fix(runs):
    for run, qid, words in MESSAGES:
        error = runs[run][f"{qid}_tests"].error or ""
        assert words in error, f"run {run}, {qid}: {words!r} not in {error!r}"
