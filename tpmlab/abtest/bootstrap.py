"""Bootstrap confidence intervals for a skewed metric (revenue per user, say), seeded and vectorised.

Method: the **percentile bootstrap** for two independent samples (Efron & Tibshirani, *An
Introduction to the Bootstrap*, 1993, ch. 13): resample each arm with replacement, recompute the
statistic, take the ``alpha/2`` and ``1 - alpha/2`` quantiles of the resampled statistics. This is
``scipy.stats.bootstrap((treatment, control), statistic, method="percentile")`` with a different
random stream, so the two agree within Monte-Carlo error, not digit for digit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tpmlab import validate
from tpmlab.errors import TPMLabError


def _mean_diff(c: np.ndarray, t: np.ndarray) -> np.ndarray:
    return t.mean(axis=-1) - c.mean(axis=-1)


def _relative_lift(c: np.ndarray, t: np.ndarray) -> np.ndarray:
    return t.mean(axis=-1) / c.mean(axis=-1) - 1


def _median_diff(c: np.ndarray, t: np.ndarray) -> np.ndarray:
    return np.median(t, axis=-1) - np.median(c, axis=-1)


STATISTICS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "mean_diff": _mean_diff,
    "relative_lift": _relative_lift,
    "median_diff": _median_diff,
}


#: Fewest resamples accepted: a percentile interval from fewer is mostly Monte-Carlo noise.
MIN_RESAMPLES = 100


@dataclass(frozen=True)
class BootstrapResult:
    estimate: float  # the statistic on the observed data
    ci_low: float
    ci_high: float
    alpha: float
    n_resamples: int
    seed: int
    method: str = "percentile bootstrap (two independent samples)"
    distribution: np.ndarray | None = None  # the resampled statistics, for a histogram


def bootstrap_ci(
    control,
    treatment,
    *,
    statistic: str | Callable[[np.ndarray, np.ndarray], np.ndarray] = "mean_diff",
    n_resamples: int = 2000,
    alpha: float = 0.05,
    seed: int = 0,
    batch_size: int = 200,
    keep_distribution: bool = True,
) -> BootstrapResult:
    """Percentile-bootstrap CI for ``statistic(control, treatment)``.

    ``statistic`` is ``"mean_diff"`` (treatment - control), ``"relative_lift"`` (mean ratio - 1),
    ``"median_diff"``, or a function ``f(c, t)`` of two 2-D arrays (one resample per row) that
    returns one value per row. ``seed`` makes the result reproducible. Resamples are drawn in
    batches of ``batch_size`` rows to bound memory.
    """
    fix = "Pass one finite number per user, at least 2 per arm (fill missing values first)."
    c = validate.numbers("control", control, min_size=2, fix=fix)
    t = validate.numbers("treatment", treatment, min_size=2, fix=fix)
    n_resamples = validate.whole(
        "n_resamples",
        n_resamples,
        low=MIN_RESAMPLES,
        fix="Percentile intervals need many resamples: use the default 2000 (at least 1000).",
    )
    alpha = validate.alpha(alpha)
    batch_size = validate.whole("batch_size", batch_size, low=1, fix="Use the default 200.")
    if isinstance(statistic, str) or not callable(statistic):
        validate.choice(
            "statistic",
            statistic,
            STATISTICS,
            "Pass one of the names, or a function f(c, t) of two 2-D arrays returning one value "
            "per row.",
        )
        stat = STATISTICS[statistic]
    else:
        stat = statistic
    if stat is _relative_lift and c.mean() <= 0:
        raise validate.InvalidArgument(
            "control",
            c,
            "values with a positive mean for statistic='relative_lift'",
            "Use statistic='mean_diff' when the control mean can be 0 or negative.",
        )
    rng = np.random.default_rng(seed)
    out = np.empty(n_resamples)
    for start in range(0, n_resamples, batch_size):
        b = min(batch_size, n_resamples - start)
        ci = rng.integers(0, c.size, size=(b, c.size))
        ti = rng.integers(0, t.size, size=(b, t.size))
        values = np.asarray(stat(c[ci], t[ti]), dtype=float)
        if values.shape != (b,):
            raise validate.InvalidArgument(
                "statistic",
                statistic,
                f"a function returning one value per resample (shape ({b},)), not {values.shape}",
                "Reduce along the last axis, e.g. lambda c, t: t.mean(axis=-1) - c.mean(axis=-1).",
            )
        out[start : start + b] = values
    if not np.isfinite(out).all():
        raise TPMLabError(
            f"The statistic is not a finite number on {int((~np.isfinite(out)).sum())} of the "
            "resamples (a division by zero?).",
            "Use a statistic that is defined on every resample, e.g. 'mean_diff'.",
        )
    lo, hi = np.quantile(out, [alpha / 2, 1 - alpha / 2])
    est = float(np.asarray(stat(c[None, :], t[None, :])).ravel()[0])
    return BootstrapResult(
        estimate=est,
        ci_low=float(lo),
        ci_high=float(hi),
        alpha=alpha,
        n_resamples=n_resamples,
        seed=seed,
        distribution=out if keep_distribution else None,
    )
