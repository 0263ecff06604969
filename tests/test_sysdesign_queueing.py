"""Tests for tpmlab.sysdesign.queueing: closed forms against independent computations, and the
simulator against the closed forms.

Tolerances (stated, with why): simulated means of M/M/1 at rho <= 0.8 on 400k arrivals are
within 5% of the formula (the autocorrelated sample mean has a relative standard error of about
1.5% at rho = 0.8); percentiles and tail probabilities within 5% relative or 0.01 absolute; M/M/c
on 400k arrivals within 5%; blocking probabilities within 0.01 absolute.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from tpmlab.errors import TPMLabError
from tpmlab.sysdesign import queueing as q

# ------------------------------------------------------------------ closed forms


def test_littles_law():
    assert q.littles_law_L(100, 0.25) == 25  # 100 req/s x 250 ms = 25 in flight
    assert q.littles_law_W(25, 100) == 0.25
    # A pool of 50 connections, 200 ms per request -> at most 250 requests/s.
    assert q.littles_law_throughput(50, 0.2) == pytest.approx(250)
    m = q.mm1(3, 5)
    assert pytest.approx(3 * m.W) == m.L and m.Lq == pytest.approx(3 * m.Wq)


def test_mm1_formulas():
    m = q.mm1(0.8, 1.0)
    assert (m.rho, m.W, m.Wq, m.L, m.Lq) == pytest.approx((0.8, 5.0, 4.0, 4.0, 3.2))
    # Response time is exponential with rate mu - lam: compare with scipy.
    expo = stats.expon(scale=1 / (1.0 - 0.8))
    for t in (0.5, 2, 10):
        assert q.mm1_response_tail(0.8, 1, t) == pytest.approx(expo.sf(t))
    for p in (50, 95, 99):
        assert q.mm1_response_percentile(0.8, 1, p) == pytest.approx(expo.ppf(p / 100))
    assert q.mm1_wait_tail(0.8, 1, 0) == pytest.approx(0.8)
    with pytest.raises(TPMLabError, match="without limit"):
        q.mm1(1.0, 1.0)


def erlang_b_scipy(c, a):
    return stats.poisson.pmf(c, a) / stats.poisson.cdf(c, a)


def erlang_c_direct(c, a):
    top = a**c / math.factorial(c) * c / (c - a)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


@pytest.mark.parametrize("c,a", [(1, 0.5), (2, 1.0), (4, 3.2), (10, 8.0), (30, 25.0)])
def test_erlang_b_and_c_against_independent_formulas(c, a):
    assert q.erlang_b(c, a) == pytest.approx(erlang_b_scipy(c, a), rel=1e-9)
    assert q.erlang_c(c, a) == pytest.approx(erlang_c_direct(c, a), rel=1e-9)


def test_mmc_reduces_to_known_cases():
    # M/M/1 is M/M/c with c = 1.
    m1, mc = q.mm1(0.7, 1), q.mmc(0.7, 1, 1)
    assert (mc.W, mc.Wq, mc.p_wait) == pytest.approx((m1.W, m1.Wq, m1.p_wait))
    # M/M/2 textbook result: P(wait) = 2 rho^2 / (1 + rho), Lq = 2 rho^3 / (1 - rho^2).
    rho = 0.5
    m2 = q.mmc(1.0, 1.0, 2)
    assert m2.p_wait == pytest.approx(2 * rho**2 / (1 + rho))
    assert m2.Lq == pytest.approx(2 * rho**3 / (1 - rho**2))
    # The response-time tail integrates to the mean response time.
    grid = np.linspace(0, 60, 60_001)
    tail = np.array([q.mmc_response_tail(3.2, 1, 4, t) for t in grid])
    assert np.trapezoid(tail, grid) == pytest.approx(q.mmc(3.2, 1, 4).W, rel=1e-4)
    assert q.mmc_response_tail(0.8, 1, 1, 3.0) == pytest.approx(q.mm1_response_tail(0.8, 1, 3.0))
    assert q.mmc_response_percentile(0.8, 1, 1, 99) == pytest.approx(
        q.mm1_response_percentile(0.8, 1, 99)
    )


def test_pooling_beats_separate_queues():
    # One M/M/4 at 80% waits far less than four M/M/1 queues at 80% each.
    assert q.mmc(3.2, 1, 4).W < q.mm1(0.8, 1).W / 2


def test_servers_for_wait():
    c = q.servers_for_wait(lam=40, mu=5, max_mean_wait=0.01)
    assert q.mmc(40, 5, c).Wq <= 0.01 < q.mmc(40, 5, c - 1).Wq


def test_mg1_and_kingman():
    # P-K with exponential service equals M/M/1; constant service halves the wait.
    assert q.mg1_mean_wait(0.8, 1.0, 1.0) == pytest.approx(q.mm1(0.8, 1.0).Wq)
    assert q.mg1_mean_wait(0.8, 1.0, 0.0) == pytest.approx(q.mm1(0.8, 1.0).Wq / 2)
    assert q.kingman_mean_wait(0.8, 1.0, 1.0, 1.0) == pytest.approx(q.mm1(0.8, 1.0).Wq)


def test_mm1k_blocking():
    assert q.mm1k_blocking(1, 1, 4) == pytest.approx(1 / 5)
    # Direct from the stationary distribution pi_n ~ rho^n, n = 0..K.
    rho, k = 0.9, 5
    pi = rho ** np.arange(k + 1)
    assert q.mm1k_blocking(0.9, 1, k) == pytest.approx(pi[-1] / pi.sum())


# ------------------------------------------------------------------ simulation


def test_lindley_and_event_loop_agree_exactly():
    rng = np.random.default_rng(3)
    a = np.cumsum(rng.exponential(1.0, 5_000))
    s = rng.gamma(2.0, 0.4, 5_000)
    fast = q.simulate_queue(a, s, 1)
    loop = q.simulate_queue(a, s, 1, capacity=10**9)  # forces the event loop
    np.testing.assert_allclose(fast.waits, loop.waits, atol=1e-9)


def test_simulator_hand_example():
    # Arrivals 0, 1, 2 each needing 1.5: waits 0, 0.5, 1.0; two servers: no waits.
    one = q.simulate_queue([0, 1, 2], [1.5, 1.5, 1.5], 1)
    assert one.waits.tolist() == pytest.approx([0, 0.5, 1.0])
    two = q.simulate_queue([0, 1, 2], [1.5, 1.5, 1.5], 2)
    assert two.waits.tolist() == pytest.approx([0, 0, 0])
    capped = q.simulate_queue([0, 0.1, 0.2], [1, 1, 1], 1, capacity=2)
    assert capped.dropped.tolist() == [False, False, True]
    with pytest.raises(TPMLabError, match="sorted"):
        q.simulate_queue([1, 0], [1, 1])


@pytest.mark.parametrize("rho,seed", [(0.5, 11), (0.8, 12)])
def test_mm1_simulation_matches_closed_form(rho, seed):
    sim = q.simulate_mmc(rho, 1.0, 1, 400_000, seed)
    s = sim.summary(warmup=2_000)
    m = q.mm1(rho, 1.0)
    assert s["mean_response"] == pytest.approx(m.W, rel=0.05)
    assert s["mean_wait"] == pytest.approx(m.Wq, rel=0.05)
    assert s["p_wait"] == pytest.approx(rho, abs=0.01)
    for p in (50, 95, 99):
        assert s[f"p{p}"] == pytest.approx(q.mm1_response_percentile(rho, 1, p), rel=0.05)
    w = sim.waits[2_000:]
    for t in (1.0, 5.0):
        assert (w > t).mean() == pytest.approx(q.mm1_wait_tail(rho, 1, t), abs=0.01)


@pytest.mark.parametrize("c,rho,seed", [(2, 0.7, 21), (4, 0.8, 22), (8, 0.85, 23)])
def test_mmc_simulation_matches_erlang_c(c, rho, seed):
    lam = rho * c
    s = q.simulate_mmc(lam, 1.0, c, 400_000, seed).summary(warmup=2_000)
    m = q.mmc(lam, 1.0, c)
    assert s["p_wait"] == pytest.approx(m.p_wait, abs=0.015)
    assert s["mean_response"] == pytest.approx(m.W, rel=0.05)
    assert s["p99"] == pytest.approx(q.mmc_response_percentile(lam, 1, c, 99), rel=0.05)


def test_md1_simulation_matches_pollaczek_khinchine():
    rng = np.random.default_rng(31)
    a = q.poisson_arrivals(0.8, 300_000, rng)
    s = q.simulate_queue(a, np.ones_like(a)).summary(warmup=2_000)
    assert s["mean_wait"] == pytest.approx(q.mg1_mean_wait(0.8, 1.0, 0.0), rel=0.05)


@pytest.mark.parametrize("rho,k", [(0.9, 5), (1.2, 10)])
def test_bounded_queue_drops_match_mm1k(rho, k):
    sim = q.simulate_mmc(rho, 1.0, 1, 200_000, seed=41, capacity=k)
    assert sim.drop_rate == pytest.approx(q.mm1k_blocking(rho, 1.0, k), abs=0.01)
    # Back-pressure bounds the wait even when offered load exceeds capacity.
    assert np.nanmax(sim.waits) < 5 * k


def test_tail_latency_climbs_with_utilisation():
    df = q.utilisation_sweep(1.0, 1, [0.5, 0.7, 0.9], n=100_000, seed=5)
    assert df["sim_p99"].is_monotonic_increasing and df["mmc_p99"].is_monotonic_increasing
    assert df["mmc_p99"].iloc[-1] / df["mmc_p99"].iloc[0] == pytest.approx(5.0)
    np.testing.assert_allclose(df["sim_p99"].iloc[:2], df["mmc_p99"].iloc[:2], rtol=0.08)


def test_same_seed_same_result():
    a = q.simulate_mmc(0.7, 1, 2, 1_000, seed=9).waits
    b = q.simulate_mmc(0.7, 1, 2, 1_000, seed=9).waits
    c = q.simulate_mmc(0.7, 1, 2, 1_000, seed=10).waits
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
