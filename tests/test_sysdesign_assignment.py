"""The module 5 assignment: the solution passes, the released version fails, and plausible wrong
answers (unit slips, mean instead of percentile, series vs parallel...) fail their question."""

from __future__ import annotations

import pytest

from tpmlab.grading import notebooks as nbs
from tpmlab.paths import REPO_ROOT

PATH = REPO_ROOT / "exercises" / "05-system-design" / "system-design.ipynb"
QUESTIONS = [f"q{i}_tests" for i in range(1, 13)]

PCT = """
def latency_percentiles(df):
    {body}
q4 = latency_percentiles(log[log["endpoint"] == "/v1/search"])
"""
SLI = """
def latency_sli(df, threshold_ms):
    {body}
q5_sli = latency_sli(log, 300)
q5_met = q5_sli >= 0.99
"""
BUDGET = """
def budget_remaining(df, slo):
    {body}
q6_remaining = budget_remaining(log, 0.995)
"""
BURN = """
def burn_rate_at(df, end, window, slo):
    end = pd.Timestamp(end)
    inside = df[(df["ts"] >= end - window) & (df["ts"] < end)]
    {body}
_end = incident["started_at"] + pd.Timedelta("1h")
q7_1h = burn_rate_at(log, _end, pd.Timedelta("1h"), 0.995)
q7_6h = burn_rate_at(log, _end, pd.Timedelta("6h"), 0.995)
"""
TASKS = 'log[(log["method"] == "GET") & (log["endpoint"] == "/v1/projects/{project_id}/tasks")]'
POST = 'log[(log["method"] == "POST") & (log["endpoint"] == "/v1/projects/{project_id}/tasks")]'

WRONG_A = {
    "q1": "q1_rps = 800_000 * 25 * 4 / 3_600",  # per hour, not per second
    "q2": "q2_tb = 50_000 * 2e6 * 3 * 365 / 1e12",  # forgot the 3 copies
    "q3": f"q3_mbps = 1_200 * {TASKS}['bytes_out'].mean() / 1e6",  # MB/s, not Mbps
    "q4": PCT.format(
        body='m = float(df["latency_ms"].mean())\n    return {"p50": m, "p95": m, "p99": m}'
    ),  # mean instead of percentile
    "q5": SLI.format(body='return float((df["latency_ms"] <= threshold_ms).mean())'),  # all methods
    "q6": BUDGET.format(body='return float((df["status"] < 500).mean())'),  # the SLI itself
    "q7": BURN.format(body='return float((inside["status"] >= 500).mean())'),  # error rate only
    "q8": "q8_hit_rate = cache.simulate_lru(cache.sample_keys(cache.zipf_popularity(5_000, 0.9),"
    " 100_000, seed=2025), 250).hit_rate",  # warm-up counted
    "q9": "_m = log.loc[log['endpoint'] == '/v1/tasks/{task_id}', 'latency_ms'].median()\n"
    "q9_ms = (1 - q8_hit_rate) * 2 + q8_hit_rate * _m",  # hit and miss swapped
    "q10": f"q10_max_rps = 40 / {POST}['latency_ms'].mean()",  # ms, not s
    "q11": "q11_p_wait = 100 / (6 * 20)\nq11_mean_ms = queueing.mmc(100, 20, 6).W * 1000",  # rho
    "q12": "q12_availability = reliability.series(0.9999, 0.9999, 0.995, 0.995, 0.9995)\n"
    "q12_minutes_per_month = (1 - q12_availability) * 43_200",  # parallel treated as series
}

WRONG_B = {
    "q1": "q1_rps = 800_000 * 25 / 86_400",  # forgot requests per action
    "q2": "q2_tb = 50_000 * 2 * 2**20 * 3 * 365 * 3 / 2**40",  # TiB with binary MB
    "q3": f"q3_mbps = 1_200 * {TASKS}['bytes_out'].median() * 8 / 1e6",  # median, not mean
    "q4": PCT.format(
        body='import numpy as _np\n    p = _np.percentile(df["latency_ms"], [50, 95, 99]) / 1000\n'
        '    return {"p50": p[0], "p95": p[1], "p99": p[2]}'
    ),  # seconds, not ms
    "q5": SLI.format(
        body='g = df[df["method"] == "GET"]\n    return float((g["latency_ms"] <= threshold_ms).mean() * 100)'
    ),  # percentage
    "q6": BUDGET.format(
        body='return 1 - int((df["status"] >= 400).sum()) / ((1 - slo) * len(df))'
    ),  # 4xx counted as bad
    "q7": BURN.format(body='return float((df["status"] >= 500).mean() / (1 - slo))'),  # whole log
    "q8": "q8_hit_rate = 100 * cache.simulate_lru(cache.sample_keys(cache.zipf_popularity(5_000,"
    " 0.9), 100_000, seed=2025), 250, warmup=10_000).hit_rate",  # percentage
    "q9": "_m = log.loc[log['endpoint'] == '/v1/tasks/{task_id}', 'latency_ms'].median()\n"
    "q9_ms = (q8_hit_rate * 2 + (1 - q8_hit_rate) * _m) / 1000",  # seconds
    "q10": f"q10_max_rps = 40 / ({POST}['latency_ms'].quantile(0.99) / 1000)",  # p99, not mean
    "q11": "q11_p_wait = queueing.mmc(100, 20, 6).p_wait\nq11_mean_ms = queueing.mmc(100, 20, 6).W",
    "q12": "q12_availability = reliability.series(0.9999, 0.9999, reliability.parallel(0.995,"
    " 0.995), 0.9995)\nq12_minutes_per_month = (1 - q12_availability) * 525_600",  # per year
}


@pytest.fixture(scope="module")
def data_ready():
    """The assignment reads Orbit's default dataset (built by `make data`)."""
    from tpmlab.paths import default_db_path

    if not default_db_path().exists():
        pytest.skip("datasets/orbit.sqlite is not built: run `make data`")
    return default_db_path()


def test_solution_passes_every_question(data_ready):
    res = nbs.run(PATH)
    assert sorted(res) == sorted(QUESTIONS)
    failed = {k: v.error for k, v in res.items() if not v.passed}
    assert not failed, failed
    assert sum(v.max_points for v in res.values()) >= 30


def test_released_version_fails_every_question(data_ready):
    res = nbs.run(PATH, released=True)
    assert all(not v.passed for v in res.values()), {k: v.passed for k, v in res.items()}


@pytest.mark.parametrize("wrong", [WRONG_A, WRONG_B], ids=["wrong_a", "wrong_b"])
def test_plausible_wrong_answers_fail(data_ready, wrong):
    res = nbs.run(PATH, wrong)
    passed = [q for q in QUESTIONS if res[q].passed]
    assert not passed, f"wrong answers accepted for {passed}"
