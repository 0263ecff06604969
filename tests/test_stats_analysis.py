"""tpmlab.abtest.analysis and .bootstrap: z-test, Welch's t-test, CIs, relative lift, bootstrap,
checked against statsmodels/scipy on many parameter sets."""

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from tpmlab.abtest import analysis, bootstrap
from tpmlab.errors import TPMLabError

# (conversions_control, n_control, conversions_treatment, n_treatment)
COUNTS = [
    (200, 1000, 240, 1000),
    (1180, 10000, 1262, 10050),
    (35, 4000, 52, 3900),
    (5012, 9998, 5005, 10002),
    (480, 1200, 420, 1150),  # treatment worse
    (12, 150, 25, 160),
]
ALTS = [("two-sided", "two-sided"), ("larger", "larger"), ("smaller", "smaller")]


@pytest.mark.parametrize("xc,nc,xt,nt", COUNTS)
@pytest.mark.parametrize("alt,sm_alt", ALTS)
def test_ztest_statistic_and_pvalue_match_statsmodels_pooled(xc, nc, xt, nt, alt, sm_alt):
    z, p = proportions_ztest([xt, xc], [nt, nc], alternative=sm_alt)  # pooled SE by default
    r = analysis.two_proportion_ztest(xc, nc, xt, nt, alternative=alt)
    assert r.statistic == pytest.approx(z, rel=1e-10)
    assert r.p_value == pytest.approx(p, rel=1e-8, abs=1e-15)


@pytest.mark.parametrize("xc,nc,xt,nt", COUNTS)
@pytest.mark.parametrize("alpha", [0.05, 0.01, 0.10])
def test_ztest_ci_is_unpooled_wald_as_statsmodels(xc, nc, xt, nt, alpha):
    lo, hi = confint_proportions_2indep(xt, nt, xc, nc, method="wald", compare="diff", alpha=alpha)
    r = analysis.two_proportion_ztest(xc, nc, xt, nt, alpha=alpha)
    assert (r.ci_low, r.ci_high) == pytest.approx((lo, hi), rel=1e-10)
    assert r.diff == pytest.approx(xt / nt - xc / nc)


@pytest.mark.parametrize("xc,nc,xt,nt", COUNTS)
@pytest.mark.parametrize("alpha", [0.05, 0.01])
def test_relative_lift_ci_is_katz_log_as_statsmodels(xc, nc, xt, nt, alpha):
    lo, hi = confint_proportions_2indep(xt, nt, xc, nc, method="log", compare="ratio", alpha=alpha)
    r = analysis.two_proportion_ztest(xc, nc, xt, nt, alpha=alpha)
    assert r.rel_lift == pytest.approx((xt / nt) / (xc / nc) - 1)
    assert (r.rel_ci_low, r.rel_ci_high) == pytest.approx((lo - 1, hi - 1), rel=1e-10)


def test_pooled_and_unpooled_se_are_used_in_the_right_places():
    # Unequal arms and rates make the two standard errors visibly different.
    xc, nc, xt, nt = 120, 4000, 60, 1000
    r = analysis.two_proportion_ztest(xc, nc, xt, nt)
    pc, pt, pp = xc / nc, xt / nt, (xc + xt) / (nc + nt)
    se_pooled = math.sqrt(pp * (1 - pp) * (1 / nc + 1 / nt))
    se_unpooled = math.sqrt(pc * (1 - pc) / nc + pt * (1 - pt) / nt)
    assert abs(se_pooled - se_unpooled) / se_unpooled > 0.05
    assert r.statistic == pytest.approx((pt - pc) / se_pooled)
    assert r.se == pytest.approx(se_unpooled)


def test_one_sided_pvalue_is_half_the_two_sided_in_the_observed_direction():
    two = analysis.two_proportion_ztest(200, 1000, 240, 1000)
    one = analysis.two_proportion_ztest(200, 1000, 240, 1000, alternative="larger")
    assert one.p_value == pytest.approx(two.p_value / 2)
    assert one.ci_high == math.inf


@pytest.mark.parametrize("bad", [(10, 0, 5, 100), (120, 100, 5, 100), (-1, 100, 5, 100)])
def test_ztest_rejects_impossible_counts(bad):
    with pytest.raises(
        TPMLabError, match=r"`(n_control|conversions_control)` must be a whole number"
    ):
        analysis.two_proportion_ztest(*bad)


def _skewed(rng, n, p_pay, mean_pay):
    return rng.binomial(1, p_pay, n) * rng.lognormal(math.log(mean_pay), 1.0, n)


SAMPLES = [
    # (seed, n_control, n_treatment, kind)
    (1, 50, 60, "normal"),
    (2, 500, 480, "normal-unequal-var"),
    (3, 3000, 3100, "skewed"),
    (4, 25, 400, "normal-unequal-var"),
    (5, 10000, 9800, "skewed"),
]


def _draw(seed, nc, nt, kind):
    rng = np.random.default_rng(seed)
    if kind == "normal":
        return rng.normal(10, 2, nc), rng.normal(10.5, 2, nt)
    if kind == "normal-unequal-var":
        return rng.normal(5, 1, nc), rng.normal(5.2, 3, nt)
    return _skewed(rng, nc, 0.05, 30), _skewed(rng, nt, 0.055, 30)


@pytest.mark.parametrize("seed,nc,nt,kind", SAMPLES)
@pytest.mark.parametrize(
    "alt,sp_alt", [("two-sided", "two-sided"), ("larger", "greater"), ("smaller", "less")]
)
@pytest.mark.parametrize("alpha", [0.05, 0.01])
def test_welch_matches_scipy_ttest_ind_and_its_ci(seed, nc, nt, kind, alt, sp_alt, alpha):
    c, t = _draw(seed, nc, nt, kind)
    ref = stats.ttest_ind(t, c, equal_var=False, alternative=sp_alt)
    ci = ref.confidence_interval(1 - alpha)
    r = analysis.welch_ttest(c, t, alpha=alpha, alternative=alt)
    assert r.statistic == pytest.approx(ref.statistic, rel=1e-10)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-8, abs=1e-15)
    assert r.df == pytest.approx(ref.df, rel=1e-10)
    assert (r.ci_low, r.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-10)


@pytest.mark.parametrize(
    "mc,sc,nc,mt,st,nt",
    [(10, 2, 50, 10.5, 2, 60), (1.2, 8, 5000, 1.35, 9, 5100), (100, 5, 20, 90, 30, 200)],
)
def test_welch_from_stats_matches_scipy(mc, sc, nc, mt, st, nt):
    ref = stats.ttest_ind_from_stats(mt, st, nt, mc, sc, nc, equal_var=False)
    r = analysis.welch_ttest_from_stats(mc, sc, nc, mt, st, nt)
    assert (r.statistic, r.p_value) == pytest.approx((ref.statistic, ref.pvalue), rel=1e-10)


def test_welch_is_not_the_pooled_student_t():
    c, t = _draw(4, 25, 400, "normal-unequal-var")
    student = stats.ttest_ind(t, c, equal_var=True)
    r = analysis.welch_ttest(c, t)
    assert abs(r.p_value - student.pvalue) > 0.01


def test_welch_refuses_missing_values():
    with pytest.raises(TPMLabError, match="missing"):
        analysis.welch_ttest([1.0, np.nan, 2.0], [1.0, 2.0, 3.0])


@pytest.mark.slow
def test_relative_lift_ci_coverage_by_simulation():
    # Delta method on logs: ~95 % coverage of the true relative lift for a skewed metric.
    rng = np.random.default_rng(7)
    true_rel = 0.10
    hits, reps = 0, 1000
    for _ in range(reps):
        c = rng.exponential(10.0, 2000)
        t = rng.exponential(11.0, 2000)
        r = analysis.welch_ttest(c, t)
        hits += r.rel_ci_low <= true_rel <= r.rel_ci_high
    se = math.sqrt(0.95 * 0.05 / reps)
    assert abs(hits / reps - 0.95) < 4 * se


@pytest.mark.slow
@pytest.mark.parametrize("seed,nc,nt,kind", SAMPLES[1:])
@pytest.mark.parametrize("statistic", ["mean_diff", "relative_lift"])
def test_bootstrap_percentile_agrees_with_scipy_bootstrap(seed, nc, nt, kind, statistic):
    c, t = _draw(seed, nc, nt, kind)
    ours = bootstrap.bootstrap_ci(c, t, statistic=statistic, n_resamples=4000, seed=seed)

    def stat(t_, c_, axis=-1):
        d = t_.mean(axis=axis)
        return d - c_.mean(axis=axis) if statistic == "mean_diff" else d / c_.mean(axis=axis) - 1

    ref = stats.bootstrap(
        (t, c), stat, method="percentile", n_resamples=4000, random_state=np.random.default_rng(99)
    ).confidence_interval
    width = ref.high - ref.low
    # different random streams: agree within Monte-Carlo error (a few % of the width)
    assert ours.ci_low == pytest.approx(ref.low, abs=0.06 * width)
    assert ours.ci_high == pytest.approx(ref.high, abs=0.06 * width)


def test_bootstrap_is_reproducible_with_a_seed_and_close_to_welch_for_large_n():
    c, t = _draw(5, 10000, 9800, "skewed")
    a = bootstrap.bootstrap_ci(c, t, seed=3)
    b = bootstrap.bootstrap_ci(c, t, seed=3)
    assert (a.ci_low, a.ci_high) == (b.ci_low, b.ci_high)
    assert a.estimate == pytest.approx(t.mean() - c.mean())
    w = analysis.welch_ttest(c, t)
    assert a.ci_low == pytest.approx(w.ci_low, abs=0.1 * (w.ci_high - w.ci_low))
    assert a.ci_high == pytest.approx(w.ci_high, abs=0.1 * (w.ci_high - w.ci_low))


def test_bootstrap_median_and_callable():
    rng = np.random.default_rng(0)
    c, t = rng.normal(0, 1, 300), rng.normal(1, 1, 300)
    med = bootstrap.bootstrap_ci(c, t, statistic="median_diff", n_resamples=500)
    assert med.ci_low < 1 < med.ci_high
    own = bootstrap.bootstrap_ci(
        c, t, statistic=lambda a, b: b.max(axis=-1) - a.max(axis=-1), n_resamples=200
    )
    assert own.distribution.shape == (200,)
    with pytest.raises(TPMLabError):
        bootstrap.bootstrap_ci(c, t, statistic="mode")
