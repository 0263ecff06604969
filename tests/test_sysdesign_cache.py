"""Tests for tpmlab.sysdesign.cache: LRU simulation against a naive reference and closed forms.

Tolerances: simulated hit rates of 300k-request seeded traces are compared with Che's
approximation within 0.015 absolute (Che's error for Zipf is under a point; the sampling
standard error of a hit rate on 300k requests is under 0.001) and with the exact uniform result
C/N within 0.01.
"""

from __future__ import annotations

import numpy as np
import pytest

from tpmlab.errors import TPMLabError
from tpmlab.sysdesign import cache


def naive_lru_hits(keys, capacity):
    """An obviously correct (slow) LRU: a list ordered from least to most recently used."""
    order, hits = [], []
    for k in keys:
        if k in order:
            order.remove(k)
            order.append(k)
            hits.append(True)
        else:
            hits.append(False)
            if capacity:
                order.append(k)
                if len(order) > capacity:
                    order.pop(0)
    return np.array(hits)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("capacity", [0, 1, 3, 10])
def test_lru_matches_naive_reference(seed, capacity):
    keys = np.random.default_rng(seed).integers(0, 15, size=400).tolist()
    res = cache.simulate_lru(keys, capacity)
    np.testing.assert_array_equal(res.hit_flags, naive_lru_hits(keys, capacity))
    assert res.hit_rate == pytest.approx(res.hit_flags.mean())


def test_lru_small_hand_example():
    # capacity 2: a miss, b miss, a hit, c miss (evicts b), b miss (evicts a), a miss.
    res = cache.simulate_lru(list("abacba"), 2)
    assert res.hit_flags.tolist() == [False, False, True, False, False, False]
    warm = cache.simulate_lru(list("abacba"), 2, warmup=2)
    assert warm.requests == 4 and warm.hits == 1


def test_hit_rate_grows_with_capacity_and_never_beats_hindsight_topk():
    p = cache.zipf_popularity(2_000, 1.0)
    keys = cache.sample_keys(p, 50_000, seed=7)
    curve = cache.lru_hit_rate_curve(keys, [10, 50, 200, 1_000])
    assert curve["hit_rate"].is_monotonic_increasing
    # LRU is a "stack algorithm": it never does better with less space (checked above);
    # for independent requests a cache pinning the hottest keys does at least as well as LRU.
    for c, h in zip(curve["capacity"], curve["hit_rate"], strict=True):
        assert h <= cache.top_k_hit_rate(keys, c) + 0.01


@pytest.mark.parametrize("n_keys,capacity", [(1_000, 100), (500, 250), (2_000, 1_000)])
def test_uniform_popularity_gives_exact_c_over_n(n_keys, capacity):
    p = np.full(n_keys, 1 / n_keys)
    keys = cache.sample_keys(p, 200_000, seed=n_keys)
    sim = cache.simulate_lru(keys, capacity, warmup=20_000).hit_rate
    assert sim == pytest.approx(capacity / n_keys, abs=0.01)
    assert cache.che_hit_rate(p, capacity) == pytest.approx(capacity / n_keys, abs=1e-9)


@pytest.mark.parametrize(
    "s,n_keys,capacity,seed", [(0.8, 10_000, 500, 1), (1.0, 5_000, 100, 2), (1.2, 20_000, 2_000, 3)]
)
def test_lru_simulation_agrees_with_che_approximation(s, n_keys, capacity, seed):
    p = cache.zipf_popularity(n_keys, s)
    keys = cache.sample_keys(p, 300_000, seed=seed)
    sim = cache.simulate_lru(keys, capacity, warmup=50_000).hit_rate
    assert sim == pytest.approx(cache.che_hit_rate(p, capacity), abs=0.015)


def test_hot_keys_raise_the_hit_rate():
    # Same cache size, more skew -> higher hit rate.
    rates = [
        cache.che_hit_rate(cache.zipf_popularity(10_000, s), 100) for s in (0.0, 0.6, 0.9, 1.2)
    ]
    assert rates == sorted(rates) and rates[0] == pytest.approx(0.01)


def test_ttl_cache_trades_hits_for_staleness():
    # key a: read at 0 (miss), write at 1, read at 2 (hit, stale unless invalidated),
    # read at 20 (TTL 10 expired: miss), read at 21 (hit, fresh).
    t = [0, 1, 2, 20, 21]
    k = ["a"] * 5
    w = [False, True, False, False, False]
    lazy = cache.simulate_ttl_cache(t, k, w, ttl_s=10)
    assert (lazy.reads, lazy.hits, lazy.stale_hits) == (4, 2, 1)
    strict = cache.simulate_ttl_cache(t, k, w, ttl_s=10, invalidate_on_write=True)
    assert (strict.reads, strict.hits, strict.stale_hits) == (4, 1, 0)
    assert strict.stale_rate == 0 and lazy.stale_rate == 0.25
    with pytest.raises(TPMLabError, match="time order"):
        cache.simulate_ttl_cache([2, 1], ["a", "a"], [False, False], 10)


def test_effective_latency():
    # 90% hits at 1 ms, misses 50 ms from the database: 0.9 + 5 = 5.9 ms.
    assert cache.effective_latency(0.9, 1, 50) == pytest.approx(5.9)
    # If the miss path also pays the cache lookup: 0.9 + 0.1 x 51 = 6.0 ms.
    assert cache.effective_latency(0.9, 1, 50, miss_includes_lookup=False) == pytest.approx(6.0)
    with pytest.raises(TPMLabError, match="fraction"):
        cache.effective_latency(90, 1, 50)
