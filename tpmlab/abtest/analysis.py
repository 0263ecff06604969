"""Analysing an A/B test: the two-proportion z-test, Welch's t-test and their confidence intervals.

Conventions used by every function here:

* "control" is arm A, "treatment" is arm B; differences are **treatment minus control**.
* ``alternative`` is ``"two-sided"`` (default), ``"larger"`` (treatment > control) or
  ``"smaller"``; scipy's names ``"greater"`` / ``"less"`` are accepted too. A one-sided test gives a
  one-sided confidence bound (the other end is infinite), as scipy does.
* The **absolute** difference is in the metric's units (for rates: a fraction, 0.012 = 1.2
  percentage points); the **relative** lift is ``treatment / control - 1``.
* Relative-lift intervals use the **delta method on the log scale** (Katz et al. 1978):
  ``log(mt/mc) +/- z sqrt(se_t^2/mt^2 + se_c^2/mc^2)``, then exponentiated. For proportions this
  equals ``statsmodels...confint_proportions_2indep(compare="ratio", method="log")``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from scipy import stats

from tpmlab import validate
from tpmlab.errors import TPMLabError

_ALT = {
    "two-sided": "two-sided",
    "two_sided": "two-sided",
    "larger": "larger",
    "greater": "larger",
    "smaller": "smaller",
    "less": "smaller",
}


def _alt(alternative: str) -> str:
    validate.choice(
        "alternative",
        alternative,
        _ALT,
        "Use 'two-sided' unless a one-sided test was written into the plan before launch.",
    )
    return _ALT[alternative]


def _count(name: str, value, low: int = 0) -> int:
    return validate.whole(
        name, value, low=low, fix=f"Pass `{name}` as a count of users, e.g. 1000 (not a rate)."
    )


@dataclass(frozen=True)
class TestResult:
    """One metric's comparison, treatment minus control, ready for :func:`results_table`."""

    metric_type: str  # "proportion" or "mean"
    method: str
    n_control: int
    n_treatment: int
    control: float  # rate or mean in control
    treatment: float
    diff: float  # absolute difference, treatment - control
    ci_low: float
    ci_high: float
    rel_lift: float  # treatment / control - 1; NaN when an arm's rate or mean is not positive
    rel_ci_low: float
    rel_ci_high: float
    statistic: float  # z or t
    p_value: float
    alpha: float
    alternative: str
    se: float  # standard error used for the confidence interval
    df: float = math.inf  # degrees of freedom (inf for a z-test)

    @property
    def significant(self) -> bool:
        """True if ``p_value < alpha``."""
        return bool(self.p_value < self.alpha)

    def to_dict(self) -> dict:
        return asdict(self)


def _pvalue_z(z: float, alternative: str) -> float:
    if alternative == "two-sided":
        return float(2 * stats.norm.sf(abs(z)))
    if alternative == "larger":
        return float(stats.norm.sf(z))
    return float(stats.norm.cdf(z))


def _interval(est: float, se: float, crit_dist, alpha: float, alternative: str):
    if alternative == "two-sided":
        q = crit_dist.isf(alpha / 2)
        return est - q * se, est + q * se
    q = crit_dist.isf(alpha)
    if alternative == "larger":
        return est - q * se, math.inf
    return -math.inf, est + q * se


def relative_lift_ci(
    mean_control: float,
    se_control: float,
    mean_treatment: float,
    se_treatment: float,
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
) -> tuple[float, float, float]:
    """Relative lift ``mt/mc - 1`` and its CI by the delta method on the log scale (Katz 1978).

    Needs positive means. Returns ``(lift, low, high)``.
    """
    alternative = _alt(alternative)
    alpha = validate.alpha(alpha)
    fix = "The relative lift needs a positive metric in both arms: report the absolute difference."
    mean_control = validate.number("mean_control", mean_control, low=0, low_open=True, fix=fix)
    mean_treatment = validate.number(
        "mean_treatment", mean_treatment, low=0, low_open=True, fix=fix
    )
    for name, se in (("se_control", se_control), ("se_treatment", se_treatment)):
        validate.number(name, se, low=0, fix="Pass the standard error of the arm's mean (>= 0).")
    log_ratio = math.log(mean_treatment / mean_control)
    se_log = math.sqrt((se_treatment / mean_treatment) ** 2 + (se_control / mean_control) ** 2)
    lo, hi = _interval(log_ratio, se_log, stats.norm, alpha, alternative)
    return (
        math.exp(log_ratio) - 1,
        (math.exp(lo) if lo > -math.inf else 0.0) - 1,
        (math.exp(hi) if hi < math.inf else math.inf) - 1,
    )


def two_proportion_ztest(
    conversions_control: int,
    n_control: int,
    conversions_treatment: int,
    n_treatment: int,
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
) -> TestResult:
    """Two-proportion z-test with a Wald confidence interval for the difference.

    * Test statistic: **pooled** standard error, ``sqrt(p(1-p)(1/nc + 1/nt))`` with
      ``p = (xc + xt)/(nc + nt)``, because under the null hypothesis both arms share one rate.
      Equals ``statsmodels.stats.proportion.proportions_ztest([xt, xc], [nt, nc])``.
    * Confidence interval: **unpooled** standard error, ``sqrt(pc(1-pc)/nc + pt(1-pt)/nt)``,
      because an interval describes the world where the rates differ. Equals
      ``confint_proportions_2indep(xt, nt, xc, nc, method="wald", compare="diff")``.
    * Relative-lift CI: delta method on the log scale (module docstring).
    """
    alternative = _alt(alternative)
    alpha = validate.alpha(alpha)
    n_control = _count("n_control", n_control, low=1)
    n_treatment = _count("n_treatment", n_treatment, low=1)
    fix = "Pass counts: conversions (0..n) and the number of users assigned to the arm."
    conversions_control = validate.whole(
        "conversions_control", conversions_control, low=0, high=n_control, fix=fix
    )
    conversions_treatment = validate.whole(
        "conversions_treatment", conversions_treatment, low=0, high=n_treatment, fix=fix
    )
    if conversions_control in (0, n_control) and conversions_treatment in (0, n_treatment):
        raise TPMLabError(
            f"Every user in each arm did the same thing ({conversions_control}/{n_control} and "
            f"{conversions_treatment}/{n_treatment} converted): with no variation the standard "
            "error is 0, and the z-test and its confidence interval say nothing.",
            "Check that the conversion column is filled in; otherwise collect more users.",
        )
    pc, pt = conversions_control / n_control, conversions_treatment / n_treatment
    pooled = (conversions_control + conversions_treatment) / (n_control + n_treatment)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / n_control + 1 / n_treatment))
    se_unpooled = math.sqrt(pc * (1 - pc) / n_control + pt * (1 - pt) / n_treatment)
    diff = pt - pc
    z = diff / se_pooled if se_pooled > 0 else 0.0
    lo, hi = _interval(diff, se_unpooled, stats.norm, alpha, alternative)
    if pc > 0 and pt > 0:
        rel, rlo, rhi = relative_lift_ci(
            pc,
            math.sqrt(pc * (1 - pc) / n_control),
            pt,
            math.sqrt(pt * (1 - pt) / n_treatment),
            alpha=alpha,
            alternative=alternative,
        )
    else:
        rel = rlo = rhi = math.nan
    return TestResult(
        metric_type="proportion",
        method="two-proportion z-test (pooled SE for z, unpooled Wald CI)",
        n_control=int(n_control),
        n_treatment=int(n_treatment),
        control=pc,
        treatment=pt,
        diff=diff,
        ci_low=lo,
        ci_high=hi,
        rel_lift=rel,
        rel_ci_low=rlo,
        rel_ci_high=rhi,
        statistic=z,
        p_value=_pvalue_z(z, alternative),
        alpha=alpha,
        alternative=alternative,
        se=se_unpooled,
    )


def welch_ttest_from_stats(
    mean_control: float,
    sd_control: float,
    n_control: int,
    mean_treatment: float,
    sd_treatment: float,
    n_treatment: int,
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
) -> TestResult:
    """Welch's unequal-variance t-test from summary statistics (``sd`` with ``ddof=1``).

    ``se = sqrt(sc^2/nc + st^2/nt)``; Welch-Satterthwaite degrees of freedom. Equals
    ``scipy.stats.ttest_ind_from_stats(mt, st, nt, mc, sc, nc, equal_var=False)``. The CI for the
    difference uses the t distribution with those degrees of freedom (as scipy's
    ``TtestResult.confidence_interval``); the relative-lift CI uses the delta method on logs.
    """
    alternative = _alt(alternative)
    alpha = validate.alpha(alpha)
    fix = "Each arm needs at least 2 users for a t-test: check the arm sizes."
    n_control = validate.whole("n_control", n_control, low=2, fix=fix)
    n_treatment = validate.whole("n_treatment", n_treatment, low=2, fix=fix)
    mean_control = validate.number("mean_control", mean_control)
    mean_treatment = validate.number("mean_treatment", mean_treatment)
    fix = "Pass the standard deviation of the metric in the arm (ddof=1), a number >= 0."
    sd_control = validate.number("sd_control", sd_control, low=0, fix=fix)
    sd_treatment = validate.number("sd_treatment", sd_treatment, low=0, fix=fix)
    vc, vt = sd_control**2 / n_control, sd_treatment**2 / n_treatment
    se = math.sqrt(vc + vt)
    if se == 0:
        raise TPMLabError(
            "Both arms have a standard deviation of 0 (every user has the same value), so the "
            "t statistic is 0/0.",
            "Check that the metric column is filled in; a constant metric cannot be tested.",
        )
    df = (vc + vt) ** 2 / (vc**2 / (n_control - 1) + vt**2 / (n_treatment - 1))
    diff = mean_treatment - mean_control
    t = diff / se
    dist = stats.t(df)
    if alternative == "two-sided":
        p = 2 * dist.sf(abs(t))
    elif alternative == "larger":
        p = dist.sf(t)
    else:
        p = dist.cdf(t)
    lo, hi = _interval(diff, se, dist, alpha, alternative)
    if mean_control > 0 and mean_treatment > 0:
        rel, rlo, rhi = relative_lift_ci(
            mean_control,
            math.sqrt(vc),
            mean_treatment,
            math.sqrt(vt),
            alpha=alpha,
            alternative=alternative,
        )
    else:
        rel = rlo = rhi = math.nan
    return TestResult(
        metric_type="mean",
        method="Welch's t-test (unequal variances)",
        n_control=int(n_control),
        n_treatment=int(n_treatment),
        control=mean_control,
        treatment=mean_treatment,
        diff=diff,
        ci_low=lo,
        ci_high=hi,
        rel_lift=rel,
        rel_ci_low=rlo,
        rel_ci_high=rhi,
        statistic=t,
        p_value=float(p),
        alpha=alpha,
        alternative=alternative,
        se=se,
        df=df,
    )


def welch_ttest(
    control, treatment, *, alpha: float = 0.05, alternative: str = "two-sided"
) -> TestResult:
    """Welch's t-test on raw per-user values (arrays or pandas Series); see
    :func:`welch_ttest_from_stats`. Equals ``scipy.stats.ttest_ind(treatment, control,
    equal_var=False)`` and its ``confidence_interval(1 - alpha)``."""
    fix = (
        "Pass one number per user; decide what a missing value means (often 0 for revenue) and "
        "fill it before testing."
    )
    c = validate.numbers("control", control, min_size=2, fix=fix)
    t = validate.numbers("treatment", treatment, min_size=2, fix=fix)
    return welch_ttest_from_stats(
        c.mean(),
        c.std(ddof=1),
        c.size,
        t.mean(),
        t.std(ddof=1),
        t.size,
        alpha=alpha,
        alternative=alternative,
    )
