"""Sample ratio mismatch (SRM): is the split of users between arms what the design promised?

Method: Pearson's chi-square goodness-of-fit test of the observed arm counts against the planned
shares (``scipy.stats.chisquare``), as recommended by Fabijan et al., "Diagnosing Sample Ratio
Mismatch in Online Controlled Experiments", KDD 2019, and Kohavi, Tang & Xu (2020), ch. 21.

Why the threshold is strict (default 0.001, not 0.05): the check runs on every experiment, often
every day, so a 0.05 threshold would raise false alarms on 1 in 20 healthy tests; and a real SRM is
usually huge in evidence (p-values like 1e-10), because assignment counts are large. A flagged SRM
means the arms are no longer comparable: do not read the metrics, find the bug.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from tpmlab import validate

DEFAULT_THRESHOLD = 0.001


@dataclass(frozen=True)
class SRMResult:
    counts: tuple[int, ...]
    expected: tuple[float, ...]
    observed_shares: tuple[float, ...]
    chi2: float
    p_value: float
    threshold: float

    @property
    def mismatch(self) -> bool:
        """True when ``p_value < threshold``: treat the experiment's results as untrustworthy."""
        return bool(self.p_value < self.threshold)

    def message(self) -> str:
        shares = ", ".join(f"{s:.2%}" for s in self.observed_shares)
        planned = ", ".join(f"{e / sum(self.expected):.2%}" for e in self.expected)
        verdict = (
            "SAMPLE RATIO MISMATCH: do not trust this experiment's metrics; find the cause."
            if self.mismatch
            else "No sample ratio mismatch detected."
        )
        return f"{verdict} Observed shares {shares} vs planned {planned} (chi-square p = {self.p_value:.2g})."


def srm_test(
    counts: Sequence[int],
    planned_shares: Sequence[float] | None = None,
    *,
    threshold: float = DEFAULT_THRESHOLD,
) -> SRMResult:
    """Chi-square SRM check of arm ``counts`` against ``planned_shares`` (default: equal split).

    ``counts`` in the same order as ``planned_shares``, e.g. ``[n_control, n_treatment]`` with
    ``[0.5, 0.5]``. Shares are normalised to sum to 1. Equals
    ``scipy.stats.chisquare(counts, f_exp=total * shares)``.
    """
    fix = "Pass e.g. [n_control, n_treatment]: whole numbers of users assigned, not conversions."
    obs = validate.numbers("counts", counts, low=0, min_size=2, fix=fix)
    for i, x in enumerate(obs):
        validate.whole(f"counts[{i}]", x, low=0, fix=fix)
    if obs.sum() == 0:
        raise validate.InvalidArgument("counts", obs, "counts with at least one user", fix)
    fix = "Pass e.g. [0.5, 0.5] for a 50/50 test, or [0.9, 0.1] for 90/10."
    shares = (
        np.full(obs.size, 1 / obs.size)
        if planned_shares is None
        else validate.numbers("planned_shares", planned_shares, low=0, low_open=True, fix=fix)
    )
    if shares.shape != obs.shape:
        raise validate.InvalidArgument(
            "planned_shares", planned_shares, f"one positive share per arm ({obs.size} arms)", fix
        )
    threshold = validate.alpha(threshold, "threshold")
    shares = shares / shares.sum()
    expected = obs.sum() * shares
    chi2 = float(((obs - expected) ** 2 / expected).sum())
    p = float(stats.chi2.sf(chi2, df=obs.size - 1))
    return SRMResult(
        counts=tuple(int(x) for x in obs),
        expected=tuple(float(e) for e in expected),
        observed_shares=tuple(float(x) for x in obs / obs.sum()),
        chi2=chi2,
        p_value=p,
        threshold=threshold,
    )
