"""Caching with numbers: an LRU simulator, hit-rate curves, TTL/invalidation trade-offs, effective latency.

- :func:`simulate_lru` replays a sequence of keys through a least-recently-used cache of a given
  capacity (in items) and reports which requests hit. It uses an ``OrderedDict`` and handles about
  a million requests per second.
- :func:`lru_hit_rate_curve` gives the hit rate for several capacities.
- :func:`che_hit_rate` is Che's approximation (Che, Tung & Wang, IEEE JSAC 2002) of the LRU hit
  rate when requests are independent draws from fixed key popularities (the "independent reference
  model"); simulations are checked against it. With uniform popularity the exact LRU hit rate is
  capacity / number of keys.
- :func:`simulate_ttl_cache` replays reads and writes through a cache whose entries expire after a
  TTL, with or without invalidation on write, and counts hits and stale reads.
- :func:`effective_latency` is the expected latency of a read given the hit rate.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from tpmlab import validate
from tpmlab.errors import TPMLabError


@dataclass(frozen=True)
class CacheResult:
    """The outcome of replaying requests through a cache."""

    capacity: int
    requests: int
    hits: int
    hit_flags: np.ndarray

    @property
    def hit_rate(self) -> float:
        """Hits / requests (0 when there are no requests)."""
        return self.hits / self.requests if self.requests else 0.0

    @property
    def miss_rate(self) -> float:
        """1 - hit rate."""
        return 1.0 - self.hit_rate


def _check_capacity(capacity, name: str = "capacity") -> int:
    return validate.whole(
        name, capacity, low=0, fix=f"Pass a whole number of items, e.g. {name}=1000."
    )


def _check_keys(keys) -> list:
    seq = list(keys)
    if not seq:
        raise validate.InvalidArgument(
            "keys", seq, "at least one request", "Pass the keys requested, in order."
        )
    return seq


def _check_warmup(warmup, n: int) -> int:
    return validate.whole(
        "warmup",
        warmup,
        low=0,
        high=n - 1,
        fix=f"Skip fewer requests than there are ({n}), so some are left to count.",
    )


def simulate_lru(keys, capacity: int, warmup: int = 0) -> CacheResult:
    """Replay ``keys`` through an LRU cache holding ``capacity`` items.

    Every request is a read; a miss inserts the key (evicting the least recently used key when the
    cache is full). The first ``warmup`` requests fill the cache but are not counted.
    """
    capacity = _check_capacity(capacity)
    seq = _check_keys(keys)
    warmup = _check_warmup(warmup, len(seq))
    cache: OrderedDict = OrderedDict()
    flags = np.zeros(len(seq), dtype=bool)
    if capacity > 0:
        move = cache.move_to_end
        pop = cache.popitem
        size = 0
        for i, k in enumerate(seq):
            if k in cache:
                move(k)
                flags[i] = True
            else:
                cache[k] = None
                if size < capacity:
                    size += 1
                else:
                    pop(last=False)
    counted = flags[warmup:]
    return CacheResult(capacity, int(counted.size), int(counted.sum()), counted)


def lru_hit_rate_curve(keys, capacities, warmup: int = 0):
    """A DataFrame of (capacity, hit_rate) for each capacity, by replaying ``keys`` each time."""
    import pandas as pd

    seq = _check_keys(keys)
    caps = [_check_capacity(c, "capacities") for c in capacities]
    rows = [(c, simulate_lru(seq, c, warmup).hit_rate) for c in caps]
    return pd.DataFrame(rows, columns=["capacity", "hit_rate"])


def top_k_hit_rate(keys, k: int) -> float:
    """Share of requests addressed to the ``k`` most requested keys.

    This is the hit rate of a cache that (with hindsight) pins the k hottest keys: the best any
    fixed cache of k items can do on this log, and a good yardstick for LRU.
    """
    k = _check_capacity(k, "k")
    _, counts = np.unique(np.asarray(_check_keys(keys)), return_counts=True)
    top = np.sort(counts)[::-1][:k]
    return float(top.sum() / counts.sum())


def zipf_popularity(n_keys: int, s: float) -> np.ndarray:
    """Probabilities of ``n_keys`` keys under a Zipf law with exponent ``s`` (p_i ~ 1 / i**s)."""
    n_keys = validate.whole("n_keys", n_keys, low=1, fix="Pass the number of keys, e.g. 10_000.")
    s = validate.number(
        "s", s, low=0, fix="Pass the Zipf exponent, >= 0 (0 is uniform; about 0.6-1.2 is typical)."
    )
    w = 1.0 / np.arange(1, n_keys + 1, dtype=float) ** s
    return w / w.sum()


def _popularity(popularity) -> np.ndarray:
    fix = "Pass one weight >= 0 per key (not all 0), e.g. zipf_popularity(1000, 0.9)."
    p = validate.numbers("popularity", popularity, low=0, fix=fix)
    if p.sum() <= 0:
        raise validate.InvalidArgument("popularity", p, "weights that are not all 0", fix)
    return p


def sample_keys(popularity, n_requests: int, seed: int) -> np.ndarray:
    """Draw ``n_requests`` independent key ids (0..n_keys-1) from ``popularity`` with a seed."""
    p = _popularity(popularity)
    n_requests = validate.whole(
        "n_requests", n_requests, low=0, fix="Pass the number of requests, e.g. 100_000."
    )
    rng = np.random.default_rng(seed)
    return rng.choice(p.size, size=n_requests, p=p / p.sum())


def che_hit_rate(popularity, capacity: int) -> float:
    """Che's approximation of the LRU hit rate under the independent reference model.

    Solve sum_i (1 - exp(-p_i T)) = capacity for the "characteristic time" T, then the hit rate
    is sum_i p_i (1 - exp(-p_i T)). Accurate to about a percentage point for Zipf popularities.
    """
    p = _popularity(popularity)
    p = p[p > 0] / p.sum()  # keys never requested occupy no cache space
    capacity = _check_capacity(capacity)
    if capacity == 0:
        return 0.0
    if capacity >= p.size:
        return 1.0

    def occupancy(t: float) -> float:
        return float(np.sum(-np.expm1(-p * t))) - capacity

    hi = 1.0
    while occupancy(hi) < 0:  # ends: occupancy(t) -> p.size > capacity as t grows
        hi *= 2
    t_c = brentq(occupancy, 0.0, hi, xtol=1e-12 * hi, maxiter=500)
    return float(np.sum(p * -np.expm1(-p * t_c)))


@dataclass(frozen=True)
class TTLResult:
    """Reads, hits and stale hits from :func:`simulate_ttl_cache`."""

    reads: int
    hits: int
    stale_hits: int

    @property
    def hit_rate(self) -> float:
        """Hits / reads."""
        return self.hits / self.reads if self.reads else 0.0

    @property
    def stale_rate(self) -> float:
        """Stale hits / reads: reads answered with data older than the latest write."""
        return self.stale_hits / self.reads if self.reads else 0.0


def simulate_ttl_cache(
    times_s, keys, is_write, ttl_s: float, invalidate_on_write: bool = False
) -> TTLResult:
    """Replay reads and writes (in time order) through an unbounded cache with a TTL.

    A read of a key cached less than ``ttl_s`` seconds ago is a hit; otherwise it is a miss that
    (re)caches the current value. A write changes the value: with ``invalidate_on_write`` it also
    deletes the cached copy (no stale reads, fewer hits); without it, hits until the TTL expires
    may return the old value (a stale hit).
    """
    t = validate.numbers("times_s", times_s, min_size=0, fix="Pass request times in seconds.")
    k = list(keys)
    w = np.asarray(is_write).reshape(-1)
    if not np.isin(w, [0, 1]).all():
        raise validate.InvalidArgument(
            "is_write", is_write, "True/False flags, one per request", "Pass a boolean column."
        )
    w = w.astype(bool)
    if not (len(t) == len(k) == len(w)):
        raise TPMLabError(
            "times, keys and is_write must have the same length.",
            "Pass three columns of the same request log.",
        )
    ttl_s = validate.number("ttl_s", ttl_s, low=0, fix="Pass the TTL in seconds, e.g. ttl_s=60.")
    if len(t) > 1 and np.any(np.diff(t) < 0):
        raise TPMLabError("Requests are not in time order.", "Sort the log by timestamp first.")
    cached_at: dict = {}
    version: dict = {}
    cached_version: dict = {}
    reads = hits = stale = 0
    for ti, ki, wi in zip(t.tolist(), k, w.tolist(), strict=True):
        if wi:
            version[ki] = version.get(ki, 0) + 1
            if invalidate_on_write:
                cached_at.pop(ki, None)
            continue
        reads += 1
        c = cached_at.get(ki)
        if c is not None and ti - c < ttl_s:
            hits += 1
            if cached_version[ki] != version.get(ki, 0):
                stale += 1
        else:
            cached_at[ki] = ti
            cached_version[ki] = version.get(ki, 0)
    return TTLResult(reads, hits, stale)


def effective_latency(
    hit_rate: float, hit_latency: float, miss_latency: float, miss_includes_lookup: bool = True
) -> float:
    """Expected read latency = h x hit + (1 - h) x miss.

    ``miss_latency`` is the cost of going to the backing store. If ``miss_includes_lookup`` is
    False, the cache lookup (``hit_latency``) is added to every miss, because a miss first checks
    the cache. Use the same unit for both latencies; the result is in that unit.
    """
    hit_rate = validate.fraction(
        "hit_rate", hit_rate, fix="Pass the hit rate as a fraction (0.8, not 80)."
    )
    for name, value in (("hit_latency", hit_latency), ("miss_latency", miss_latency)):
        validate.number(name, value, low=0, fix="Pass a latency >= 0, e.g. in milliseconds.")
    miss = miss_latency if miss_includes_lookup else miss_latency + hit_latency
    return hit_rate * hit_latency + (1 - hit_rate) * miss
