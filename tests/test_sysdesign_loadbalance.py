"""Tests for tpmlab.sysdesign.loadbalance: dispatch policies against closed forms and each other.

Tolerances: mean response of 200k seeded requests within 5% of the M/M/1 (random) and GI/M/1
(round robin) closed forms; power of two choices with 100 servers within 10% of the
infinite-server supermarket limit (finite systems sit slightly above it).
"""

from __future__ import annotations

import numpy as np
import pytest

from tpmlab.errors import TPMLabError
from tpmlab.sysdesign import loadbalance as lb

WARM = 2_000


def mean_response(policy, n, rho, seed, n_req=200_000, speeds=None):
    return lb.simulate_load_balancer(policy, n, rho, n_req, seed, speeds=speeds)[WARM:].mean()


@pytest.mark.parametrize("n,rho,seed", [(4, 0.7, 1), (10, 0.8, 2)])
def test_random_dispatch_is_mm1_per_server(n, rho, seed):
    assert mean_response("random", n, rho, seed) == pytest.approx(
        lb.random_mean_response(rho), rel=0.05
    )


@pytest.mark.parametrize("n,rho,seed", [(2, 0.8, 3), (10, 0.8, 4)])
def test_round_robin_matches_erlang_interarrival_queue(n, rho, seed):
    assert mean_response("round_robin", n, rho, seed) == pytest.approx(
        lb.round_robin_mean_response(n, rho), rel=0.05
    )


def test_round_robin_sigma_limits():
    # One server: Poisson arrivals, sigma = rho (M/M/1).
    assert lb.round_robin_sigma(1, 0.6) == pytest.approx(0.6)
    # More servers -> more regular arrivals per server -> smaller sigma, faster responses.
    assert lb.round_robin_sigma(10, 0.8) < lb.round_robin_sigma(2, 0.8) < 0.8


def test_supermarket_model():
    assert lb.supermarket_mean_response(0.8, d=1) == pytest.approx(5.0)
    # Power of two: sum over i of rho^(2^i - 1), divided by rho.
    expected = sum(0.9 ** (2**i - 1) for i in range(1, 40)) / 0.9
    assert lb.supermarket_mean_response(0.9, d=2) == pytest.approx(expected)
    sim = mean_response("power_of_two", 100, 0.9, seed=5)
    assert sim == pytest.approx(lb.supermarket_mean_response(0.9, d=2), rel=0.10)


def test_policies_rank_as_theory_says_on_identical_traffic():
    df = lb.compare_policies(10, 0.85, 100_000, seed=6).set_index("policy")
    # Least connections <= power of two < round robin < random, for the mean and the p99.
    for col in ("mean", "p99"):
        v = df[col]
        assert v["least_connections"] <= v["power_of_two"] < v["round_robin"] < v["random"]
    assert df.loc["random", "p99"] > 2.5 * df.loc["power_of_two", "p99"]


def test_round_robin_suffers_with_a_slow_server():
    speeds = [1.0] * 9 + [0.5]
    rr = lb.simulate_load_balancer("round_robin", 10, 0.7, 60_000, 8, speeds=speeds)[WARM:]
    p2 = lb.simulate_load_balancer("power_of_two", 10, 0.7, 60_000, 8, speeds=speeds)[WARM:]
    # The slow server gets 1/10 of requests but only 0.5/9.5 of capacity: it is overloaded.
    assert np.percentile(rr, 99) > 5 * np.percentile(p2, 99)


def test_seeded_and_validated():
    a = lb.simulate_load_balancer("power_of_two", 5, 0.8, 2_000, seed=1)
    b = lb.simulate_load_balancer("power_of_two", 5, 0.8, 2_000, seed=1)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(TPMLabError, match="`policy` must be one of"):
        lb.simulate_load_balancer("fastest", 5, 0.8, 10, seed=1)
    with pytest.raises(TPMLabError):
        lb.simulate_load_balancer("random", 5, 1.1, 10, seed=1)
