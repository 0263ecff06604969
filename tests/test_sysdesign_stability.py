"""Tests for the unequal-server helpers of tpmlab.sysdesign.loadbalance: the stability condition,
capacity-weighted dispatch, closed forms for random splitting, and p99 against run length.

The setting is lesson 5.4's: ten servers, one at half speed. Tolerances: means of 200k seeded
requests within 5% of the M/M/1-mixture closed form, p99 within 10%; "settled" means the p99
moves less than 25% between runs of 20k, 60k and 120k requests, "growing" that it increases with
each longer run and at 120k is more than 4 times the 20k value.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from tpmlab.errors import TPMLabError
from tpmlab.sysdesign import loadbalance as lb

SPEEDS = [1.0] * 9 + [0.5]
LENGTHS = [20_000, 60_000, 120_000]


def test_equal_split_overloads_the_slow_server_at_the_lessons_utilisation():
    loads = lb.server_loads(SPEEDS, 0.75)
    # Pool arrival rate 0.75 x 9.5; each server gets a tenth of it.
    assert loads["arrival_rate"].to_numpy() == pytest.approx([0.75 * 9.5 / 10] * 10)
    assert loads.loc[9, "utilisation"] == pytest.approx(0.7125 / 0.5)
    assert loads["stable"].tolist() == [True] * 9 + [False]
    # Blind policies keep every server stable only below n x min(speed) / sum(speeds).
    assert lb.max_stable_utilisation(SPEEDS) == pytest.approx(10 * 0.5 / 9.5)
    assert lb.server_loads(SPEEDS, 0.52)["stable"].all()
    assert not lb.server_loads(SPEEDS, 0.53)["stable"].all()
    # Capacity-weighted shares put every server at the pool's utilisation.
    weighted = lb.server_loads(SPEEDS, 0.75, weights="speed")
    assert weighted["utilisation"].to_numpy() == pytest.approx([0.75] * 10)
    assert lb.max_stable_utilisation(SPEEDS, weights="speed") == pytest.approx(1.0)


@pytest.mark.parametrize("policy", lb.POLICIES)
def test_simulate_dispatch_gives_the_same_traffic_as_simulate_load_balancer(policy):
    old = lb.simulate_load_balancer(policy, 10, 0.75, 5_000, seed=3, speeds=SPEEDS)
    new = lb.simulate_dispatch(policy, 0.75, 5_000, seed=3, speeds=SPEEDS)
    np.testing.assert_array_equal(new["response"].to_numpy(), old)
    if policy == "round_robin":
        assert new["server"].tolist() == [i % 10 for i in range(5_000)]


def test_weighted_policies_split_in_proportion_to_speed():
    wrr = lb.simulate_dispatch("weighted_round_robin", 0.75, 19_000, seed=1, speeds=SPEEDS)
    # Weights 1 x 9 and 0.5: every cycle of 19 requests gives 2 to each fast server, 1 to the slow.
    assert wrr["server"].value_counts().sort_index().tolist() == [2_000] * 9 + [1_000]
    wr = lb.simulate_dispatch("weighted_random", 0.75, 190_000, seed=1, speeds=SPEEDS)
    share = wr["server"].value_counts(normalize=True).sort_index().to_numpy()
    np.testing.assert_allclose(share, np.array(SPEEDS) / 9.5, atol=0.005)


def test_random_splitting_matches_its_closed_forms():
    # Identical servers: the mixture is one M/M/1 queue; its response is exponential with rate
    # mu (1 - rho), so scipy's exponential gives the p99.
    assert lb.split_mean_response([1.0] * 4, 0.8) == pytest.approx(lb.random_mean_response(0.8))
    assert lb.split_response_percentile([1.0] * 4, 0.8, 99) == pytest.approx(
        stats.expon(scale=1 / 0.2).ppf(0.99)
    )
    # Capacity-weighted random: n / (mu sum(speeds) (1 - rho)).
    assert lb.split_mean_response(SPEEDS, 0.75, "speed") == pytest.approx(10 / (9.5 * 0.25))
    # An unstable split has no finite mean or percentile.
    assert lb.split_mean_response(SPEEDS, 0.75) == math.inf
    assert lb.split_response_percentile(SPEEDS, 0.75, 99) == math.inf
    # Simulations of both splits, one below the blind limit and one weighted at the lesson's load.
    for weights, policy, rho, seed in (
        (None, "random", 0.4, 11),
        ("speed", "weighted_random", 0.75, 12),
    ):
        r = lb.simulate_dispatch(policy, rho, 200_000, seed, SPEEDS)["response"].to_numpy()[2_000:]
        assert r.mean() == pytest.approx(lb.split_mean_response(SPEEDS, rho, weights), rel=0.05)
        assert np.percentile(r, 99) == pytest.approx(
            lb.split_response_percentile(SPEEDS, rho, 99, weights), rel=0.10
        )


def test_unstable_p99_grows_with_run_length_stable_p99_settles():
    table = lb.p99_by_run_length(lb.DISPATCH_POLICIES, 0.75, LENGTHS, seed=3, speeds=SPEEDS)
    for policy in ("round_robin", "random"):  # the slow server gets 1.425x its capacity
        p99 = table.loc[policy].to_numpy()
        assert np.all(np.diff(p99) > 0), (policy, p99)
        assert p99[-1] > 4 * p99[0], (policy, p99)
    for policy in ("least_connections", "power_of_two", "weighted_random", "weighted_round_robin"):
        p99 = table.loc[policy].to_numpy()
        assert p99.max() < 1.25 * p99.min(), (policy, p99)
        assert p99.max() < 30, (policy, p99)


def test_below_the_blind_limit_the_round_robin_factor_does_not_depend_on_run_length():
    # Lesson 5.4's Try-it: at utilisation 0.4 every server is stable under every policy, and
    # round robin's p99 over power of two's is about 1.8 at any run length and seed tried.
    factors = []
    for seed in (3, 4):
        for n in (60_000, 120_000):
            p99 = lb.compare_dispatch(["round_robin", "power_of_two"], 0.4, n, seed, SPEEDS)
            p99 = p99.set_index("policy")["p99"]
            factors.append(p99["round_robin"] / p99["power_of_two"])
    assert min(factors) > 1.5 and max(factors) < 2.1, factors
    assert max(factors) / min(factors) < 1.15, factors


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: lb.server_loads([1, 0, 1], 0.5), "speeds must be"),
        (lambda: lb.server_loads([1, 1], 1.0), "utilisation must be"),
        (lambda: lb.server_loads([1, 1], 0.5, mu=0), "mu must be"),
        (lambda: lb.server_loads([1, 1], 0.5, weights=[1]), "weights must be"),
        (lambda: lb.server_loads([1, 1], 0.5, weights="fast"), "is not understood"),
        (lambda: lb.max_stable_utilisation([]), "speeds must be"),
        (lambda: lb.split_response_percentile([1, 1], 0.5, 100), "p must be"),
        (lambda: lb.simulate_dispatch("fastest", 0.5, 10, 1, [1, 1]), "Unknown policy"),
        (lambda: lb.simulate_dispatch("random", 0.5, 0, 1, [1, 1]), "n_requests must be"),
        (lambda: lb.simulate_dispatch("random", -0.1, 10, 1, [1, 1]), "utilisation must be"),
        (lambda: lb.compare_dispatch(["random"], 0.5, 10, 1, [1, 1], warmup=10), "warmup must be"),
        (
            lambda: lb.p99_by_run_length(["random"], 0.5, [500], 1, [1, 1]),
            "must exceed the warm-up",
        ),
    ],
)
def test_out_of_domain_inputs_say_what_to_pass(call, match):
    with pytest.raises(TPMLabError, match=match) as info:
        call()
    assert "What to do" in str(info.value)
