"""Multiple comparisons: adjusting p-values when one experiment is read on many metrics or arms.

* ``"bonferroni"``: multiply each p-value by m (controls the family-wise error rate, FWER).
* ``"holm"``: Holm (1979) step-down; controls FWER, never less powerful than Bonferroni.
* ``"bh"``: Benjamini & Hochberg (1995) step-up; controls the false discovery rate (FDR).

Adjusted p-values are capped at 1 and compared with ``alpha``. Each equals
``statsmodels.stats.multitest.multipletests(p, alpha, method=...)`` with method ``"bonferroni"``,
``"holm"`` and ``"fdr_bh"`` respectively.
"""

from __future__ import annotations

import numpy as np

from tpmlab import validate

METHODS = ("bonferroni", "holm", "bh")


def adjust_pvalues(pvalues, method: str = "holm", alpha: float = 0.05):
    """Return ``(reject, adjusted)`` arrays in the input order. See the module docstring."""
    validate.choice("method", method, (*METHODS, "fdr_bh"), f"Use one of {METHODS}.")
    alpha = validate.alpha(alpha)
    p = validate.numbers(
        "pvalues",
        pvalues,
        low=0,
        high=1,
        fix="Collect one p-value (between 0 and 1) per metric or per arm into a list first.",
    )
    m = p.size
    order = np.argsort(p, kind="mergesort")
    ps = p[order]
    if method == "bonferroni":
        adj_sorted = np.minimum(ps * m, 1.0)
    elif method == "holm":
        adj_sorted = np.minimum(np.maximum.accumulate(ps * (m - np.arange(m))), 1.0)
    else:  # "bh" or "fdr_bh"
        raw = ps * m / np.arange(1, m + 1)
        adj_sorted = np.minimum(np.minimum.accumulate(raw[::-1])[::-1], 1.0)
    adjusted = np.empty(m)
    adjusted[order] = adj_sorted
    return adjusted <= alpha, adjusted
