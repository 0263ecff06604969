"""Peeking: what happens to the false-positive rate when you check an A/B test repeatedly.

Simulates A/A tests (no true difference) on a conversion metric and applies a two-sided
two-proportion z-test at ``n_looks`` equally spaced interim looks, stopping at the first
"significant" look. The share of A/A tests ever declared significant is the real false-positive
rate. Reference: Armitage, McPherson & Rowe (1969), "Repeated significance tests on accumulating
data", *JRSS A* 132(2):235-244, Table 2 (reproduced in Jennison & Turnbull, *Group Sequential
Methods*, 2000, Table 1.1): at nominal alpha = 0.05 two-sided with 10 equally spaced looks the
overall type I error is 0.193, not ``1 - 0.95**10 = 0.401``: the looks share most of their data,
so they are strongly correlated. See also Evan Miller, "How Not To Run an A/B Test" (2010).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from tpmlab import validate

#: Overall type I error of repeated two-sided tests at nominal 0.05 with K equally spaced looks,
#: normal data with known variance (Armitage, McPherson & Rowe 1969; Jennison & Turnbull 2000,
#: Table 1.1).
ARMITAGE_1969 = {1: 0.05, 2: 0.083, 3: 0.107, 4: 0.126, 5: 0.142, 10: 0.193, 20: 0.248, 50: 0.320}


@dataclass(frozen=True)
class PeekingResult:
    n_looks: int
    n_simulations: int
    alpha: float
    false_positive_rate: float  # stopped at the first significant look
    final_look_rate: float  # tested once, at the end
    cumulative_rate: np.ndarray  # P(significant at or before look k), k = 1..n_looks
    monte_carlo_se: float
    seed: int

    @property
    def naive_independent_rate(self) -> float:
        """``1 - (1 - alpha)^K``: what you would get if the looks were independent (they are not)."""
        return 1 - (1 - self.alpha) ** self.n_looks


def simulate_peeking(
    n_looks: int = 10,
    *,
    users_per_look: int = 1000,
    baseline: float = 0.1,
    n_simulations: int = 20000,
    alpha: float = 0.05,
    seed: int = 0,
) -> PeekingResult:
    """Simulate ``n_simulations`` A/A tests, each peeked at ``n_looks`` times.

    Each look adds ``users_per_look`` users to each arm (conversion rate ``baseline`` in both).
    Fully vectorised: about 0.2 s for the defaults. With enough users per look the result matches
    the normal-theory values of Armitage et al. (1969) within Monte-Carlo error.
    """
    n_looks = validate.whole("n_looks", n_looks, low=1, fix="Use e.g. n_looks=10.")
    users_per_look = validate.whole(
        "users_per_look", users_per_look, low=1, fix="Use e.g. users_per_look=1000."
    )
    baseline = validate.fraction(
        "baseline", baseline, low_open=True, high_open=True, fix="Use e.g. baseline=0.1 (10%)."
    )
    n_simulations = validate.whole(
        "n_simulations", n_simulations, low=1, fix="Use e.g. n_simulations=20000."
    )
    alpha = validate.alpha(alpha)
    rng = np.random.default_rng(seed)
    conv = rng.binomial(users_per_look, baseline, size=(2, n_simulations, n_looks)).cumsum(axis=2)
    n = users_per_look * np.arange(1, n_looks + 1)
    pa, pb = conv[0] / n, conv[1] / n
    pooled = (conv[0] + conv[1]) / (2 * n)
    se = np.sqrt(pooled * (1 - pooled) * 2 / n)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, (pb - pa) / se, 0.0)
    sig = np.abs(z) > stats.norm.isf(alpha / 2)
    ever = np.logical_or.accumulate(sig, axis=1)
    fpr = float(ever[:, -1].mean())
    return PeekingResult(
        n_looks=n_looks,
        n_simulations=n_simulations,
        alpha=alpha,
        false_positive_rate=fpr,
        final_look_rate=float(sig[:, -1].mean()),
        cumulative_rate=ever.mean(axis=0),
        monte_carlo_se=float(np.sqrt(fpr * (1 - fpr) / n_simulations)),
        seed=seed,
    )
