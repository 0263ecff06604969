"""tpmlab.abtest.cuped (vs an OLS fit in statsmodels and the 1 - rho^2 identity of Deng et al.
2013) and tpmlab.abtest.report (verdict logic and table formatting)."""

import numpy as np
import pytest
import statsmodels.api as sm

from tpmlab.abtest import cuped, design, report
from tpmlab.abtest.analysis import two_proportion_ztest, welch_ttest_from_stats
from tpmlab.errors import TPMLabError


def _cuped_data(seed, n, rho_target, effect):
    rng = np.random.default_rng(seed)
    x = rng.poisson(8, size=2 * n).astype(float)
    noise_sd = np.sqrt(8 * (1 - rho_target**2) / rho_target**2)
    y = x + rng.normal(0, noise_sd, 2 * n)
    arm = np.repeat([0, 1], n)
    y = y + effect * arm
    return y[:n], x[:n], y[n:], x[n:]


@pytest.mark.parametrize(
    "seed,n,rho,effect",
    [(1, 2000, 0.5, 0.3), (2, 5000, 0.8, 0.1), (3, 800, 0.3, 0.0), (4, 20000, 0.9, 0.05)],
)
def test_cuped_theta_is_ols_slope_and_variance_falls_by_one_minus_rho_squared(seed, n, rho, effect):
    yc, xc, yt, xt = _cuped_data(seed, n, rho, effect)
    y, x = np.concatenate([yc, yt]), np.concatenate([xc, xt])
    ols = sm.OLS(y, sm.add_constant(x)).fit()
    res = cuped.cuped_analysis(yc, xc, yt, xt)
    assert res.theta == pytest.approx(ols.params[1], rel=1e-10)
    # in-sample identity: var(y - theta x) = var(y) (1 - rho^2) exactly when theta = cov/var
    assert res.variance_ratio == pytest.approx(1 - res.rho**2, rel=1e-10)
    assert res.rho == pytest.approx(rho, abs=4 * (1 - rho**2) / np.sqrt(2 * n))  # 4 SE of r
    # unbiased: adjusted difference close to the raw one and to the truth
    assert abs(res.adjusted.diff - effect) < 4 * res.adjusted.se
    assert res.adjusted.se < res.raw.se


@pytest.mark.parametrize("seed", [5, 6])
def test_cuped_estimate_close_to_ancova_coefficient(seed):
    yc, xc, yt, xt = _cuped_data(seed, 5000, 0.7, 0.2)
    y, x = np.concatenate([yc, yt]), np.concatenate([xc, xt])
    arm = np.repeat([0.0, 1.0], yc.size)
    ancova = sm.OLS(y, sm.add_constant(np.column_stack([arm, x]))).fit()
    res = cuped.cuped_analysis(yc, xc, yt, xt)
    assert res.adjusted.diff == pytest.approx(ancova.params[1], abs=0.1 * ancova.bse[1])
    assert res.adjusted.se == pytest.approx(ancova.bse[1], rel=0.02)


def test_cuped_sample_size_falls_by_the_variance_ratio():
    yc, xc, yt, xt = _cuped_data(7, 5000, 0.6, 0.0)
    res = cuped.cuped_analysis(yc, xc, yt, xt)
    sd_raw = np.concatenate([yc, yt]).std(ddof=1)
    n_raw = design.sample_size_means(sd_raw, 0.1)
    n_adj = design.sample_size_means(sd_raw * np.sqrt(res.variance_ratio), 0.1)
    assert n_adj / n_raw == pytest.approx(1 - res.rho**2, rel=1e-10)


def test_cuped_adjust_keeps_the_mean_and_rejects_bad_input():
    yc, xc, _, _ = _cuped_data(8, 1000, 0.5, 0)
    adj = cuped.cuped_adjust(yc, xc)
    assert adj.mean() == pytest.approx(yc.mean())
    with pytest.raises(TPMLabError):
        cuped.cuped_theta([1, 2, 3], [1, 2])
    with pytest.raises(TPMLabError, match="constant"):
        cuped.cuped_theta([1, 2, 3], [5, 5, 5])


def _mean_result(diff, se, alpha=0.05):
    # large n so the t interval is essentially diff +/- 1.96 se
    n = 10**6
    sd = se * np.sqrt(n / 2)
    return welch_ttest_from_stats(10.0, sd, n, 10.0 + diff, sd, n, alpha=alpha)


@pytest.mark.parametrize(
    "diff,se,thr,hib,expected",
    [
        (0.5, 0.1, 0.2, True, "Win"),
        (-0.5, 0.1, 0.2, True, "Loss"),
        (-0.5, 0.1, 0.2, False, "Win"),  # lower is better (latency)
        (0.05, 0.01, 0.2, True, "Significant but too small to matter"),
        (0.1, 0.2, 0.2, True, "Inconclusive"),
        (0.01, 0.05, 0.2, True, "No meaningful change"),
        (0.01, 0.05, 0.0, True, "Inconclusive"),
    ],
)
def test_verdicts(diff, se, thr, hib, expected):
    assert report.verdict(_mean_result(diff, se), thr, higher_is_better=hib) == expected


def test_results_table_is_readable():
    conv = two_proportion_ztest(1000, 10000, 1100, 10000)
    load = _mean_result(40.0, 5.0)
    t = report.results_table(
        {"Activation rate": conv, "Page load (ms)": load},
        practical_thresholds={"Activation rate": 0.005},
        lower_is_better=["Page load (ms)"],
    )
    assert list(t.index) == ["Activation rate", "Page load (ms)"]
    row = t.loc["Activation rate"]
    assert row["Control"] == "10.00%" and row["Treatment"] == "11.00%"
    assert row["Change"] == "+1.00 pp"
    assert row["Relative change"] == "+10.0%"
    assert row["p-value"] == "0.021"
    assert row["Verdict"] == "Win"
    assert t.loc["Page load (ms)", "Verdict"] == "Loss"
    assert "95% CI (change)" in t.columns
