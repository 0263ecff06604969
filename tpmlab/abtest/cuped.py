"""CUPED: reducing the variance of an experiment metric with a pre-experiment covariate.

Method: Deng, Xu, Kohavi & Walker (2013), "Improving the Sensitivity of Online Controlled
Experiments by Utilizing Pre-Experiment Data", WSDM. With ``y`` the in-experiment metric and ``x``
the same metric measured before assignment,

    theta = cov(x, y) / var(x)        (pooled over both arms; the OLS slope of y on x)
    y_cuped = y - theta * (x - mean(x))

Because ``x`` is measured before randomisation it is independent of the treatment, so the
difference in means of ``y_cuped`` is still an unbiased estimate of the effect, while its variance
is ``var(y) * (1 - rho^2)`` where ``rho = corr(x, y)``. Sample size (and so duration) falls by the
same factor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tpmlab import validate
from tpmlab.abtest.analysis import TestResult, welch_ttest
from tpmlab.errors import TPMLabError


def _pair(y, x, y_name: str = "y", x_name: str = "x") -> tuple[np.ndarray, np.ndarray]:
    fix = "Pass one finite number per user; fill missing values first."
    y = validate.numbers(y_name, y, min_size=2, fix=fix)
    x = validate.numbers(x_name, x, min_size=2, fix=fix)
    if y.shape != x.shape:
        raise validate.InvalidArgument(
            x_name,
            x,
            f"one pre-period value per user: {y.size} values like `{y_name}`",
            "Join the pre-period covariate to the outcome on user_id before calling.",
        )
    return y, x


def cuped_theta(y, x) -> float:
    """``cov(x, y) / var(x)`` (both with ``ddof=1``): the OLS slope of ``y`` on ``x``."""
    y, x = _pair(y, x)
    vx = x.var(ddof=1)
    if vx == 0:
        raise TPMLabError(
            "The covariate x is constant, so it cannot explain anything.", "Pick another covariate."
        )
    return float(np.cov(x, y, ddof=1)[0, 1] / vx)


def cuped_adjust(y, x, theta: float | None = None) -> np.ndarray:
    """``y - theta * (x - mean(x))``; ``theta`` defaults to :func:`cuped_theta` on ``(y, x)``."""
    y, x = _pair(y, x)
    if theta is None:
        theta = cuped_theta(y, x)
    theta = validate.number("theta", theta, fix="Leave theta=None to estimate it from (y, x).")
    return y - theta * (x - x.mean())


@dataclass(frozen=True)
class CupedResult:
    theta: float
    rho: float  # correlation of x and y, pooled over arms
    variance_ratio: float  # var(y_cuped) / var(y), pooled; about 1 - rho^2
    raw: TestResult  # Welch's t-test on y
    adjusted: TestResult  # Welch's t-test on y_cuped

    @property
    def expected_variance_ratio(self) -> float:
        return 1 - self.rho**2


def cuped_analysis(
    y_control, x_control, y_treatment, x_treatment, *, alpha: float = 0.05
) -> CupedResult:
    """Compare arms on ``y`` with and without CUPED (theta pooled over both arms, Deng et al. 2013)."""
    yc, xc = _pair(y_control, x_control, "y_control", "x_control")
    yt, xt = _pair(y_treatment, x_treatment, "y_treatment", "x_treatment")
    alpha = validate.alpha(alpha)
    y = np.concatenate([yc, yt])
    x = np.concatenate([xc, xt])
    theta = cuped_theta(y, x)
    adj = cuped_adjust(y, x, theta)
    rho = float(np.corrcoef(x, y)[0, 1])
    return CupedResult(
        theta=theta,
        rho=rho,
        variance_ratio=float(adj.var(ddof=1) / y.var(ddof=1)),
        raw=welch_ttest(yc, yt, alpha=alpha),
        adjusted=welch_ttest(adj[: yc.size], adj[yc.size :], alpha=alpha),
    )
