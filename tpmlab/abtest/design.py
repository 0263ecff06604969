"""Designing an A/B test: sample size, power, minimum detectable effect (MDE) and duration.

Three sample-size methods for a conversion-rate (binary) metric are implemented side by side
because real tools disagree by a few percent and a TPM should know why:

``"evan_miller"``
    Evan Miller's calculator ("How Not To Run an A/B Test", evanmiller.org, and the formula in his
    sample-size calculator's source): the test statistic's null standard deviation is taken at the
    **baseline** rate, ``sqrt(2 p1 (1 - p1))``, the alternative's is the unpooled
    ``sqrt(p1 (1 - p1) + p2 (1 - p2))``. His page's default example (baseline 20 %, MDE 5 points
    absolute, 5 % two-sided, 80 % power) gives 1,030 per variation.
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

All sample sizes are **per arm** (per variant), for **two equal arms**, and for a **two-sided**
test unless ``alternative="one-sided"`` is passed. Multiply by the number of arms for the total.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, stats

from tpmlab.errors import TPMLabError

METHODS = ("evan_miller", "pooled", "cohens_h")


def _check_rate(name: str, p: float) -> None:
    if not 0 < p < 1:
        raise TPMLabError(
            f"{name} must be a rate strictly between 0 and 1, got {p!r}.",
            "Pass conversion rates as fractions: 12% is 0.12, not 12.",
        )


def _check_probs(alpha: float, power: float | None = None) -> None:
    if not 0 < alpha < 1:
        raise TPMLabError(f"alpha must be between 0 and 1, got {alpha!r}.", "Use e.g. alpha=0.05.")
    if power is not None and not 0 < power < 1:
        raise TPMLabError(f"power must be between 0 and 1, got {power!r}.", "Use e.g. power=0.8.")


def _sides(alternative: str) -> int:
    if alternative in ("two-sided", "two_sided"):
        return 2
    if alternative in ("one-sided", "one_sided", "larger", "smaller", "greater", "less"):
        return 1
    raise TPMLabError(
        f"alternative must be 'two-sided' or 'one-sided', got {alternative!r}.",
        "Use 'two-sided' unless you decided before the test that only one direction matters.",
    )


def treatment_rate(baseline: float, mde: float, relative: bool = False) -> float:
    """The treatment rate implied by a baseline and an MDE.

    ``relative=False`` (default): ``mde`` is an absolute change in percentage points as a fraction
    (0.01 = one point). ``relative=True``: ``mde`` is a relative lift (0.10 = +10 % of baseline).
    """
    _check_rate("baseline", baseline)
    p2 = baseline * (1 + mde) if relative else baseline + mde
    _check_rate("baseline + MDE", p2)
    if p2 == baseline:
        raise TPMLabError(
            "The MDE is zero.", "Pass the smallest change worth detecting, e.g. 0.01."
        )
    return p2


def cohens_h(p1: float, p2: float) -> float:
    """Cohen's h between two proportions, ``2 asin(sqrt(p2)) - 2 asin(sqrt(p1))``.

    Same as ``statsmodels.stats.proportion.proportion_effectsize(p2, p1)``.
    """
    return 2 * math.asin(math.sqrt(p2)) - 2 * math.asin(math.sqrt(p1))


def _sd_null_alt(p1: float, p2: float, method: str) -> tuple[float, float]:
    """Per-unit standard deviations of the difference under the null and the alternative."""
    sd_alt = math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    if method == "evan_miller":
        sd_null = math.sqrt(2 * p1 * (1 - p1))
    elif method == "pooled":
        pbar = (p1 + p2) / 2
        sd_null = math.sqrt(2 * pbar * (1 - pbar))
    else:
        raise TPMLabError(f"Unknown method {method!r}.", f"Use one of {METHODS}.")
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


def _closed_form(p1, p2, alpha, power, alternative, method) -> float:
    _check_rate("p1 (control rate)", p1)
    _check_rate("p2 (treatment rate)", p2)
    _check_probs(alpha, power)
    sd_null, sd_alt = _sd_null_alt(p1, p2, method)
    z_a = stats.norm.isf(alpha / _sides(alternative))
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
    _check_rate("p1 (control rate)", p1)
    _check_rate("p2 (treatment rate)", p2)
    _check_probs(alpha, power)
    sides = _sides(alternative)
    h = cohens_h(p1, p2)
    n0 = 2 * ((stats.norm.isf(alpha / sides) + stats.norm.ppf(power)) / h) ** 2
    if sides == 1:
        return n0
    return optimize.brentq(lambda n: _power_h(h, n, alpha, 2) - power, n0 * 0.5, n0 * 1.01)


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
    method: str = "evan_miller",
    alternative: str = "two-sided",
) -> int:
    """Users needed in **each** arm (rounded up) to detect ``mde`` on a conversion rate.

    ``mde`` is absolute (0.01 = 1 percentage point) unless ``relative=True`` (0.10 = +10 %).
    ``method`` is ``"evan_miller"`` (default), ``"pooled"`` or ``"cohens_h"`` (see the module
    docstring). Two-sided unless ``alternative="one-sided"``. Total = 2 x this for an A/B test.
    """
    if method not in _SAMPLE_SIZE:
        raise TPMLabError(f"Unknown method {method!r}.", f"Use one of {METHODS}.")
    p2 = treatment_rate(baseline, mde, relative)
    n = _SAMPLE_SIZE[method](baseline, p2, alpha, power, alternative)
    return int(math.ceil(n - 1e-9))


def power_two_proportions(
    p1: float,
    p2: float,
    n_per_arm: float,
    *,
    alpha: float = 0.05,
    method: str = "pooled",
    alternative: str = "two-sided",
) -> float:
    """Probability that the test rejects when the true rates are ``p1`` (control), ``p2``.

    ``method="pooled"`` equals ``statsmodels.stats.proportion.power_proportions_2indep``;
    ``"cohens_h"`` equals ``NormalIndPower().power(h, n_per_arm, alpha)``; ``"evan_miller"`` uses
    the baseline null variance. Two-sided (both tails counted) unless ``alternative="one-sided"``.
    """
    _check_rate("p1", p1)
    _check_rate("p2", p2)
    _check_probs(alpha)
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
    method: str = "evan_miller",
    alternative: str = "two-sided",
    relative: bool = False,
) -> float:
    """Smallest upward change detectable with ``n_per_arm`` users per arm at the given power.

    Solves ``sample_size(baseline, baseline + mde) = n_per_arm`` for ``mde`` (Brent's method).
    Returns the absolute change (fraction) or, with ``relative=True``, the relative lift.
    """
    _check_rate("baseline", baseline)
    if n_per_arm <= 1:
        raise TPMLabError("n_per_arm must be more than 1.", "Pass the users per arm, e.g. 5000.")
    f = _SAMPLE_SIZE.get(method)
    if f is None:
        raise TPMLabError(f"Unknown method {method!r}.", f"Use one of {METHODS}.")
    hi = 1 - baseline - 1e-9
    if f(baseline, baseline + hi, alpha, power, alternative) > n_per_arm:
        raise TPMLabError(
            "Even the largest possible change cannot be detected with so few users.",
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
    _check_probs(alpha, power)
    if sd <= 0 or mde == 0:
        raise TPMLabError("sd must be positive and mde non-zero.", "Check the metric's SD and MDE.")
    z_a = stats.norm.isf(alpha / _sides(alternative))
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
    if daily_eligible_users <= 0:
        raise TPMLabError(
            "daily_eligible_users must be positive.", "Pass users per day, e.g. 1200."
        )
    if not 0 < allocation <= 1:
        raise TPMLabError(
            f"allocation must be a share between 0 and 1, got {allocation!r}.",
            "Pass 0.5 for 'half of eligible traffic is in the test', not 50.",
        )
    days = math.ceil(n_per_arm * n_arms / (daily_eligible_users * allocation) - 1e-9)
    if whole_weeks:
        days = 7 * math.ceil(days / 7)
    return int(days)


def power_curve(
    baseline: float,
    n_per_arm: float,
    mdes: np.ndarray,
    *,
    alpha: float = 0.05,
    method: str = "pooled",
    alternative: str = "two-sided",
) -> np.ndarray:
    """Power at each absolute MDE in ``mdes`` for a fixed per-arm sample size (for plotting)."""
    return np.array(
        [
            power_two_proportions(
                baseline,
                baseline + m,
                n_per_arm,
                alpha=alpha,
                method=method,
                alternative=alternative,
            )
            for m in np.asarray(mdes, dtype=float)
        ]
    )
