"""tpmlab.abtest.srm, .peeking and .multiple: sample ratio mismatch (vs scipy.stats.chisquare and
a published example), peeking (vs Armitage et al. 1969, and an exact multivariate-normal
computation), multiple comparisons (vs statsmodels multipletests)."""

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from tpmlab.abtest import multiple, peeking, srm
from tpmlab.errors import TPMLabError


@pytest.mark.parametrize(
    "counts,shares",
    [
        ([5000, 5000], None),
        ([50210, 49790], [0.5, 0.5]),
        ([600, 400], [0.5, 0.5]),
        ([9012, 988], [0.9, 0.1]),
        ([3300, 3350, 3400], None),
        ([20000, 21000], [1, 1]),  # shares are normalised
        ([101, 99, 50], [0.4, 0.4, 0.2]),
    ],
)
def test_srm_matches_scipy_chisquare(counts, shares):
    r = srm.srm_test(counts, shares)
    sh = (
        np.full(len(counts), 1 / len(counts))
        if shares is None
        else np.asarray(shares) / np.sum(shares)
    )
    ref = stats.chisquare(counts, f_exp=np.sum(counts) * sh)
    assert r.chi2 == pytest.approx(ref.statistic, rel=1e-10)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-8, abs=1e-300)


def test_srm_published_example_600_400():
    # Wikipedia, "Sample ratio mismatch": 600 vs 400 on a 50/50 design, p = 2.54e-10.
    r = srm.srm_test([600, 400])
    assert r.p_value == pytest.approx(2.54e-10, rel=0.01)
    assert r.mismatch and "MISMATCH" in r.message()


def test_srm_threshold_is_strict_by_default():
    # p about 0.02: suspicious at 0.05, but not an SRM alarm at the default 0.001.
    r = srm.srm_test([10164, 9836])
    assert 0.001 < r.p_value < 0.05
    assert not r.mismatch
    assert srm.srm_test([10164, 9836], threshold=0.05).mismatch


def test_srm_uses_planned_shares_not_equal_split():
    assert not srm.srm_test([9000, 1000], [0.9, 0.1]).mismatch
    assert srm.srm_test([9000, 1000]).mismatch


@pytest.mark.parametrize("bad", [[100], [-1, 5], [0, 0]])
def test_srm_rejects_bad_counts(bad):
    with pytest.raises(TPMLabError):
        srm.srm_test(bad)


def _exact_peeking_rate(k: int, alpha: float = 0.05) -> float:
    """P(max_j |Z_j| > z_{1-a/2}) for Brownian-motion z statistics at k equally spaced looks,
    corr(Z_i, Z_j) = sqrt(i/j), computed by Genz's algorithm in scipy.stats.multivariate_normal."""
    idx = np.arange(1, k + 1)
    cov = np.sqrt(np.minimum.outer(idx, idx) / np.maximum.outer(idx, idx))
    c = stats.norm.isf(alpha / 2)
    mvn = stats.multivariate_normal(mean=np.zeros(k), cov=cov)
    inside = mvn.cdf(np.full(k, c), lower_limit=np.full(k, -c), rng=np.random.default_rng(0))
    return 1 - inside


@pytest.mark.parametrize("k", [2, 3, 5, 10])
def test_published_armitage_table_matches_exact_computation(k):
    assert _exact_peeking_rate(k) == pytest.approx(peeking.ARMITAGE_1969[k], abs=0.0015)


@pytest.mark.parametrize("k,seed", [(1, 11), (3, 12), (5, 13), (10, 14)])
def test_peeking_simulation_matches_armitage_within_monte_carlo_error(k, seed):
    r = peeking.simulate_peeking(
        k, users_per_look=2000, baseline=0.2, n_simulations=20000, seed=seed
    )
    assert abs(r.false_positive_rate - peeking.ARMITAGE_1969[k]) < 4 * r.monte_carlo_se
    # a single look at the end keeps its nominal 5 %
    assert abs(r.final_look_rate - 0.05) < 4 * np.sqrt(0.05 * 0.95 / 20000)


def test_ten_looks_is_about_19_percent_not_40():
    r = peeking.simulate_peeking(10, seed=0)
    assert 0.18 < r.false_positive_rate < 0.21
    assert r.naive_independent_rate == pytest.approx(1 - 0.95**10)
    assert r.false_positive_rate < r.naive_independent_rate - 0.15
    assert (
        np.all(np.diff(r.cumulative_rate) >= 0) and r.cumulative_rate[-1] == r.false_positive_rate
    )


def test_peeking_is_seeded():
    a = peeking.simulate_peeking(5, n_simulations=2000, seed=4)
    b = peeking.simulate_peeking(5, n_simulations=2000, seed=4)
    assert a.false_positive_rate == b.false_positive_rate


PVALUE_SETS = [
    [0.01, 0.04, 0.03, 0.005, 0.20],
    [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216],
    [0.5, 0.5, 0.0001],
    [0.049],
    [0.012, 0.012, 0.03, 0.9, 0.0125, 0.02],  # ties
    list(np.random.default_rng(1).uniform(0, 0.1, 25)),
]


@pytest.mark.parametrize("pvals", PVALUE_SETS)
@pytest.mark.parametrize(
    "ours,theirs", [("bonferroni", "bonferroni"), ("holm", "holm"), ("bh", "fdr_bh")]
)
@pytest.mark.parametrize("alpha", [0.05, 0.10])
def test_multiple_comparisons_match_statsmodels(pvals, ours, theirs, alpha):
    rej, adj = multiple.adjust_pvalues(pvals, ours, alpha)
    ref_rej, ref_adj, _, _ = multipletests(pvals, alpha=alpha, method=theirs)
    assert np.allclose(adj, ref_adj, rtol=1e-12)
    assert list(rej) == list(ref_rej)


def test_benjamini_hochberg_published_example():
    # Benjamini & Hochberg (1995), section 4: 15 p-values, q = 0.05 -> the 4 smallest rejected
    # (Bonferroni rejects 3).
    p = [
        0.0001,
        0.0004,
        0.0019,
        0.0095,
        0.0201,
        0.0278,
        0.0298,
        0.0344,
        0.0459,
        0.3240,
        0.4262,
        0.5719,
        0.6528,
        0.7590,
        1.0000,
    ]
    assert multiple.adjust_pvalues(p, "bh")[0].sum() == 4
    assert multiple.adjust_pvalues(p, "bonferroni")[0].sum() == 3


def test_multiple_rejects_bad_input():
    with pytest.raises(TPMLabError):
        multiple.adjust_pvalues([0.1, 1.5])
    with pytest.raises(TPMLabError):
        multiple.adjust_pvalues([0.1], method="sidak-ish")
