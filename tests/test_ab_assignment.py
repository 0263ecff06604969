"""Module 3 assignment (exercises/03-ab-testing/ab-testing.ipynb): each autograded question
rejects plausible wrong answers (one- vs two-sided, pooled vs unpooled SE, per-arm vs total,
relative vs absolute, ignoring SRM...), the data questions (3, 6, 8, 10, 11) reject answers
hard-coded from the default data (their hidden checks rerun the learner's function on a re-seeded
copy), Question 7b rejects a typed-in list of SRM experiments (its hidden checks call
``srm_experiments`` on made-up databases where other experiments have an SRM), and the solution's
answers agree with the planted truth.

Solution-passes / release-fails is proven for every assignment by tests/test_grading_assignments.py.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportions_ztest,
    samplesize_proportions_2indep_onetail,
)

from tpmlab.grading import notebooks
from tpmlab.paths import REPO_ROOT

PATH = REPO_ROOT / "exercises" / "03-ab-testing" / "ab-testing.ipynb"
DATA_QUESTIONS = ["q3", "q6", "q8", "q10", "q11"]

SS = """
def sample_size_per_arm(baseline, mde, alpha=0.05, power=0.8):
    p1, p2 = baseline, baseline + mde
    pbar = (p1 + p2) / 2
    z_a = stats.norm.ppf(1 - {A})
    z_b = stats.norm.ppf(power)
    num = z_a * math.sqrt(2 * pbar * (1 - pbar)) + z_b * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return {MULT}{ROUND}((num / (p2 - p1)) ** 2)
"""
ZT = """
def ztest(conv_c, n_c, conv_t, n_t):
    p_c, p_t = conv_c / n_c, conv_t / n_t
    pool = (conv_c + conv_t) / (n_c + n_t)
    se = {SE}
    z = (p_t - p_c) / se
    return z, {P}
"""
POOLED = "math.sqrt(pool * (1 - pool) * (1 / n_c + 1 / n_t))"
UNPOOLED = "math.sqrt(p_c * (1 - p_c) / n_c + p_t * (1 - p_t) / n_t)"
CI = """
def diff_ci(conv_c, n_c, conv_t, n_t, alpha=0.05):
    p_c, p_t = conv_c / n_c, conv_t / n_t
    pool = (conv_c + conv_t) / (n_c + n_t)
    se = {SE}
    z = stats.norm.ppf(1 - {A})
    d = p_t - p_c
    return d - z * se, d + z * se
"""
SRM_PVALUE = """
def srm_pvalue(n_control, n_treatment, planned_treatment_share=0.5):
    total = n_control + n_treatment
    r = stats.chisquare([n_control, n_treatment], f_exp=[total * (1 - {S}), total * {S}])
    return r.{FIELD}
"""
SRM = (
    SRM_PVALUE
    + """
def srm_experiments(eng):
{BODY}
"""
)
# The body of srm_experiments by another method than the solution's: one count per (experiment,
# variant), pivoted; the planned shares come from SHARES, the threshold is T.
SRM_METHOD = """
    n = pd.read_sql(
        "SELECT experiment_id, variant, COUNT(*) AS n FROM experiment_assignments "
        "GROUP BY experiment_id, variant", eng
    ).pivot(index="experiment_id", columns="variant", values="n")
    share = {SHARES}.set_index("experiment_id")["planned_treatment_share"]
    return sorted(e for e in n.index
                  if srm_pvalue(n.loc[e, "control"], n.loc[e, "treatment"], share[e]) < {T})
"""
SHARES_FROM_ENG = 'pd.read_sql("SELECT * FROM experiments", eng)'
RIGHT_SRM_PVALUE = {"S": "planned_treatment_share", "FIELD": "pvalue"}
Q3 = """
def plan_onboarding_test(eng):
    oc = experiment_users(eng, "onboarding_checklist")
    baseline = oc.loc[oc.variant == "control", "converted"].mean()
    signups = pd.read_sql(
        "SELECT COUNT(*) AS n FROM users "
        "WHERE signup_date >= '2025-06-01' AND signup_date {END}", eng
    )["n"].iloc[0]
    daily = signups / 30
    n = sample_size_per_arm(baseline, {MDE})
    return {{"baseline": baseline, "daily_users": daily, "n_per_arm": n,
            "days": duration_days(n, daily, {AL})}}
"""
Q6 = """
def analyse_checklist(eng):
    oc = experiment_users(eng, "onboarding_checklist")
    g = oc.groupby("variant")["converted"].agg(["sum", "count"])
    xc, nc = g.loc["control"]
    xt, nt = g.loc["treatment"]
    pc, pt = xc / nc, xt / nt
    return {{"control_rate": pc, "treatment_rate": pt, "abs_lift": pt - pc,
            "rel_lift": {REL}, "p_value": {P}, "ci": diff_ci(xc, nc, xt, nt)}}
"""
Q8 = """
def cuped_bulk_edit(eng):
    be = experiment_users(eng, "bulk_edit")
    x, y = be["pre_tasks_created"].astype(float), be["tasks_created"].astype(float)
    rho = np.corrcoef(x, y)[0, 1]
    theta = {THETA}
    adj = y - theta * (x - x.mean())
    diff = adj[be.variant == "treatment"].mean() - adj[be.variant == "control"].mean()
    return {{"theta": theta, "variance_ratio": {VR}, "cuped_diff": diff}}
"""
Q9 = """
from statsmodels.stats.multitest import multipletests
def holm(pvalues):
    return list({EXPR})
"""
Q10 = """
def mobile_nav_lifts(eng):
    mn = experiment_users(eng, "mobile_nav")
    r = mn.groupby("variant")["converted"].mean()
    rp = mn.groupby(["platform", "variant"])["converted"].mean().unstack()
    return {{"pooled_lift": r["treatment"] - r["control"], "by_platform": ({EXPR}).to_dict()}}
"""
Q11 = """
def ai_suggestions_lifts(eng):
    daily = pd.read_sql("SELECT * FROM experiment_daily WHERE experiment_id = 'ai_suggestions'", eng)
    def week_lift(lo, hi):
        w = daily[daily.day_index.between(lo, hi)].groupby("variant")[
            ["engaged_users", "exposed_users"]].sum()
        rate = w.engaged_users / w.exposed_users
        return {EXPR}
    return {{"week1_lift": week_lift({W1}), "week4_lift": week_lift({W4})}}
"""
Q12 = """
q12_diagnosis = {{
    "onboarding_checklist": "{A}", "dark_mode": "{B}", "pricing_page_v2": "{C}",
    "ai_suggestions": "novelty effect", "mobile_nav": "{D}", "bulk_edit": "guardrail regression",
}}
"""

WRONG_A = {
    "q1": SS.format(A="alpha", MULT="", ROUND="math.ceil"),  # one-sided z
    "q2": "def duration_days(n_per_arm, daily_users, allocation=1.0):\n"
    "    return math.ceil(n_per_arm / (daily_users * allocation))",  # one arm only
    "q3": Q3.format(END="< '2025-06-30'", MDE="0.05 * baseline", AL="0.5"),  # drops 30 June
    "q4": ZT.format(SE=UNPOOLED, P="2 * stats.norm.sf(abs(z))"),  # unpooled SE in the test
    "q5": CI.format(SE=POOLED, A="alpha / 2"),  # pooled SE in the interval
    "q6": Q6.format(REL="pt - pc", P="ztest(xc, nc, xt, nt)[1]"),  # relative = absolute
    "q7": SRM.format(  # ignores the planned share, in (a) and so in (b)
        S="0.5", FIELD="pvalue", BODY=SRM_METHOD.format(SHARES=SHARES_FROM_ENG, T="0.001")
    ),
    "q8": Q8.format(THETA="rho", VR="adj.var(ddof=1) / y.var(ddof=1)"),  # theta = correlation
    "q9": Q9.format(EXPR="multipletests(pvalues, method='bonferroni')[1]"),
    "q10": Q10.format(EXPR="rp['treatment'] / rp['control'] - 1"),  # relative lifts
    "q11": Q11.format(EXPR="rate['treatment'] - rate['control']", W1="21, 27", W4="0, 6"),
    "q12": Q12.format(
        A="real win", B="simpson's paradox", C="invalid: SRM", D="no effect"
    ),  # paradox missed
}
WRONG_B = {
    "q1": SS.format(A="alpha / 2", MULT="2 * ", ROUND="math.ceil"),  # total, not per arm
    "q2": "def duration_days(n_per_arm, daily_users, allocation=1.0):\n"
    "    return math.ceil(2 * n_per_arm / daily_users)",  # ignores allocation
    "q3": Q3.format(END="<= '2025-06-30'", MDE="0.05", AL="0.5"),  # relative MDE as absolute
    "q4": ZT.format(SE=POOLED, P="stats.norm.sf(abs(z))"),  # one-sided p-value
    "q5": CI.format(SE=UNPOOLED, A="alpha"),  # z = 1.645
    "q6": Q6.format(REL="pt / pc - 1", P="stats.norm.sf(abs(ztest(xc, nc, xt, nt)[0]))"),
    "q7": SRM.format(  # the statistic, not the p-value: (almost) none is below 0.001
        S="planned_treatment_share",
        FIELD="statistic",
        BODY=SRM_METHOD.format(SHARES=SHARES_FROM_ENG, T="0.001"),
    ),
    "q8": Q8.format(THETA="np.cov(x, y)[0, 1] / x.var(ddof=1)", VR="1 - rho"),
    "q9": Q9.format(EXPR="multipletests(pvalues, method='fdr_bh')[1]"),
    "q10": Q10.format(EXPR="rp['control'] - rp['treatment']"),  # control minus treatment
    "q11": Q11.format(EXPR="rate['treatment'] / rate['control'] - 1", W1="0, 6", W4="21, 27"),
    "q12": Q12.format(A="invalid: SRM", B="no effect", C="real win", D="simpson's paradox"),
}

HOLM = """
def holm(pvalues):
    p = np.asarray(pvalues, dtype=float)
    m = len(p)
    order = np.argsort(p)
    adj_sorted = {ADJ}
    out = np.empty(m)
    out[order] = adj_sorted
    return list({OUT})
"""
RUNNING_MAX = "np.maximum.accumulate(p[order] * (m - np.arange(m)))"
# Wrong answers that pass every public check, so the hidden probes must catch them
WRONG_C = {
    "q1": SS.format(A="alpha / 2", MULT="", ROUND="math.floor"),  # rounded down
    "q5": CI.format(SE=UNPOOLED, A="alpha / 2").replace(  # z typed in: alpha ignored
        "stats.norm.ppf(1 - alpha / 2)", "1.96"
    ),
    "q9": HOLM.format(ADJ=RUNNING_MAX, OUT="out"),  # Holm without the cap at 1
    "q6": Q6.format(REL="100 * (pt / pc - 1)", P="ztest(xc, nc, xt, nt)[1]"),  # a percentage
}
WRONG_D = {
    "q1": SS.format(A="alpha / 2", MULT="", ROUND="round"),  # rounded to the nearest user
    "q9": HOLM.format(ADJ=f"np.minimum({RUNNING_MAX}, 1.0)", OUT="adj_sorted"),  # sorted order
    "q6": Q6.format(REL="pt / pc - 1", P="ztest(xc, nc, xt, nt)[0]"),  # the z statistic
}
WRONG_RUNS = {"A": WRONG_A, "B": WRONG_B, "C": WRONG_C, "D": WRONG_D}
# (run, test cell) -> what must catch the wrong answer: the public check (CheckFailed) or a hidden
# answer the grader judged wrong (HiddenTestFailed), and words its message must hold
CAUGHT_BY = {
    ("B", "q5-tests"): ("CheckFailed", "too narrow: it uses z = 1.645, the one-sided value"),
    ("A", "q5-tests"): ("CheckFailed", "not the pooled one"),
    ("A", "q9-tests"): ("CheckFailed", "every p-value times m = 3, which is Bonferroni"),
    ("C", "q5-tests"): ("CheckFailed", "it ignores alpha"),
    ("D", "q9-tests"): ("CheckFailed", "in the INPUT order"),
    ("C", "q6-tests"): ("CheckFailed", "as a fraction (0.10 for +10%, not 10)"),
    ("D", "q6-tests"): ("CheckFailed", "Did you return the z statistic?"),
    ("C", "q1-tests"): (
        "HiddenTestFailed",
        "'baseline 0.2, mde 0.05, alpha 0.05, power 0.8 (rounded up)' is 1093, expected 1094",
    ),
    ("D", "q1-tests"): (
        "HiddenTestFailed",
        "'baseline 0.5, mde 0.02, alpha 0.01, power 0.8 (rounded up)' is 14591, expected 14592",
    ),
    ("C", "q9-tests"): (
        "HiddenTestFailed",
        "'p-values [0.35, 0.02, 0.45, 0.7]' item 0 is 1.05, expected 1",
    ),
}

# Question 7b: wrong answers that pass 7a (and all but the first pass 7b's public checks on Orbit)
WRONG_Q7B = {
    # the old form of the question: a typed-in list, no function
    "typed-in list": SRM_PVALUE.format(**RIGHT_SRM_PVALUE)
    + 'q7_srm_experiments = ["pricing_page_v2"]\n',
    # p < 0.05 instead of Orbit's strict 0.001: the borderline experiments get flagged
    "threshold 0.05": SRM.format(
        **RIGHT_SRM_PVALUE, BODY=SRM_METHOD.format(SHARES=SHARES_FROM_ENG, T="0.05")
    ),
    # arms counted with GROUP BY and pivoted, no fillna(0): an arm with no users is NaN, and a
    # NaN p-value is never below the threshold, so the worst mismatch of all is not flagged
    "empty arm is NaN": SRM.format(
        **RIGHT_SRM_PVALUE, BODY=SRM_METHOD.format(SHARES=SHARES_FROM_ENG, T="0.001")
    ),
    # the experiments and planned shares of Orbit's table printed at the top, not of `eng`
    "Orbit's experiment list": SRM.format(
        **RIGHT_SRM_PVALUE,
        BODY="""    return sorted(
        e for e, s in zip(experiments.experiment_id, experiments.planned_treatment_share)
        if srm_pvalue(*[(experiment_users(eng, e).variant == v).sum()
                        for v in ["control", "treatment"]], s) < 0.001
    )""",
    ),
}
# Question 7b right, by another method: experiment_users per experiment, as Question 6 does
RIGHT_Q7B_OTHER_METHOD = SRM.format(
    **RIGHT_SRM_PVALUE,
    BODY="""    found = []
    for e in pd.read_sql("SELECT * FROM experiments", eng).itertuples():
        arms = experiment_users(eng, e.experiment_id).variant.value_counts()
        if srm_pvalue(arms.get("control", 0), arms.get("treatment", 0),
                      e.planned_treatment_share) < 0.001:
            found.append(e.experiment_id)
    return sorted(found)""",
)
# Question 6 right with the textbook z = 1.96 written out (no alpha to follow there): accepted
RIGHT_Q6_TEXTBOOK_Z = Q6.format(REL="pt / pc - 1", P="ztest(xc, nc, xt, nt)[1]").replace(
    '"ci": diff_ci(xc, nc, xt, nt)',
    '"ci": (pt - pc - 1.96 * math.sqrt(pc * (1 - pc) / nc + pt * (1 - pt) / nt),\n'
    "                   pt - pc + 1.96 * math.sqrt(pc * (1 - pc) / nc + pt * (1 - pt) / nt))",
)

USERS_SQL = sa.text(
    "SELECT a.variant, a.platform, o.converted, o.tasks_created, o.pre_tasks_created "
    "FROM experiment_assignments a JOIN experiment_outcomes o "
    "ON o.experiment_id = a.experiment_id AND o.user_id = a.user_id WHERE a.experiment_id = :eid"
)


def default_answers(eng) -> dict[str, dict]:
    """The right answers to the data questions on ``eng``, computed independently of the
    notebook with pandas and statsmodels (the numbers a learner could copy and type in)."""

    def users(eid):
        return pd.read_sql(USERS_SQL, eng, params={"eid": eid})

    oc = users("onboarding_checklist")
    g = oc.groupby("variant")["converted"].agg(["sum", "count"]).astype(int)
    (xc, nc), (xt, nt) = g.loc["control"], g.loc["treatment"]
    pc, pt = xc / nc, xt / nt
    signups = pd.read_sql(
        "SELECT COUNT(*) AS n FROM users "
        "WHERE signup_date >= '2025-06-01' AND signup_date <= '2025-06-30'",
        eng,
    )["n"].iloc[0]
    daily = signups / 30
    n = math.ceil(samplesize_proportions_2indep_onetail(0.05 * pc, pc, 0.8, alpha=0.05))
    q3 = {"baseline": pc, "daily_users": daily, "n_per_arm": n, "days": math.ceil(4 * n / daily)}
    q6 = {
        "control_rate": pc,
        "treatment_rate": pt,
        "abs_lift": pt - pc,
        "rel_lift": pt / pc - 1,
        "p_value": proportions_ztest([xt, xc], [nt, nc])[1],
        "ci": confint_proportions_2indep(xt, nt, xc, nc, method="wald", compare="diff"),
    }
    be = users("bulk_edit")
    x, y = be.pre_tasks_created.astype(float), be.tasks_created.astype(float)
    theta = np.polyfit(x, y, 1)[0]
    adj = y - theta * (x - x.mean())
    q8 = {
        "theta": theta,
        "variance_ratio": 1 - np.corrcoef(x, y)[0, 1] ** 2,
        "cuped_diff": adj[be.variant == "treatment"].mean() - adj[be.variant == "control"].mean(),
    }
    mn = users("mobile_nav")
    rate = mn.pivot_table(index="platform", columns="variant", values="converted")
    pooled = mn.groupby("variant").converted.mean()
    q10 = {
        "pooled_lift": pooled["treatment"] - pooled["control"],
        "by_platform": (rate["treatment"] - rate["control"]).to_dict(),
    }
    daily_rows = pd.read_sql(
        "SELECT * FROM experiment_daily WHERE experiment_id = 'ai_suggestions'", eng
    )
    week = daily_rows.assign(week=daily_rows.day_index // 7)
    sums = week.groupby(["week", "variant"])[["engaged_users", "exposed_users"]].sum()
    engaged = (sums.engaged_users / sums.exposed_users).unstack()
    lifts = engaged["treatment"] - engaged["control"]
    q11 = {"week1_lift": lifts.loc[0], "week4_lift": lifts.loc[3]}
    arms = pd.read_sql(
        "SELECT a.experiment_id, e.planned_treatment_share AS share, a.variant, COUNT(*) AS n "
        "FROM experiment_assignments a JOIN experiments e USING (experiment_id) "
        "GROUP BY a.experiment_id, e.planned_treatment_share, a.variant",
        eng,
    )
    arms = arms.pivot_table(index=["experiment_id", "share"], columns="variant", values="n")
    # the one-sample z-test of the treatment share is the chi-square test of the two counts
    q7 = sorted(
        eid
        for (eid, share), r in arms.iterrows()
        if proportions_ztest(
            r["treatment"], r["treatment"] + r["control"], value=share, prop_var=share
        )[1]
        < 0.001
    )
    return {"q3": q3, "q6": q6, "q7": q7, "q8": q8, "q10": q10, "q11": q11}


FUNCTIONS = {
    "q3": "plan_onboarding_test",
    "q6": "analyse_checklist",
    "q8": "cuped_bulk_edit",
    "q10": "mobile_nav_lifts",
    "q11": "ai_suggestions_lifts",
}


def _plain(value):
    """``value`` with numpy scalars turned into Python numbers, so its repr is a literal."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return tuple(_plain(v) for v in value)
    return value.item() if isinstance(value, np.generic) else value


# test cell -> the first key the grader reports as wrong when a function returns Orbit's answer
HARD_CODED = {f"{q}-tests": "on a re-seeded copy: " for q in DATA_QUESTIONS} | {
    "q7b-tests": "made-up data: "
}


def hard_coded(answers: dict[str, dict]) -> dict[str, str]:
    """Answer cells whose functions ignore their database and return the given numbers (for
    Question 7, a right ``srm_pvalue`` and an ``srm_experiments`` returning Orbit's list)."""
    cells = {
        q: f"def {FUNCTIONS[q]}(eng):\n    return {_plain(answers[q])!r}\n" for q in DATA_QUESTIONS
    }
    cells["q7"] = SRM.format(**RIGHT_SRM_PVALUE, BODY=f"    return {answers['q7']!r}")
    return cells


@pytest.fixture(scope="module")
def default_numbers(orbit_engine):
    return default_answers(orbit_engine)


@pytest.fixture(scope="module")
def wrong_runs(default_numbers):
    runs = {name: notebooks.run(PATH, wrong) for name, wrong in WRONG_RUNS.items()}
    return runs | {"hard-coded": notebooks.run(PATH, hard_coded(default_numbers))}


@pytest.fixture(scope="module")
def q7b_runs():
    return {name: notebooks.run(PATH, {"q7": cell}) for name, cell in WRONG_Q7B.items()}


@pytest.mark.slow
@pytest.mark.parametrize("question", sorted(set().union(*WRONG_RUNS.values())))
def test_plausible_wrong_answers_fail(wrong_runs, question):
    targets = {"q7": ["q7a-tests", "q7b-tests"]}.get(question, [f"{question}-tests"])
    for name, wrong in WRONG_RUNS.items():
        if question not in wrong:
            continue
        for gid in targets:
            assert not wrong_runs[name][gid].passed, (
                f"wrong answer {name} to {question} passes {gid}"
            )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("run", "gid"), sorted(CAUGHT_BY), ids=[f"{r}-{g}" for r, g in sorted(CAUGHT_BY)]
)
def test_wrong_answers_are_caught_for_the_right_reason(wrong_runs, run, gid):
    """The public check names the mistake it can see (1.645 in the interval, Bonferroni, sorted
    output), and the hidden probes catch what it cannot (rounding down or to nearest, no cap)."""
    kind, words = CAUGHT_BY[run, gid]
    error = wrong_runs[run][gid].error
    assert error is not None and error.startswith(f"{kind}: "), error
    assert words in error, error
    if gid == "q9-tests":
        assert "input order" not in error.lower() or run == "D", error


def test_holm_probes_exceed_one_without_the_cap():
    """The hidden probe [0.35, 0.02, 0.45, 0.7] is one where uncapped Holm exceeds 1 (so the cap
    matters), checked against statsmodels."""
    from statsmodels.stats.multitest import multipletests

    p = [0.35, 0.02, 0.45, 0.7]
    order = np.argsort(p)
    uncapped = np.maximum.accumulate(np.array(p)[order] * (len(p) - np.arange(len(p))))
    assert uncapped.max() > 1
    assert list(multipletests(p, method="holm")[1]) == pytest.approx([1.0, 0.08, 1.0, 1.0])


def test_sample_size_probes_tell_the_roundings_apart():
    """In Question 1's hidden probes the formula's n is never whole, so floor differs from ceil
    everywhere, and at least one fractional part is below 0.5, so rounding to nearest differs
    too."""
    from scipy import stats

    probes = [
        (0.2, 0.05, 0.05, 0.8),
        (0.1, 0.01, 0.05, 0.8),
        (0.03, 0.003, 0.05, 0.9),
        (0.5, 0.02, 0.01, 0.8),
        (0.65, -0.05, 0.05, 0.8),
        (0.012, 0.003, 0.1, 0.95),
    ]
    fractions = []
    for b, m, a, pw in probes:
        p1, p2 = b, b + m
        pbar = (p1 + p2) / 2
        num = stats.norm.ppf(1 - a / 2) * math.sqrt(2 * pbar * (1 - pbar)) + stats.norm.ppf(
            pw
        ) * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
        n = (num / m) ** 2
        fractions.append(n % 1)
    assert all(1e-6 < f < 1 - 1e-6 for f in fractions), fractions
    assert any(f < 0.5 for f in fractions), fractions
    source = notebooks.grade_cells(notebooks.read(PATH))["q1-tests"]["cell"].source
    for probe in probes:
        assert "({}, {}, {}, {}),".format(*probe) in source, probe


@pytest.mark.slow
@pytest.mark.parametrize("gid", sorted(HARD_CODED))
def test_hard_coded_numbers_fail(wrong_runs, gid):
    """The default data's exact answers pass the public checks and the default-data part of the
    hidden checks, and are caught on the re-seeded copy (Question 7b: on made-up databases)."""
    result = wrong_runs["hard-coded"][gid]
    assert not result.passed, f"a function returning the default data's answer passes {gid}"
    # Not a public CheckFailed but a recorded answer the grader judged wrong; the grader lists the
    # failing answers in the order the solution recorded them ("orbit..." first), so the first
    # one being a re-seeded (made-up) answer means every answer on Orbit's data was right.
    assert result.error.startswith(f"HiddenTestFailed: '{HARD_CODED[gid]}"), result.error
    assert "'orbit" not in result.error, result.error


@pytest.mark.slow
def test_hard_coded_runs_leave_other_questions_alone(wrong_runs):
    """The hard-coded run substitutes only the data questions and Question 7b: everything else
    (Question 7a included) still passes, so its failures above are caused by the hard-coding."""
    run = wrong_runs["hard-coded"]
    others = [gid for gid in run if gid not in HARD_CODED]
    assert "q7a-tests" in others
    assert others and all(run[gid].passed for gid in others), {
        gid: run[gid].error for gid in others if not run[gid].passed
    }


def test_default_srm_list_is_the_planted_one(default_numbers):
    """The hard-coded Question 7b answer is the typed-in list a learner would copy."""
    assert default_numbers["q7"] == ["pricing_page_v2"]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(WRONG_Q7B))
def test_wrong_srm_lists_fail_q7b(q7b_runs, name):
    """A typed-in list, the wrong threshold, Orbit's experiments instead of those in `eng`, or an
    empty arm counted as NaN fail Question 7b; Question 7a (right in all of them) still passes."""
    run = q7b_runs[name]
    assert run["q7a-tests"].passed, run["q7a-tests"].error
    error = run["q7b-tests"].error
    assert error is not None, f"{name} passes Question 7b"
    if name == "typed-in list":  # no srm_experiments at all: the public check says so
        assert error.startswith("CheckFailed: `srm_experiments` is not defined"), error
    else:  # right on Orbit, wrong on a made-up database
        assert error.startswith("HiddenTestFailed: 'made-up data: "), error
        assert "'orbit" not in error, error
    others = {g: r.error for g, r in run.items() if g not in ("q7a-tests", "q7b-tests")}
    assert all(e is None for e in others.values()), others


@pytest.mark.slow
def test_srm_by_another_method_passes():
    """The made-up databases hold every table and column a right answer may read: counting the
    arms with experiment_users (as Question 6 does) passes Question 7b; and Question 6's interval
    with the textbook z = 1.96 written out passes too."""
    run = notebooks.run(PATH, {"q7": RIGHT_Q7B_OTHER_METHOD, "q6": RIGHT_Q6_TEXTBOOK_Z})
    failing = {gid: r.error for gid, r in run.items() if not r.passed}
    assert not failing, failing


def test_the_data_questions_differ_on_the_reseeded_copy(default_numbers):
    """Re-seeding changes every number the data questions ask for (otherwise hard-coding
    could not be caught)."""
    from tpmlab.data import reseeded_engine

    other = default_answers(reseeded_engine(2031))
    for q in DATA_QUESTIONS:
        for key, value in default_numbers[q].items():
            if key == "by_platform":
                for platform, lift in value.items():
                    assert abs(lift - other[q][key][platform]) > 1e-6, (q, key, platform)
            elif key == "ci":
                assert abs(value[0] - other[q][key][0]) > 1e-6, (q, key)
            else:
                assert abs(value - other[q][key]) > 1e-6 * max(1, abs(value)), (q, key)


def test_every_question_has_two_wrong_answers():
    nb = notebooks.read(PATH)
    ids = notebooks.autograded_test_ids(nb)
    assert len(ids) >= 10
    assert sum(float(notebooks.grade_cells(nb)[g]["points"]) for g in ids) >= 30
    for gid in ids:
        q = gid.split("-")[0].rstrip("ab")
        n = (q in WRONG_A) + (q in WRONG_B)
        assert n >= 2, f"{gid} needs two wrong answers"
    assert {f"{q}-tests" for q in DATA_QUESTIONS} <= set(ids)


def test_planted_truth_matches_the_intended_diagnoses():
    from tpmlab.data import manifest

    truth = manifest()["experiments"]
    scenario = {k: v["scenario"] for k, v in truth.items()}
    assert scenario == {
        "onboarding_checklist": "real_lift",
        "dark_mode": "true_null",
        "pricing_page_v2": "sample_ratio_mismatch",
        "ai_suggestions": "novelty_effect",
        "mobile_nav": "simpsons_paradox",
        "bulk_edit": "guardrail_regression",
    }
