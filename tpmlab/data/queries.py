"""The canonical lesson queries on Orbit's data, as named SQL strings shared by lessons and tests.

The module-level constants (``DAU``, ``FUNNEL_ORDERED``...) are written for SQLite, the bundled
database. :func:`get` returns the same query for another dialect (``postgresql`` or ``duckdb``):
only date arithmetic differs, the logic and the results are the same.

- ``DAU``: distinct active users per day (a user is active on a day with any event).
- ``FUNNEL_ORDERED``: users reaching each onboarding step, each step at or after the previous
  step's first time (the right way).
- ``FUNNEL_UNORDERED``: users who ever did each step, ignoring order (the tempting wrong way).
- ``FUNNEL_7D``: the ordered funnel with a 7-day conversion window: every step within 7 days
  (168 hours) of the user's signup, for the users who signed up by 2025-06-23 (whose 7 days are
  all in the data).
- ``ACTIVATION_7D``: per signup platform, the share of users (signed up by 2025-06-23) with a
  ``task_created`` event within 7 days of signing up.
- ``RETENTION_MATRIX``: weekly signup cohorts (weeks start on Monday) x weeks since signup
  (``week_number`` 0 = days 0-6), share of the cohort active in that week. A cell is kept only
  when every member of the cohort has reached the end of that week in the data (so no cohort's
  last column is a partly observed week), and a week with no active member shows 0, not a gap.
- ``DAY7_RETENTION``: per signup week, the share of users active exactly 7 days after their
  signup date (cohorts up to 2025-06-23, whose day 7 is in the data).
- ``MRR_BY_MONTH``: monthly recurring revenue at each month end (subscriptions active then).
"""

from __future__ import annotations

DIALECTS = ("sqlite", "postgresql", "duckdb")

_FRAGMENTS = {
    "sqlite": {
        "week_start": "DATE({col}, '-6 days', 'weekday 1')",
        "days_between": "CAST(julianday({a}) - julianday({b}) AS INTEGER)",
        "add_days": "DATE({col}, '+{n} days')",
        "add_days_ts": "DATETIME({col}, '+{n} days')",
        "ts": "'{v}'",
        "date": "'{v}'",
        "intdiv": "({a}) / {b}",
    },
    "postgresql": {
        "week_start": "CAST(date_trunc('week', {col}) AS DATE)",
        "days_between": "({a} - {b})",
        "add_days": "({col} + {n})",
        "add_days_ts": "({col} + INTERVAL '{n} days')",
        "ts": "TIMESTAMP '{v}'",
        "date": "DATE '{v}'",
        "intdiv": "({a}) / {b}",
    },
    "duckdb": {
        "week_start": "CAST(date_trunc('week', {col}) AS DATE)",
        "days_between": "CAST({a} - {b} AS INTEGER)",
        "add_days": "CAST({col} + INTERVAL {n} DAY AS DATE)",
        "add_days_ts": "({col} + INTERVAL {n} DAY)",
        "ts": "TIMESTAMP '{v}'",
        "date": "DATE '{v}'",
        "intdiv": "({a}) // {b}",
    },
}

FUNNEL_STEPS = ["signup", "onboarding_complete", "project_created", "task_created", "invite_sent"]


def _step_counts(ctes: list[str]) -> str:
    """A funnel query from its step CTEs ``s1``, ``s2``, ...: one row per step with the users
    who reached it, in the funnel's order."""
    selects = [
        f"SELECT {i} AS step_order, '{s}' AS step, (SELECT COUNT(*) FROM s{i}) AS users"
        for i, s in enumerate(FUNNEL_STEPS, start=1)
    ]
    return (
        "WITH " + ",\n".join(ctes) + "\n" + "\nUNION ALL\n".join(selects) + "\nORDER BY step_order"
    )


def _dau(f) -> str:
    return """SELECT event_date AS day, COUNT(DISTINCT user_id) AS dau
FROM events
GROUP BY event_date
ORDER BY event_date"""


def _funnel_ordered(f) -> str:
    ctes = [
        "s1 AS (\n  SELECT user_id, MIN(event_time) AS t\n  FROM events\n"
        "  WHERE event_name = 'signup'\n  GROUP BY user_id\n)"
    ]
    for i, step in enumerate(FUNNEL_STEPS[1:], start=2):
        ctes.append(
            f"s{i} AS (\n  SELECT e.user_id, MIN(e.event_time) AS t\n"
            f"  FROM events e JOIN s{i - 1} p ON p.user_id = e.user_id\n"
            f"  WHERE e.event_name = '{step}' AND e.event_time >= p.t\n"
            "  GROUP BY e.user_id\n)"
        )
    return _step_counts(ctes)


#: Conversion window of FUNNEL_7D and ACTIVATION_7D, and the last signup date whose window
#: ends inside the data (the data ends on 2025-06-30).
CONVERSION_DAYS = 7
LAST_FULL_WINDOW_SIGNUP = "2025-06-23"


def _funnel_7d(f) -> str:
    last = f["date"].format(v=LAST_FULL_WINDOW_SIGNUP)
    ctes = [
        "s1 AS (\n  SELECT e.user_id, MIN(e.event_time) AS t, MIN(e.event_time) AS t0\n"
        "  FROM events e JOIN users u ON u.user_id = e.user_id\n"
        f"  WHERE e.event_name = 'signup' AND u.signup_date <= {last}\n  GROUP BY e.user_id\n)"
    ]
    for i, step in enumerate(FUNNEL_STEPS[1:], start=2):
        end = f["add_days_ts"].format(col="p.t0", n=CONVERSION_DAYS)
        ctes.append(
            f"s{i} AS (\n  SELECT e.user_id, MIN(e.event_time) AS t, MIN(p.t0) AS t0\n"
            f"  FROM events e JOIN s{i - 1} p ON p.user_id = e.user_id\n"
            f"  WHERE e.event_name = '{step}' AND e.event_time >= p.t AND e.event_time <= {end}\n"
            "  GROUP BY e.user_id\n)"
        )
    return _step_counts(ctes)


def _activation_7d(f) -> str:
    last = f["date"].format(v=LAST_FULL_WINDOW_SIGNUP)
    end = f["add_days_ts"].format(col="u.signup_at", n=CONVERSION_DAYS)
    return f"""WITH activated AS (
  SELECT DISTINCT e.user_id
  FROM events e JOIN users u ON u.user_id = e.user_id
  WHERE e.event_name = 'task_created' AND e.event_time <= {end}
)
SELECT u.platform,
       COUNT(*) AS users,
       COUNT(a.user_id) AS activated,
       1.0 * COUNT(a.user_id) / COUNT(*) AS activation_rate
FROM users u
LEFT JOIN activated a ON a.user_id = u.user_id
WHERE u.signup_date <= {last}
GROUP BY u.platform
ORDER BY activation_rate DESC"""


def _funnel_unordered(f) -> str:
    names = ", ".join(f"'{s}'" for s in FUNNEL_STEPS)
    cases = "\n".join(f"  WHEN '{s}' THEN {i}" for i, s in enumerate(FUNNEL_STEPS, start=1))
    return f"""SELECT CASE event_name
{cases}
  END AS step_order,
  event_name AS step,
  COUNT(DISTINCT user_id) AS users
FROM events
WHERE event_name IN ({names})
GROUP BY event_name
ORDER BY step_order"""


def _retention_matrix(f) -> str:
    week = f["week_start"].format(col="signup_date")
    days = f["days_between"].format(a="d.event_date", b="c.signup_date")
    wn = f["intdiv"].format(a=days, b=7)
    observed = f["days_between"].format(a="e.last_day", b="s.last_signup")
    span = f["days_between"].format(a="MAX(event_date)", b="MIN(event_date)")
    return f"""WITH RECURSIVE weeks(week_number) AS (
  SELECT 0
  UNION ALL
  SELECT week_number + 1 FROM weeks
  WHERE 7 * (week_number + 1) <= (SELECT {span} FROM events)
),
data_end AS (
  SELECT MAX(event_date) AS last_day FROM events
),
cohort AS (
  SELECT user_id, signup_date, {week} AS cohort_week
  FROM users
),
sizes AS (
  SELECT cohort_week, COUNT(*) AS cohort_size, MAX(signup_date) AS last_signup
  FROM cohort GROUP BY cohort_week
),
cells AS (
  -- a cell is shown only when every member of the cohort has lived through the whole week:
  -- the last signup's week ends on day 7 * week_number + 6, on or before the data's last day
  SELECT s.cohort_week, s.cohort_size, w.week_number
  FROM sizes s CROSS JOIN weeks w CROSS JOIN data_end e
  WHERE 7 * w.week_number + 6 <= {observed}
),
activity AS (
  SELECT DISTINCT d.user_id, c.cohort_week, {wn} AS week_number
  FROM (SELECT DISTINCT user_id, event_date FROM events) d
  JOIN cohort c ON c.user_id = d.user_id
),
active AS (
  SELECT cohort_week, week_number, COUNT(*) AS active_users
  FROM activity GROUP BY cohort_week, week_number
)
SELECT x.cohort_week, x.week_number, x.cohort_size,
       COALESCE(a.active_users, 0) AS active_users,
       1.0 * COALESCE(a.active_users, 0) / x.cohort_size AS retention
FROM cells x
LEFT JOIN active a ON a.cohort_week = x.cohort_week AND a.week_number = x.week_number
ORDER BY x.cohort_week, x.week_number"""


def _day7(f) -> str:
    week = f["week_start"].format(col="signup_date")
    d7 = f["add_days"].format(col="c.signup_date", n=7)
    last = f["date"].format(v="2025-06-23")
    return f"""WITH cohort AS (
  SELECT user_id, signup_date, {week} AS signup_week
  FROM users
  WHERE signup_date <= {last}
),
flagged AS (
  SELECT c.signup_week,
         CASE WHEN EXISTS (
           SELECT 1 FROM events e
           WHERE e.event_date = {d7} AND e.user_id = c.user_id
         ) THEN 1 ELSE 0 END AS retained
  FROM cohort c
)
SELECT signup_week, COUNT(*) AS users, SUM(retained) AS retained_d7,
       1.0 * SUM(retained) / COUNT(*) AS d7_retention
FROM flagged
GROUP BY signup_week
ORDER BY signup_week"""


_MONTH_ENDS = [
    ("2025-01", "2025-01-31 23:59:59"),
    ("2025-02", "2025-02-28 23:59:59"),
    ("2025-03", "2025-03-31 23:59:59"),
    ("2025-04", "2025-04-30 23:59:59"),
    ("2025-05", "2025-05-31 23:59:59"),
    ("2025-06", "2025-06-30 23:59:59"),
]


def _mrr(f) -> str:
    values = ",\n  ".join(f"('{m}', {f['ts'].format(v=e)})" for m, e in _MONTH_ENDS)
    return f"""WITH months(month, month_end) AS (
  VALUES
  {values}
)
SELECT m.month,
       COALESCE(SUM(s.mrr_usd), 0) AS mrr_usd,
       COUNT(s.subscription_id) AS paying_workspaces
FROM months m
LEFT JOIN subscriptions s
  ON s.started_at <= m.month_end AND (s.ended_at IS NULL OR s.ended_at > m.month_end)
GROUP BY m.month
ORDER BY m.month"""


_BUILDERS = {
    "DAU": _dau,
    "FUNNEL_ORDERED": _funnel_ordered,
    "FUNNEL_UNORDERED": _funnel_unordered,
    "FUNNEL_7D": _funnel_7d,
    "ACTIVATION_7D": _activation_7d,
    "RETENTION_MATRIX": _retention_matrix,
    "DAY7_RETENTION": _day7,
    "MRR_BY_MONTH": _mrr,
}

#: Names of the canonical queries.
NAMES = tuple(_BUILDERS)


def get(name: str, dialect: str = "sqlite") -> str:
    """The SQL of query ``name`` (one of :data:`NAMES`) for ``dialect``."""
    key = name.upper()
    if key not in _BUILDERS:
        raise KeyError(f"Unknown query {name!r}; the queries are: {', '.join(NAMES)}.")
    if dialect not in _FRAGMENTS:
        raise KeyError(f"Unknown dialect {dialect!r}; use one of: {', '.join(DIALECTS)}.")
    return _BUILDERS[key](_FRAGMENTS[dialect])


DAU = get("DAU")
FUNNEL_ORDERED = get("FUNNEL_ORDERED")
FUNNEL_UNORDERED = get("FUNNEL_UNORDERED")
FUNNEL_7D = get("FUNNEL_7D")
ACTIVATION_7D = get("ACTIVATION_7D")
RETENTION_MATRIX = get("RETENTION_MATRIX")
DAY7_RETENTION = get("DAY7_RETENTION")
MRR_BY_MONTH = get("MRR_BY_MONTH")
