"""Designing an A/B test: sample size, power, minimum detectable effect (MDE) and duration.

Three sample-size methods for a conversion-rate (binary) metric are implemented side by side
because real tools disagree by a few percent and a TPM should know why:

``"evan_miller"``
    Evan Miller's calculator ("How Not To Run an A/B Test", evanmiller.org, and the formula in his
    sample-size calculator's source): the test statistic's null standard deviation is taken at the
    **baseline** rate, ``sqrt(2 p1 (1 - p1))``, the alternative's is the unpooled
    ``sqrt(p1 (1 - p1) + p2 (1 - p2))``. His calculator's default example (baseline 20 %, MDE 5
    points absolute, 5 % two-sided, 80 % power) shows "1,030" per variation: the formula gives
    1,030.2 and the calculator rounds to the nearest whole number. :func:`sample_size_per_arm`
    rounds **up**, to 1,031, so that the plan has at least the target power (with 1,030 users the
    power is just below 80 %).
``"pooled"``
    The classic pooled-variance formula (Fleiss, Levin & Paik, *Statistical Methods for Rates and
    Proportions*, 3rd ed., 2003, eq. 4.14 without continuity correction): the null standard
    deviation is taken at the **pooled** rate ``(p1 + p2) / 2``. This is exactly
    ``statsmodels.stats.proportion.samplesize_proportions_2indep_onetail``.
``"cohens_h"``
    Cohen's effect size ``h = 2 asin(sqrt(p2)) - 2 asin(sqrt(p1))`` on the arcsine
    variance-stabilised scale (Cohen, *Statistical Power Analysis for the Behavioral Sciences*,
    1988, ch. 6), with the sample size solved exactly as
    ``statsmodels.stats.power.NormalIndPower().solve_power`` does (both tails of a two-sided test).
    This is not a third choice of null standard deviation: on the arcsine scale the variance of
    an arm is about ``1 / n`` whatever the rate, so **both** the null and the alternative
    variances change (to ``2 / n`` for the difference), and the effect is measured as ``h``
    rather than ``p2 - p1``.

All sample sizes are **per arm** (per variant), for **two equal arms** (a 50/50 split), and for a
**two-sided** test unless ``alternative="one-sided"`` is passed. Multiply by the number of arms for
the total. Every function defaults to ``method="evan_miller"`` (:data:`DEFAULT_METHOD`), so
``power_two_proportions`` and ``power_curve`` at the ``n`` returned by ``sample_size_per_arm``
give the target power.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, stats

from tpmlab import validate

METHODS = ("evan_miller", "pooled", "cohens_h")
#: The method every function of this module uses unless told otherwise.
DEFAULT_METHOD = "evan_miller"


def _check_rate(name: str, p: float) -> float:
    return validate.fraction(
        name,
        p,
        low_open=True,
        high_open=True,
        fix="Pass conversion rates as fractions strictly between 0 and 1: 12% is 0.12, not 12.",
    )


def _check_probs(alpha: float, power: float | None = None, sides: int = 2) -> None:
    """alpha in (0, 1); power in (alpha, 1): a test with no users already rejects with prob. alpha."""
    alpha = validate.alpha(alpha)
    if power is not None:
        validate.number(
            "power",
            power,
            low=alpha,
            high=1,
            low_open=True,
            high_open=True,
            fix="Pass the power as a fraction above alpha, e.g. power=0.8 (not 80): a test with "
            "no users at all already rejects with probability alpha.",
        )


def _check_method(method: str) -> str:
    return validate.choice(
        "method", method, METHODS, "Use 'evan_miller' (the default) unless told otherwise."
    )


def _sides(alternative: str) -> int:
    if alternative in ("two-sided", "two_sided"):
        return 2
    if alternative in ("one-sided", "one_sided", "larger", "smaller", "greater", "less"):
        return 1
    raise validate.InvalidArgument(
        "alternative",
        alternative,
        "'two-sided' or 'one-sided'",
        "Use 'two-sided' unless you decided before the test that only one direction matters.",
    )


def _check_different(p1: float, p2: float) -> None:
    if p1 == p2:
        raise validate.InvalidArgument(
            "p2",
            p2,
            f"a treatment rate different from p1 = {p1!r}",
            "A sample size is for detecting a change: pass the rate you want to be able to detect.",
        )


def treatment_rate(baseline: float, mde: float, relative: bool = False) -> float:
    """The treatment rate implied by a baseline and an MDE.

    ``relative=False`` (default): ``mde`` is an absolute change in percentage points as a fraction
    (0.01 = one point). ``relative=True``: ``mde`` is a relative lift (0.10 = +10 % of baseline).
    """
    baseline = _check_rate("baseline", baseline)
    mde = validate.number("mde", mde, fix="Pass the smallest change worth detecting, e.g. 0.01.")
    p2 = baseline * (1 + mde) if relative else baseline + mde
    if not 0 < p2 < 1 or p2 == baseline:
        lo, hi = (-1, 1 / baseline - 1) if relative else (-baseline, 1 - baseline)
        kind = "a relative lift" if relative else "an absolute change"
        raise validate.InvalidArgument(
            "mde",
            mde,
            f"{kind} in ({lo:.4g}, {hi:.4g}), not 0, so that the treatment rate stays strictly "
            f"between 0 and 1 (baseline {baseline:g})",
            "Pass the smallest change worth detecting, e.g. 0.01 for one percentage point (or "
            "0.10 with relative=True for +10%).",
        )
    return p2


def cohens_h(p1: float, p2: float) -> float:
    """Cohen's h between two proportions, ``2 asin(sqrt(p2)) - 2 asin(sqrt(p1))``.

    Same as ``statsmodels.stats.proportion.proportion_effectsize(p2, p1)``. Rates in [0, 1].
    """
    p1 = validate.fraction("p1", p1)
    p2 = validate.fraction("p2", p2)
    return 2 * math.asin(math.sqrt(p2)) - 2 * math.asin(math.sqrt(p1))


def _sd_null_alt(p1: float, p2: float, method: str) -> tuple[float, float]:
    """Per-unit standard deviations of the difference under the null and the alternative."""
    sd_alt = math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    if method == "evan_miller":
        sd_null = math.sqrt(2 * p1 * (1 - p1))
    else:  # "pooled"
        pbar = (p1 + p2) / 2
        sd_null = math.sqrt(2 * pbar * (1 - pbar))
    return sd_null, sd_alt


def sample_size_evan_miller(
    p1: float, p2: float, alpha: float = 0.05, power: float = 0.8, alternative: str = "two-sided"
) -> float:
    """Per-arm sample size, Evan Miller's method (null variance at the baseline ``p1``).

    ``n = (z_{1-a/s} sqrt(2 p1 q1) + z_{power} sqrt(p1 q1 + p2 q2))^2 / (p2 - p1)^2`` with
    ``s = 2`` for a two-sided test. Returned unrounded: round **up** for a plan.
    Source: Evan Miller, sample-size calculator (evanmiller.org/ab-testing/sample-size.html).
    """
    return _closed_form(p1, p2, alpha, power, alternative, "evan_miller")


def sample_size_pooled(
    p1: float, p2: float, alpha: float = 0.05, power: float = 0.8, alternative: str = "two-sided"
) -> float:
    """Per-arm sample size, pooled-variance formula (null variance at ``(p1 + p2) / 2``).

    Equals ``statsmodels.stats.proportion.samplesize_proportions_2indep_onetail(p2 - p1, p1,
    power, alpha=alpha)``. Fleiss, Levin & Paik (2003), eq. 4.14 without continuity correction.
    Returned unrounded: round **up** for a plan.
    """
    return _closed_form(p1, p2, alpha, power, alternative, "pooled")


def _check_design(p1, p2, alpha, power, alternative) -> tuple[float, float, int]:
    p1 = _check_rate("p1 (control rate)", p1)
    p2 = _check_rate("p2 (treatment rate)", p2)
    _check_different(p1, p2)
    sides = _sides(alternative)
    _check_probs(alpha, power)
    return p1, p2, sides


def _closed_form(p1, p2, alpha, power, alternative, method) -> float:
    p1, p2, sides = _check_design(p1, p2, alpha, power, alternative)
    sd_null, sd_alt = _sd_null_alt(p1, p2, method)
    z_a = stats.norm.isf(alpha / sides)
    z_b = stats.norm.ppf(power)
    return ((z_a * sd_null + z_b * sd_alt) / (p2 - p1)) ** 2


def _power_h(h: float, n: float, alpha: float, sides: int) -> float:
    """Power of the arcsine z-test with per-arm n (both tails when two-sided), as NormalIndPower."""
    crit = stats.norm.isf(alpha / sides)
    shift = abs(h) * math.sqrt(n / 2)
    pw = stats.norm.sf(crit - shift)
    if sides == 2:
        pw += stats.norm.cdf(-crit - shift)
    return float(pw)


def sample_size_cohens_h(
    p1: float, p2: float, alpha: float = 0.05, power: float = 0.8, alternative: str = "two-sided"
) -> float:
    """Per-arm sample size from Cohen's h, solved like ``NormalIndPower().solve_power``.

    Closed form ``n = 2 ((z_{1-a/2} + z_power) / h)^2`` ignores the far tail of a two-sided test;
    like statsmodels we solve the exact power equation (the difference is below 0.01 % at usual
    settings). Returned unrounded: round **up** for a plan.
    """
    p1, p2, sides = _check_design(p1, p2, alpha, power, alternative)
    h = cohens_h(p1, p2)
    n0 = 2 * ((stats.norm.isf(alpha / sides) + stats.norm.ppf(power)) / h) ** 2
    if sides == 1:
        return n0
    # power is alpha at n = 0 and, counting the far tail, at least the target at n0
    return optimize.brentq(lambda n: _power_h(h, n, alpha, 2) - power, 0.0, n0 * 1.01)


_SAMPLE_SIZE = {
    "evan_miller": sample_size_evan_miller,
    "pooled": sample_size_pooled,
    "cohens_h": sample_size_cohens_h,
}


def sample_size_per_arm(
    baseline: float,
    mde: float,
    *,
    relative: bool = False,
    alpha: float = 0.05,
    power: float = 0.8,
    method: str = DEFAULT_METHOD,
    alternative: str = "two-sided",
) -> int:
    """Users needed in **each** of two equal (50/50) arms, rounded up, to detect ``mde``.

    ``mde`` is absolute (0.01 = 1 percentage point) unless ``relative=True`` (0.10 = +10 %).
    ``method`` is ``"evan_miller"`` (default), ``"pooled"`` or ``"cohens_h"`` (see the module
    docstring). Two-sided unless ``alternative="one-sided"``. Total = 2 x this for an A/B test.
    """
    _check_method(method)
    p2 = treatment_rate(baseline, mde, relative)
    n = _SAMPLE_SIZE[method](baseline, p2, alpha, power, alternative)
    return int(math.ceil(n - 1e-9))


def power_two_proportions(
    p1: float,
    p2: float,
    n_per_arm: float,
    *,
    alpha: float = 0.05,
    method: str = DEFAULT_METHOD,
    alternative: str = "two-sided",
) -> float:
    """Probability that the test rejects when the true rates are ``p1`` (control), ``p2``.

    Two equal arms of ``n_per_arm`` users. ``method="evan_miller"`` (default, as in
    :func:`sample_size_per_arm`) uses the baseline null variance; ``"pooled"`` equals
    ``statsmodels.stats.proportion.power_proportions_2indep``; ``"cohens_h"`` equals
    ``NormalIndPower().power(h, n_per_arm, alpha)``. Two-sided (both tails counted) unless
    ``alternative="one-sided"``.
    """
    p1 = _check_rate("p1", p1)
    p2 = _check_rate("p2", p2)
    n_per_arm = validate.number(
        "n_per_arm", n_per_arm, low=0, low_open=True, fix="Pass the users in each arm, e.g. 5000."
    )
    _check_probs(alpha)
    _check_method(method)
    sides = _sides(alternative)
    if method == "cohens_h":
        h = cohens_h(p1, p2)
        if sides == 1:
            return float(stats.norm.sf(stats.norm.isf(alpha) - abs(h) * math.sqrt(n_per_arm / 2)))
        return _power_h(h, n_per_arm, alpha, 2)
    sd_null, sd_alt = _sd_null_alt(p1, p2, method)
    d = abs(p2 - p1) * math.sqrt(n_per_arm)
    crit = stats.norm.isf(alpha / sides)
    pw = stats.norm.sf((crit * sd_null - d) / sd_alt)
    if sides == 2:
        pw += stats.norm.cdf((-crit * sd_null - d) / sd_alt)
    return float(pw)


def mde_for_sample_size(
    baseline: float,
    n_per_arm: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    method: str = DEFAULT_METHOD,
    alternative: str = "two-sided",
    relative: bool = False,
) -> float:
    """Smallest upward change detectable with ``n_per_arm`` users per arm at the given power.

    Solves ``sample_size(baseline, baseline + mde) = n_per_arm`` for ``mde`` (Brent's method).
    Returns the absolute change (fraction) or, with ``relative=True``, the relative lift.
    """
    baseline = _check_rate("baseline", baseline)
    n_per_arm = validate.number(
        "n_per_arm", n_per_arm, low=1, low_open=True, fix="Pass the users per arm, e.g. 5000."
    )
    _check_method(method)
    _sides(alternative)
    _check_probs(alpha, power)
    f = _SAMPLE_SIZE[method]
    hi = 1 - baseline - 1e-9
    if f(baseline, baseline + hi, alpha, power, alternative) > n_per_arm:
        raise validate.InvalidArgument(
            "n_per_arm",
            n_per_arm,
            f"at least {math.ceil(f(baseline, baseline + hi, alpha, power, alternative))} users "
            "(fewer cannot detect even the largest possible change)",
            "Use more users per arm or accept lower power.",
        )
    d = optimize.brentq(
        lambda d: f(baseline, baseline + d, alpha, power, alternative) - n_per_arm,
        1e-9,
        hi,
        xtol=1e-12,
    )
    return d / baseline if relative else d


def sample_size_means(
    sd: float,
    mde: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: str = "two-sided",
) -> float:
    """Per-arm sample size to detect an absolute change ``mde`` in a mean with unit SD ``sd``.

    Normal approximation with equal variances: ``n = 2 (z_{1-a/2} + z_power)^2 sd^2 / mde^2``
    (the far tail ignored; equals ``NormalIndPower().solve_power(mde / sd, ...)`` to < 0.01 %).
    Returned unrounded. With a variance-reduced metric (CUPED), pass the reduced SD.
    """
    sd = validate.number(
        "sd", sd, low=0, low_open=True, fix="Pass the per-user standard deviation of the metric."
    )
    mde = validate.number("mde", mde, fix="Pass the smallest change worth detecting.")
    if mde == 0:
        raise validate.InvalidArgument(
            "mde", mde, "a non-zero change", "Pass the smallest change worth detecting, e.g. 0.5."
        )
    sides = _sides(alternative)
    _check_probs(alpha, power)
    z_a = stats.norm.isf(alpha / sides)
    return 2 * ((z_a + stats.norm.ppf(power)) * sd / mde) ** 2


def duration_days(
    n_per_arm: float,
    daily_eligible_users: float,
    *,
    allocation: float = 1.0,
    n_arms: int = 2,
    whole_weeks: bool = False,
) -> int:
    """Days needed to enrol ``n_per_arm`` users in each of ``n_arms`` equal arms.

    ``daily_eligible_users``: new users per day who could enter the test (unique users, not
    visits). ``allocation``: share of them put into the experiment (0-1, split equally between
    arms). With ``whole_weeks=True`` the result is rounded up to a multiple of 7 days so every
    weekday is represented equally (Kohavi, Tang & Xu 2020, ch. 2 and 23).
    """
    n_per_arm = validate.number(
        "n_per_arm",
        n_per_arm,
        low=0,
        low_open=True,
        fix="Pass the users needed in each arm, e.g. sample_size_per_arm(...).",
    )
    daily = validate.number(
        "daily_eligible_users",
        daily_eligible_users,
        low=0,
        low_open=True,
        fix="Pass new eligible users per day, e.g. 1200.",
    )
    allocation = validate.number(
        "allocation",
        allocation,
        low=0,
        high=1,
        low_open=True,
        fix="Pass 0.5 for 'half of eligible traffic is in the test', not 50.",
    )
    n_arms = validate.whole("n_arms", n_arms, low=2, fix="An A/B test has n_arms=2.")
    days = math.ceil(n_per_arm * n_arms / (daily * allocation) - 1e-9)
    if whole_weeks:
        days = 7 * math.ceil(days / 7)
    return int(days)


def power_curve(
    baseline: float,
    n_per_arm: float,
    mdes: np.ndarray,
    *,
    alpha: float = 0.05,
    method: str = DEFAULT_METHOD,
    alternative: str = "two-sided",
) -> np.ndarray:
    """Power at each absolute MDE in ``mdes`` for a fixed per-arm sample size (for plotting).

    Same default method as :func:`sample_size_per_arm`, so the curve drawn at
    ``n_per_arm = sample_size_per_arm(baseline, mde)`` passes through the target power at ``mde``.
    """
    baseline = _check_rate("baseline", baseline)
    m = validate.numbers(
        "mdes",
        mdes,
        low=-baseline,
        high=1 - baseline,
        low_open=True,
        high_open=True,
        fix="Pass absolute changes that keep baseline + mde strictly between 0 and 1.",
    )
    return np.array(
        [
            power_two_proportions(
                baseline,
                baseline + x,
                n_per_arm,
                alpha=alpha,
                method=method,
                alternative=alternative,
            )
            for x in m
        ]
    )
