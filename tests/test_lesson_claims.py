"""Numbers stated in the lessons, each checked against a reference (scipy, statsmodels, a closed
form or an independent count). One test per claim; each names the lesson and the sentence.

Lessons: course/03-ab-testing/02-04 and course/05-system-design/01-06. Simulation claims use the
lesson's own seeds; their tolerances are stated with each test.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from tpmlab import abtest
from tpmlab.sysdesign import cache, datascale, queueing, reliability
from tpmlab.sysdesign import latency as lat
from tpmlab.sysdesign import loadbalance as lb
from tpmlab.sysdesign.orbitlog import api_incident, load_api_requests

SLOW = [1.0] * 9 + [0.5]  # lesson 5.4: nine servers and one at half speed


# ---- 03-ab-testing/02-analysis ---------------------------------------------------------------


def test_0302_pooled_test_and_unpooled_interval_disagree_at_150_of_5000_vs_19_of_1000():
    """'150 conversions of 5,000 in control and 19 of 1,000 in treatment: p = 0.055, yet the
    interval excludes 0 ... the verdict follows the confidence interval, so it reports a Loss.'"""
    _, p_ref = proportions_ztest([19, 150], [1_000, 5_000])  # pooled z, as the course's test
    lo_ref, hi_ref = confint_proportions_2indep(
        19, 1_000, 150, 5_000, method="wald", compare="diff"
    )
    pooled = 169 / 6_000
    z = (19 / 1_000 - 150 / 5_000) / math.sqrt(pooled * (1 - pooled) * (1 / 1_000 + 1 / 5_000))
    assert p_ref == pytest.approx(2 * stats.norm.sf(abs(z)))
    assert round(p_ref, 3) == 0.055 and p_ref > 0.05
    assert hi_ref < 0  # the unpooled 95% interval excludes 0
    edge = abtest.two_proportion_ztest(150, 5_000, 19, 1_000)
    assert edge.p_value == pytest.approx(p_ref)
    assert (edge.ci_low, edge.ci_high) == pytest.approx((lo_ref, hi_ref))
    assert abtest.verdict(edge) == "Loss"


def test_0302_percentile_bootstrap_under_covers_on_small_skewed_revenue():
    """'in 1,000 simulated A/A tests with 200 users per arm, 5% of them paying log-normal
    amounts, the 95% interval covered the true difference only about 92% of the time'.
    Monte-Carlo SE of a coverage near 0.92 over 1,000 tests is 0.009: the bound 0.94 is two SEs
    below the nominal 0.95."""
    rng = np.random.default_rng(2026)

    def revenue(n):
        return np.where(rng.random(n) < 0.05, rng.lognormal(3.0, 1.5, n), 0.0)

    covered = 0
    for k in range(1_000):
        b = abtest.bootstrap_ci(
            revenue(200), revenue(200), n_resamples=500, seed=k, keep_distribution=False
        )
        covered += b.ci_low <= 0 <= b.ci_high
    coverage = covered / 1_000
    assert 0.89 <= coverage <= 0.94, coverage


# ---- 03-ab-testing/03-trustworthiness --------------------------------------------------------


def test_0303_twenty_null_metrics_give_one_false_positive_and_half_a_false_win():
    """'20 x 0.05 = one false positive per experiment ... about 0.5 are false wins ... at least
    one false positive would be 1 - 0.95^20 = 64%.'"""
    assert stats.binom(20, 0.05).mean() == pytest.approx(1.0)
    p_win = stats.norm.sf(stats.norm.isf(0.025))  # two-sided 5% test, the winning tail only
    assert stats.binom(20, p_win).mean() == pytest.approx(0.5)
    assert stats.binom(20, 0.05).sf(0) == pytest.approx(1 - 0.95**20)
    assert round(1 - 0.95**20, 2) == 0.64
    # The same by simulation: 20 independent null z-tests per experiment, 20,000 experiments.
    z = np.random.default_rng(0).standard_normal((20_000, 20))
    crit = stats.norm.isf(0.025)
    assert (np.abs(z) > crit).sum(axis=1).mean() == pytest.approx(1.0, abs=0.03)
    assert (z > crit).sum(axis=1).mean() == pytest.approx(0.5, abs=0.02)


def test_0303_try_it_imbalance_is_suspicious_at_005_not_an_alarm_at_0001():
    """Try it: 10,164 vs 9,836 on a 50/50 plan is not an SRM at 0.001, but would be at 0.05."""
    p_ref = stats.chisquare([10_164, 9_836]).pvalue
    assert abtest.srm_test([10_164, 9_836]).p_value == pytest.approx(p_ref)
    assert 0.001 < p_ref < 0.05


# ---- 03-ab-testing/04-cuped --------------------------------------------------------------------


def test_0304_try_it_rho_that_halves_the_users_and_0_7_does_not():
    """Try it: 'What correlation would halve the users needed?' sqrt(0.5) = 0.707 passes the
    self-check (|1 - rho^2 - 0.5| < 0.005); the old default 0.7 (1 - rho^2 = 0.51) must not."""
    power = NormalIndPower()
    n_raw = power.solve_power(effect_size=0.2, alpha=0.05, power=0.8)
    rho = math.sqrt(0.5)
    # CUPED multiplies the SD by sqrt(1 - rho^2): the standardised effect grows by 1/sqrt(0.5).
    n_cuped = power.solve_power(effect_size=0.2 / math.sqrt(1 - rho**2), alpha=0.05, power=0.8)
    assert n_cuped / n_raw == pytest.approx(0.5, rel=1e-3)
    assert abtest.sample_size_means(np.sqrt(1 - rho**2), 0.2) / abtest.sample_size_means(
        1.0, 0.2
    ) == pytest.approx(0.5)
    assert abs(1 - rho**2 - 0.5) < 0.005
    assert not abs(1 - 0.7**2 - 0.5) < 0.005


# ---- 05-system-design/01-back-of-the-envelope -------------------------------------------------


def test_0501_memory_is_5000x_faster_than_a_datacentre_round_trip():
    """'Memory is ~5,000x faster than a datacentre round trip (100 ns vs 500,000 ns), which is
    ~300x faster than a cross-continent round trip (150 ms).' System Design Primer's table."""
    mem = lat.latency("Main memory reference")
    dc = lat.latency("Round trip within same datacenter")
    far = lat.latency("Send packet CA->Netherlands->CA")
    assert (mem, dc, far) == (100, 500_000, 150_000_000)
    assert dc / mem == 5_000
    assert far / dc == 300


# ---- 05-system-design/02-caching --------------------------------------------------------------


def test_0502_cache_aside_mean_latency_uses_the_mean_miss_and_pays_the_lookup(orbit_engine):
    """'mean = h x lookup + (1 - h) x (lookup + mean database latency) ... the median would
    understate it' (1 ms lookup, LRU of 1,000 items after a 20,000-read warm-up)."""
    log = load_api_requests(orbit_engine, columns=("method", "resource_key", "latency_ms"))
    reads = log[log["method"] == "GET"]
    h = cache.simulate_lru(reads["resource_key"].tolist(), 1_000, warmup=20_000).hit_rate
    mean_db = reads["latency_ms"].mean()
    expected = h * 1.0 + (1 - h) * (1.0 + mean_db)
    got = cache.effective_latency(h, 1.0, mean_db, miss_includes_lookup=False)
    assert got == pytest.approx(expected)
    # The lesson's old computation (median miss, no lookup on a miss) understated it.
    old = cache.effective_latency(h, 1.0, reads["latency_ms"].median())
    assert reads["latency_ms"].median() < mean_db
    assert old < got
    assert got - old == pytest.approx((1 - h) * (1.0 + mean_db - reads["latency_ms"].median()))


# ---- 05-system-design/03-queues -----------------------------------------------------------------


def _erlang_c(c: int, a: float) -> float:
    top = a**c / math.factorial(c) * c / (c - a)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


def test_0503_four_servers_wait_about_3x_less_than_one_4x_faster_server():
    """'At rho = 0.5 with c = 4 ... the pool's requests wait about 3x less (0.087 vs 0.25) ...
    its response is about twice the fast server's (1.09 vs 0.5).'"""
    wq_pool = _erlang_c(4, 2.0) / (4 * 1.0 - 2.0)  # M/M/4: C(c, a) / (c mu - lam)
    wq_fast = (2.0 / 4.0) / (4.0 - 2.0)  # M/M/1: rho / (mu - lam)
    assert wq_pool == pytest.approx(0.0870, abs=5e-4)
    assert wq_fast == pytest.approx(0.25)
    assert wq_fast / wq_pool == pytest.approx(2.875, abs=0.01)  # "about 3x"
    pooled, fast = queueing.mmc(2.0, 1.0, 4), queueing.mm1(2.0, 4.0)
    assert (pooled.Wq, fast.Wq) == pytest.approx((wq_pool, wq_fast))
    w_pool, w_fast = pooled.W, fast.W  # response = wait + service
    assert w_pool == pytest.approx(wq_pool + 1.0)
    assert w_fast == pytest.approx(0.5)
    assert round(w_pool, 2) == 1.09


# ---- 05-system-design/04-load-balancing --------------------------------------------------------


def test_0504_slow_server_gets_071_of_capacity_05_and_blind_limit_is_53_percent():
    """'The slow server receives 0.71 requests per time unit and can serve 0.5: its utilisation is
    1.43 ... stable only below 10 x 0.5 / 9.5 = 53% ... At 40% ... 0.38 (76% of its capacity).'"""
    lam = 0.75 * 9.5
    assert abs(lam / 10 - 0.71) < 0.005 and abs(lam / 10 / 0.5 - 1.43) <= 0.005
    slow = lb.server_loads(SLOW, 0.75).iloc[-1]
    assert slow["arrival_rate"] == pytest.approx(lam / 10)
    assert slow["utilisation"] == pytest.approx(lam / 10 / 0.5)
    assert not slow["stable"]
    assert lb.max_stable_utilisation(SLOW) == pytest.approx(10 * 0.5 / 9.5)
    assert round(10 * 0.5 / 9.5, 2) == 0.53
    at_40 = lb.server_loads(SLOW, 0.4).iloc[-1]
    assert at_40["arrival_rate"] == pytest.approx(0.38)
    assert at_40["utilisation"] == pytest.approx(0.76)


def test_0504_blind_p99_triples_then_doubles_with_run_length():
    """'Round robin's and random's p99 about triples from 20,000 to 60,000 requests and doubles
    again by 120,000' (seed 3, utilisation 0.75): ratios within [2.5, 3.5] and [1.6, 2.4]."""
    table = lb.p99_by_run_length(
        ["round_robin", "random"], 0.75, [20_000, 60_000, 120_000], seed=3, speeds=SLOW
    )
    for policy in ("round_robin", "random"):
        p20, p60, p120 = table.loc[policy]
        assert 2.5 <= p60 / p20 <= 3.5, (policy, p20, p60)
        assert 1.6 <= p120 / p60 <= 2.4, (policy, p60, p120)


def test_0504_random_splitting_simulation_meets_its_closed_forms_as_stated():
    """'The means agree within about 5% and the p99s within about 15%' (seed 3, 200,000
    requests, warm-up 1,000), for random at 40% and capacity-weighted random at 75%."""
    for policy, rho, weights in (("random", 0.4, None), ("weighted_random", 0.75, "speed")):
        r = lb.simulate_dispatch(policy, rho, 200_000, seed=3, speeds=SLOW)["response"][1_000:]
        assert r.mean() == pytest.approx(lb.split_mean_response(SLOW, rho, weights), rel=0.06)
        assert np.percentile(r, 99) == pytest.approx(
            lb.split_response_percentile(SLOW, rho, 99, weights), rel=0.15
        )


# ---- 05-system-design/05-reliability -------------------------------------------------------------


def test_0505_interpolated_p99_exceeds_300_while_the_slo_is_met():
    """'With 99 requests of 300 ms and one of 1,000 ms: 99% within 300 ms (SLO met), nearest-rank
    p99 300 ms, interpolated p99 307 ms.' numpy's inverted_cdf is the nearest-rank definition."""
    toy = np.array([300] * 99 + [1_000])
    assert (toy <= 300).mean() == pytest.approx(0.99)
    assert np.percentile(toy, 99) == pytest.approx(307.0)
    assert lat.percentile(toy, 99) == pytest.approx(307.0)
    assert np.percentile(toy, 99, method="inverted_cdf") == 300
    assert lat.percentile_nearest_rank(toy, 99) == 300


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=600), min_size=1, max_size=400))
def test_0505_latency_slo_met_exactly_when_nearest_rank_p99_is_within_threshold(latencies):
    """'the latency SLO is met exactly when that [nearest-rank] p99 is at most 300 ms'."""
    x = np.array(latencies)
    met = (x <= 300).sum() >= 0.99 * x.size
    assert met == (lat.percentile_nearest_rank(x, 99) <= 300)


def test_0505_pages_stop_within_5_and_30_minutes_of_resolution(orbit_engine):
    """'the 5-minute rate falls below 14.4 within 5 minutes ... the 1 h / 5 min page stops,
    although the 1-hour rate stays high ... the 6 h / 30 min page stops ... within 30 minutes.
    Without the short windows, the 1-hour rule would keep paging for most of an hour and the
    6-hour rule for hours.'"""
    log = load_api_requests(orbit_engine, columns=("ts", "status"))
    incident = api_incident(orbit_engine)
    good = reliability.is_good_request(log["status"])
    alerts = reliability.multiwindow_alerts(reliability.per_minute_counts(log["ts"], ~good), 0.995)
    resolved = incident["resolved_at"]
    after = alerts.loc[resolved:]

    def minutes_until(mask):
        return (after.index[mask.to_numpy(dtype=bool)][0] - resolved) / pd.Timedelta("1min")

    assert alerts.loc[resolved, "page_1h_5min"] and alerts.loc[resolved, "page_6h_30min"]
    assert minutes_until(after["burn_5min"] <= 14.4) <= 5
    stop_fast = minutes_until(~after["page_1h_5min"])
    assert stop_fast <= 5
    assert after["burn_1h"].iloc[int(stop_fast)] > 14.4
    assert minutes_until(~after["page_6h_30min"]) <= 30
    assert 30 <= minutes_until(after["burn_1h"] <= 14.4) <= 60
    assert minutes_until(after["burn_6h"] <= 6) >= 120


# ---- 05-system-design/06-data-at-scale ----------------------------------------------------------


def test_0506_strict_quorums_overlap_exactly_when_r_plus_w_exceeds_n():
    """'With strict quorums ... R + W > N means every read quorum shares at least one replica with
    every write quorum.' Checked by enumerating every pair of quorums for N up to 6."""
    for n in range(1, 7):
        replicas = range(n)
        for r, w in itertools.product(range(1, n + 1), repeat=2):
            always_overlap = all(
                set(rq) & set(wq)
                for rq in itertools.combinations(replicas, r)
                for wq in itertools.combinations(replicas, w)
            )
            assert always_overlap == (r + w > n) == datascale.quorum_is_strong(n, r, w)
