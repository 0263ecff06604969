"""Module 2 (metrics and a metric drop): plausible wrong answers fail their question, through the
same judge as grading; the solution of every question left alone passes.

The solution passing and the released version failing every test are proved for every
assignment by tests/test_grading_assignments.py. Wrong answers here are the ones the questions invite:
inactive users in the denominator, an average of daily ratios, user-days for distinct users, the
other (exact but different) mix/rate convention, an interaction term left out, mix and rate
swapped, windows swapped, the end date left out, tasks by created_at, the seed-42 answer typed in
(fails on the re-seeded copies), an off-by-one last day, the decoy's release taken for the drop,
a partial week (three days, or six), last week over this week, a population sd, a band of the
weekly counts; and, from a review written from the question text alone: every active user as the
platform's denominator, a window one day short, dates returned as datetimes, an inner join that
drops a day with no completions, the platform with the fewest completions taken for the decoy.
"""

from __future__ import annotations

import re

import pytest

from tpmlab.grading import notebooks as nbs
from tpmlab.paths import REPO_ROOT

PATH = REPO_ROOT / "exercises" / "02-metrics" / "metrics.ipynb"
QUESTIONS = [f"q{i}" for i in range(1, 11)]

pytestmark = pytest.mark.slow

Q1_INACTIVE = """
def completion_rate(eng, start, end):
    done = compute(defs.COMPLETING_USERS, eng, start=start, end=end, grain="all")
    users = pd.read_sql(
        sa.text("SELECT COUNT(*) AS n FROM users WHERE signup_date <= :d"), eng, params={"d": end}
    )
    return float(done["value"].iloc[0] / users["n"].iloc[0])
"""
Q1_DAILY = """
def completion_rate(eng, start, end):
    return float(compute(defs.COMPLETION_RATE, eng, start=start, end=end)["value"].mean())
"""
Q2_DAILY = """
def completions_per_active_user(eng, start, end):
    d = compute(defs.COMPLETIONS_PER_ACTIVE_USER, eng, start=start, end=end, by="platform")
    return {k: float(v) for k, v in d.groupby("segment")["value"].mean().items()}
"""
Q2_USER_DAYS = """
def completions_per_active_user(eng, start, end):
    d = compute(defs.COMPLETIONS_PER_ACTIVE_USER, eng, start=start, end=end, by="platform")
    g = d.groupby("segment")[["numerator", "denominator"]].sum()
    return {k: float(r.numerator / r.denominator) for k, r in g.iterrows()}
"""
Q2_ALL_USERS = """
def completions_per_active_user(eng, start, end):
    c = compute(defs.TASK_COMPLETIONS, eng, start=start, end=end, grain="all", by="platform")
    everyone = compute(defs.ACTIVE_USERS, eng, start=start, end=end, grain="all")["value"].iloc[0]
    return {r.segment: float(r.value / everyone) for r in c.itertuples()}
"""
_Q3 = """
def mix_and_rate(before, after):
    b = before.set_index("platform")
    a = after.set_index("platform").loc[b.index]
    w0, w1 = b.active_users / b.active_users.sum(), a.active_users / a.active_users.sum()
    r0, r1 = b.completions / b.active_users, a.completions / a.active_users
    return %s
"""
Q3_OTHER_CONVENTION = _Q3 % "float(((w1 - w0) * r0).sum()), float((w1 * (r1 - r0)).sum())"
Q3_NO_INTERACTION = _Q3 % "float(((w1 - w0) * r0).sum()), float((w0 * (r1 - r0)).sum())"
Q3_SWAPPED = _Q3 % (
    "float(((r1 - r0) * (w0 + w1) / 2).sum()), float(((w1 - w0) * (r0 + r1) / 2).sum())"
)
Q4_SWAPPED = """
def explain_change(eng, before, after):
    t = [compute(defs.COMPLETIONS_PER_ACTIVE_USER, eng, start=s, end=e, grain="all", by="platform")
         for s, e in (after, before)]
    return mix_rate(t[0], t[1])[["segment", "mix", "rate", "total"]]
"""
Q4_RATE_METRIC = """
def explain_change(eng, before, after):
    t = [compute(defs.COMPLETION_RATE, eng, start=s, end=e, grain="all", by="platform")
         for s, e in (before, after)]
    return mix_rate(t[0], t[1])[["segment", "mix", "rate", "total"]]
"""
Q4_DAY_SHORT = """
def explain_change(eng, before, after):
    day = pd.Timedelta(days=1)
    t = [compute(defs.COMPLETIONS_PER_ACTIVE_USER, eng, start=s,
                 end=str((pd.Timestamp(e) - day).date()), grain="all", by="platform")
         for s, e in (before, after)]  # the end date left out
    return mix_rate(t[0], t[1])[["segment", "mix", "rate", "total"]]
"""
_Q5 = """
def reconcile(eng, start, end):
    %s
    ev = pd.read_sql(sa.text(
        "SELECT substr(event_time, 1, 10) AS date, COUNT(*) AS events FROM events "
        "WHERE event_name = 'task_completed' AND event_time >= :s AND event_time < :e GROUP BY 1"),
        eng, params={"s": start, "e": e})
    tk = pd.read_sql(sa.text(
        "SELECT substr(%s, 1, 10) AS date, COUNT(*) AS tasks_done FROM tasks "
        "WHERE completed_at IS NOT NULL AND %s >= :s AND %s < :e GROUP BY 1"),
        eng, params={"s": start, "e": e})
    out = ev.merge(tk, on="date", how="outer").fillna(0)
    out[["events", "tasks_done"]] = out[["events", "tasks_done"]].astype(int)
    out["gap"] = out["tasks_done"] - out["events"]
    return out.sort_values("date").reset_index(drop=True)
"""
Q5_END_LEFT_OUT = _Q5 % ("e = end", "completed_at", "completed_at", "completed_at")
Q5_CREATED_AT = _Q5 % (
    "e = str((pd.Timestamp(end) + pd.Timedelta(days=1)).date())",
    "created_at",
    "created_at",
    "created_at",
)
Q5_DATETIME = """
def reconcile(eng, start, end):
    ev = compute(defs.TASK_COMPLETIONS, eng, start=start, end=end)[["bucket", "value"]]
    tk = compute(defs.TASKS_DONE, eng, start=start, end=end)[["bucket", "value"]]
    out = ev.merge(tk, on="bucket", how="outer").fillna(0)
    out.columns = ["date", "events", "tasks_done"]
    out["date"] = pd.to_datetime(out["date"])
    out[["events", "tasks_done"]] = out[["events", "tasks_done"]].astype(int)
    out["gap"] = out["tasks_done"] - out["events"]
    return out.sort_values("date").reset_index(drop=True)
"""
Q5_INNER_JOIN = """
def reconcile(eng, start, end):
    ev = compute(defs.TASK_COMPLETIONS, eng, start=start, end=end)[["bucket", "value"]]
    tk = compute(defs.TASKS_DONE, eng, start=start, end=end)[["bucket", "value"]]
    out = ev.merge(tk, on="bucket")
    out.columns = ["date", "events", "tasks_done"]
    out["gap"] = out["tasks_done"] - out["events"]
    return out.sort_values("date").reset_index(drop=True)
"""
Q6_TYPED = """
def find_decoy(eng):
    return {"platform": "android", "first_date": "2025-03-27", "last_date": "2025-04-21"}
"""
Q6_OFF_BY_ONE = """
def find_decoy(eng):
    ev = compute(defs.TASK_COMPLETIONS, eng, start="2025-03-01", end="2025-05-31")
    tk = compute(defs.TASKS_DONE, eng, start="2025-03-01", end="2025-05-31")
    gap = tk.set_index("bucket")["value"] - ev.set_index("bucket")["value"]
    bad = gap[gap > 0].index
    first = bad.min()
    after = gap[(gap.index > first) & (gap == 0)].index.min()  # the first day it reconciles again
    inside = compute(defs.TASK_COMPLETIONS, eng, start=first, end=after, grain="all", by="platform")
    return {"platform": str(inside.set_index("segment")["value"].drop("web").idxmin()),
            "first_date": first, "last_date": after}
"""
Q6_FEWEST = """
def find_decoy(eng):  # reads no other answer (run 3's reconcile returns datetimes)
    ev = compute(defs.TASK_COMPLETIONS, eng, start="2025-03-01", end="2025-05-31")
    tk = compute(defs.TASKS_DONE, eng, start="2025-03-01", end="2025-05-31")
    gap = tk.set_index("bucket")["value"] - ev.set_index("bucket")["value"]
    first, last = str(gap[gap > 0].index.min()), str(gap[gap > 0].index.max())
    inside = compute(defs.TASK_COMPLETIONS, eng, start=first, end=last, grain="all", by="platform")
    return {"platform": str(inside.set_index("segment")["value"].idxmin()),
            "first_date": first, "last_date": last}
"""
Q7_TYPED = """
def locate_drop(eng):
    return {"platform": "ios", "start_date": "2025-04-30"}
"""
Q7_NO_SKIP = """
def locate_drop(eng):
    dep = pd.read_sql(sa.text(
        "SELECT service, deployed_at FROM deploys WHERE status = 'success' "
        "AND service IN ('ios', 'android') AND deployed_at >= '2025-03-01' "
        "AND deployed_at < '2025-05-25'"), eng)
    ev = pd.read_sql(sa.text(
        "SELECT platform, event_time FROM events WHERE event_name = 'task_completed' "
        "AND event_time >= '2025-02-20' AND event_time < '2025-06-01'"), eng)
    ev["t"] = pd.to_datetime(ev["event_time"])
    week, best = pd.Timedelta(days=7), None
    for d in dep.itertuples():
        t = pd.Timestamp(d.deployed_at)
        e = ev.loc[ev["platform"] == d.service, "t"]
        ratio = ((e >= t) & (e < t + week)).sum() / ((e >= t - week) & (e < t)).sum()
        if best is None or ratio < best[0]:
            best = (ratio, d.service, str(t.date()))
    return {"platform": best[1], "start_date": best[2]}
"""
_Q9 = """
def wow_change(eng, platform, monday):
    m = pd.Timestamp(monday)
    w = compute(defs.TASK_COMPLETIONS, eng, start=str((m - pd.Timedelta(days=7)).date()),
                end=str((m + pd.Timedelta(days=%d)).date()), grain="week", by="platform")
    v = w.loc[w["segment"] == platform, "value"].to_numpy()
    return float(%s)
"""
Q9_PARTIAL_WEEK = _Q9 % (2, "v[1] / v[0] - 1")  # this week "so far": Monday to Wednesday
Q9_SIX_DAYS = _Q9 % (5, "v[1] / v[0] - 1")  # "this week" Monday to Saturday
Q9_UPSIDE_DOWN = _Q9 % (6, "v[0] / v[1] - 1")
Q9_ABSOLUTE = _Q9 % (6, "v[1] - v[0]")
_Q10 = """
def noise_band(eng, platform, monday, weeks=8, z=2.0):
    m = pd.Timestamp(monday)
    w = compute(defs.TASK_COMPLETIONS, eng, start=str((m - pd.Timedelta(days=7 * (weeks + 1))).date()),
                end=str((m + pd.Timedelta(days=6)).date()), grain="week", by="platform")
    v = w.loc[w["segment"] == platform, "value"].astype(float).reset_index(drop=True)
    %s
    return float(mu - z * sd), float(mu + z * sd)
"""
Q10_POPULATION_SD = _Q10 % "c = (v / v.shift(1) - 1).iloc[1:-1]; mu, sd = c.mean(), c.std(ddof=0)"
Q10_COUNTS = _Q10 % "c = v.iloc[:-1] / v.iloc[:-1].mean() - 1; mu, sd = c.mean(), c.std(ddof=1)"
Q10_WITH_THIS_WEEK = _Q10 % "c = (v / v.shift(1) - 1).iloc[2:]; mu, sd = c.mean(), c.std(ddof=1)"

WRONG = [
    {
        "q1": Q1_INACTIVE,
        "q2": Q2_DAILY,
        "q3": Q3_OTHER_CONVENTION,
        "q4": Q4_SWAPPED,
        "q5": Q5_END_LEFT_OUT,
        "q6": Q6_TYPED,
        "q7": Q7_TYPED,
        "q8": 'q8_decoy = "users completed fewer tasks"',
        "q9": Q9_PARTIAL_WEEK,
        "q10": Q10_POPULATION_SD,
    },
    {
        "q1": Q1_DAILY,
        "q2": Q2_USER_DAYS,
        "q3": Q3_NO_INTERACTION,
        "q4": Q4_RATE_METRIC,
        "q5": Q5_CREATED_AT,
        "q6": Q6_OFF_BY_ONE,
        "q7": Q7_NO_SKIP,
        "q8": 'q8_decoy = "a mix shift toward a platform that completes less"',
        "q9": Q9_UPSIDE_DOWN,
        "q10": Q10_COUNTS,
    },
    {
        "q2": Q2_ALL_USERS,
        "q3": Q3_SWAPPED,
        "q4": Q4_DAY_SHORT,
        "q5": Q5_DATETIME,
        "q6": Q6_FEWEST,
        "q9": Q9_ABSOLUTE,
        "q10": Q10_WITH_THIS_WEEK,
    },
    {
        "q5": Q5_INNER_JOIN,
        "q9": Q9_SIX_DAYS,
    },
]


@pytest.fixture(scope="module")
def runs():
    return [nbs.run(PATH, wrong) for wrong in WRONG]


@pytest.mark.parametrize("run", range(len(WRONG)))
def test_wrong_answers_fail(runs, run):
    results = runs[run]
    for qid in WRONG[run]:
        assert not results[f"{qid}_tests"].passed, f"run {run}: the wrong answer to {qid} passed"
    for qid in QUESTIONS:
        if qid not in WRONG[run]:
            r = results[f"{qid}_tests"]
            assert r.passed, f"run {run}: the solution of {qid} failed: {r.error}"


def test_messages_name_the_mistake(runs):
    first, second, third, fourth = (r for r in runs)
    assert "every user who had signed up" in first["q1_tests"].error
    assert "averaged 30 daily rates" in second["q1_tests"].error
    assert "averaged the daily ratios" in first["q2_tests"].error
    assert "user-days" in second["q2_tests"].error
    assert "interaction term" in second["q3_tests"].error
    assert "(rate, mix)" in third["q3_tests"].error
    assert "wrong way round" in first["q4_tests"].error
    assert "14 rows" in first["q5_tests"].error
    assert "completed_at" in second["q5_tests"].error
    assert "pipeline" in second["q7_tests"].error
    assert "server's tasks table" in first["q8_tests"].error
    assert "full weeks" in first["q9_tests"].error
    assert "last week by this week" in second["q9_tests"].error
    assert "every active user of Orbit" in third["q2_tests"].error
    assert "text such as '2025-04-30'" in third["q5_tests"].error
    assert "first 6 day(s)" in fourth["q9_tests"].error
    # a wrong number in the mix/rate table is named by segment and column, and the hint of the
    # SQL module ("a date window one day too wide") is not given for it
    for q4 in (second["q4_tests"].error, third["q4_tests"].error):
        assert "one day too wide" not in q4, q4
        assert re.search(r'\["(android|ios|web|TOTAL) (mix|rate|total)"\] is', q4), q4
