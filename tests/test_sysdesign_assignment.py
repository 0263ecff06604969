"""The module 5 assignment: the solution passes, the released version fails, and plausible wrong
answers (unit slips, mean instead of percentile, series vs parallel...) fail their question.

Hidden tests record answers that the grader judges against the solution's answer key, outside the
learner's kernel: a wrong answer that the public checks let through fails with
``HiddenTestFailed: '<key>' is ..., expected ...``, naming the probe that caught it."""

from __future__ import annotations

import pytest

from tpmlab.grading import notebooks as nbs
from tpmlab.paths import REPO_ROOT

PATH = REPO_ROOT / "exercises" / "05-system-design" / "system-design.ipynb"

# every test here runs the whole assignment notebook: left to `make test`
pytestmark = pytest.mark.slow
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
READ = """
def read_latency_ms(hit_rate):
    m = {miss}
    {body}
q9_ms = read_latency_ms(q8_hit_rate)
"""
# June's median latency of GET /v1/tasks/{task_id}: the miss cost Q9 asks for
MISS = (
    "log.loc[(log['method'] == 'GET') & (log['endpoint'] == '/v1/tasks/{task_id}'), 'latency_ms']"
)
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
    "q9": READ.format(
        miss=f"{MISS}.median()", body="return (1 - hit_rate) * 2 + hit_rate * m"
    ),  # hit and miss weights swapped
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
    "q9": READ.format(
        miss=f"{MISS}.median()", body="return (hit_rate * 2 + (1 - hit_rate) * m) / 1000"
    ),  # seconds
    "q10": f"q10_max_rps = 40 / ({POST}['latency_ms'].quantile(0.99) / 1000)",  # p99, not mean
    "q11": "q11_p_wait = queueing.mmc(100, 20, 6).p_wait\nq11_mean_ms = queueing.mmc(100, 20, 6).W",
    "q12": "q12_availability = reliability.series(0.9999, 0.9999, reliability.parallel(0.995,"
    " 0.995), 0.9995)\nq12_minutes_per_month = (1 - q12_availability) * 525_600",  # per year
}


# (wrong answers, question) -> words the public check's message must hold: it names the mistake
PUBLIC_MESSAGES = {
    ("wrong_a", "q4"): "220 ms, the mean",  # the mean returned as every percentile
    ("wrong_b", "q4"): "that is in seconds",  # seconds, not milliseconds
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


@pytest.mark.parametrize("name", ["wrong_a", "wrong_b"])
def test_plausible_wrong_answers_fail(data_ready, name):
    res = nbs.run(PATH, {"wrong_a": WRONG_A, "wrong_b": WRONG_B}[name])
    passed = [q for q in QUESTIONS if res[q].passed]
    assert not passed, f"wrong answers accepted for {passed}"
    # a worded public check or a hidden answer judged wrong, never a crash
    for q in QUESTIONS:
        assert res[q].error.startswith(("CheckFailed: ", "HiddenTestFailed: ")), (q, res[q].error)
    for (run, q), words in PUBLIC_MESSAGES.items():
        if run == name:
            error = res[f"{q}_tests"].error
            assert error.startswith("CheckFailed: ") and words in error, (q, error)


# Wrong answers that pass every public check, so only the hidden answers can catch them: each
# question's failure must name the probe (answer key) that caught it.
HIDDEN_ONLY = {
    "q1": ("q1_rps = 800_000 * 25 * 4 / 100_000", ["requests per second"]),  # 14% off
    "q2": (WRONG_B["q2"], ["terabytes after 3 years"]),  # TiB with binary MB: 4.6% off
    "q3": (WRONG_B["q3"], ["egress in Mbps"]),  # median size, not mean
    "q4": (  # p90 reported as p95
        PCT.format(
            body='import numpy as _np\n    p = _np.percentile(df["latency_ms"], [50, 90, 99])\n'
            '    return {"p50": p[0], "p95": p[1], "p99": p[2]}'
        ),
        ["lognormal sample p95"],
    ),
    "q5": (  # < instead of <=: the probe has a request at exactly 300 ms
        SLI.format(
            body='g = df[df["method"] == "GET"]\n'
            '    return float((g["latency_ms"] < threshold_ms).mean())'
        ),
        ["GETs and POSTs, 300 ms"],
    ),
    "q6": (  # the slo argument ignored: right for June's 99.5%, wrong for the probe's 99%
        BUDGET.format(body='return 1 - int((df["status"] >= 500).sum()) / (0.005 * len(df))'),
        ["404s and 503s, SLO 99%"],
    ),
    "q7": (  # ts <= end: the window takes in the first error at its end
        BURN.replace('df["ts"] < end', 'df["ts"] <= end').format(
            body='return float((inside["status"] >= 500).mean() / (1 - slo))'
        ),
        ["window ending at the first error"],
    ),
    "q8": (
        "q8_hit_rate = cache.simulate_lru(cache.sample_keys(cache.zipf_popularity(5_000, 0.9),"
        " 100_000, seed=2024), 250, warmup=10_000).hit_rate",  # another seed
        ["LRU hit rate, seed 2025"],
    ),
    "q9": (  # the mean miss latency, not the median
        READ.format(miss=f"{MISS}.mean()", body="return hit_rate * 2 + (1 - hit_rate) * m"),
        ["hit rate 0.0", "hit rate 0.25", "hit rate 0.9"],
    ),
    "q10": (f"q10_max_rps = 40 / ({POST}['latency_ms'].median() / 1000)", ["max throughput"]),
    "q11": (  # the wait only, without the service time
        "_m = queueing.mmc(100, 20, 6)\nq11_p_wait = _m.p_wait\nq11_mean_ms = _m.Wq * 1000",
        ["mean response in ms"],
    ),
    "q12": (  # a 31-day month
        "q12_availability = reliability.series(0.9999, 0.9999, reliability.parallel(0.995,"
        " 0.995), 0.9995)\nq12_minutes_per_month = (1 - q12_availability) * 31 * 24 * 60",
        ["downtime minutes per month"],
    ),
}


# More of them, in a second run (one answer cell per question and run)
HIDDEN_ONLY_MORE = {
    "q6": (  # the budget clipped at 0: right for June (not overspent), wrong when overspent
        BUDGET.format(
            body='return max(0.0, 1 - int((df["status"] >= 500).sum()) / ((1 - slo) * len(df)))'
        ),
        ["overspent: 10 5xx in 1,000, SLO 99.5%"],
    ),
    "q4": (  # sorted(values)[int(p * n)]: one place too high whenever p * n is a whole number
        PCT.format(
            body='s = sorted(df["latency_ms"])\n'
            '    return {k: float(s[int(p * len(s))]) for k, p in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))}'
        ),
        ["p99 of 1, 2, ..., 99 ms and one 10,000 ms request"],
    ),
}


@pytest.mark.parametrize("cases", [HIDDEN_ONLY, HIDDEN_ONLY_MORE], ids=["run1", "run2"])
def test_hidden_answers_catch_what_the_public_checks_miss(data_ready, cases):
    res = nbs.run(PATH, {q: code for q, (code, _) in cases.items()})
    for q, (_, keys) in cases.items():
        error = res[f"{q}_tests"].error
        assert error.startswith("HiddenTestFailed: "), (q, error)
        for key in keys:
            assert f"{key!r} is " in error, (q, error)


def test_accepted_alternatives_pass(data_ready):
    """What the questions say is accepted: a rounded estimate within the tolerance, nearest-rank
    percentiles, a numpy bool for the SLO verdict."""
    res = nbs.run(
        PATH,
        {
            "q1": "q1_rps = 1_000",  # 8% above 926: within 10%
            "q2": "q2_tb = 320",  # 2.6% below 328.5: within 3%
            "q4": PCT.format(
                body='import numpy as _np\n    v = df["latency_ms"].to_numpy(dtype=float)\n'
                '    p = _np.percentile(v, [50, 95, 99], method="inverted_cdf")\n'
                '    return {"p50": p[0], "p95": p[1], "p99": p[2]}'
            ),
            "q5": SLI.format(
                body='g = df[df["method"] == "GET"]\n'
                '    return float((g["latency_ms"] <= threshold_ms).mean())'
            ).replace("q5_met = q5_sli >= 0.99", "q5_met = np.float64(q5_sli) >= 0.99"),
        },
    )
    for q in ("q1", "q2", "q4", "q5"):
        assert res[f"{q}_tests"].passed, (q, res[f"{q}_tests"].error)


@pytest.mark.parametrize(
    ("miss", "body"),
    [
        (  # PATCH and DELETE requests counted in the miss latency
            "log.loc[log['endpoint'] == '/v1/tasks/{task_id}', 'latency_ms'].median()",
            "return hit_rate * 2 + (1 - hit_rate) * m",
        ),
        (f"{MISS}.median()", "return hit_rate * 2 + (1 - hit_rate) * (m + 2)"),  # lookup added
    ],
    ids=["all_methods", "miss_plus_lookup"],
)
def test_q9_wrong_miss_cost_fails_on_the_hidden_hit_rates(data_ready, miss, body):
    """Right at hit rate 1 and decreasing, so the public checks pass; the miss cost is wrong."""
    res = nbs.run(PATH, {"q9": READ.format(miss=miss, body=body)})
    error = res["q9_tests"].error
    assert error.startswith("HiddenTestFailed: "), error
    assert "'hit rate 0.0' is " in error, error


@pytest.mark.parametrize(
    "answers",
    [
        {  # warm-up counted: a hit rate that passes Q8's public checks; Q9 in the learner's words
            "q8": WRONG_A["q8"],
            "q9": READ.format(
                miss=f"float({MISS}.median())", body="return hit_rate * 2 + (1 - hit_rate) * m"
            ),
        },
        # Q8 not answered: q8_hit_rate is undefined and q9_ms fails, the function stays right
        {"q8": "# YOUR CODE HERE\nraise NotImplementedError()"},
    ],
    ids=["wrong_q8", "blank_q8"],
)
def test_a_wrong_q8_does_not_cost_q9(data_ready, answers):
    """Q9 is judged on the function at the grader's own hit rates, not at the learner's Q8 answer,
    so a mistake in Q8 is not carried forward."""
    res = nbs.run(PATH, answers)
    assert not res["q8_tests"].passed
    assert res["q9_tests"].passed, res["q9_tests"].error
