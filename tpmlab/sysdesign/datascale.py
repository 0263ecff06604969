"""Data at scale with numbers: sharding (hash, range, consistent hashing), replica quorums and lag.

- :func:`stable_hash` is a process-independent 32-bit hash (CRC-32): Python's built-in ``hash``
  of a string changes between runs, so it must never place data.
- :func:`hash_shard` places keys with ``hash mod n``; :func:`keys_moved` counts how many keys
  change shard when ``n`` changes (about n/(n+1) of them for mod-n hashing).
- :class:`ConsistentHashRing` places keys on a ring with virtual nodes (Karger et al., STOC 1997):
  adding one shard to n moves only about 1/(n+1) of the keys.
- :func:`shard_load` and :func:`imbalance` measure skew (hot keys make one shard busier).
- :func:`quorum_is_strong` checks the Dynamo-style overlap rule R + W > N (DeCandia et al., SOSP
  2007); availability of a quorum is :func:`tpmlab.sysdesign.reliability.k_of_n`.
"""

from __future__ import annotations

import bisect
import zlib

import numpy as np
import pandas as pd

from tpmlab import validate
from tpmlab.errors import TPMLabError


def stable_hash(key) -> int:
    """A 32-bit hash of ``str(key)`` that is the same in every Python process (CRC-32)."""
    return zlib.crc32(str(key).encode("utf-8"))


def _shards(name: str, value) -> int:
    return validate.whole(name, value, low=1, fix=f"Pass the number of shards, e.g. {name}=4.")


def hash_shard(keys, n_shards: int) -> np.ndarray:
    """Shard number (0..n-1) of each key with ``stable_hash(key) % n_shards``."""
    n_shards = _shards("n_shards", n_shards)
    return np.array([stable_hash(k) % n_shards for k in keys], dtype=int)


def keys_moved(keys, n_before: int, n_after: int) -> float:
    """Share of distinct keys whose mod-n shard changes when going from n_before to n_after."""
    uniq = list(dict.fromkeys(keys))
    n_before, n_after = _shards("n_before", n_before), _shards("n_after", n_after)
    if not uniq:
        raise validate.InvalidArgument("keys", uniq, "at least one key", "Pass the keys stored.")
    return float(np.mean(hash_shard(uniq, n_before) != hash_shard(uniq, n_after)))


class ConsistentHashRing:
    """Consistent hashing with ``vnodes`` virtual nodes per shard."""

    def __init__(self, shards, vnodes: int = 100):
        self.vnodes = validate.whole(
            "vnodes", vnodes, low=1, fix="Use the default 100 virtual nodes per shard."
        )
        self._points: list[int] = []
        self._owners: list = []
        for s in shards:
            self.add(s)

    def add(self, shard) -> None:
        """Add a shard (its virtual nodes) to the ring."""
        for v in range(self.vnodes):
            point = stable_hash(f"{shard}#{v}")
            i = bisect.bisect(self._points, point)
            self._points.insert(i, point)
            self._owners.insert(i, shard)

    def shard_of(self, key):
        """The shard owning ``key``: the first virtual node clockwise from the key's hash."""
        if not self._points:
            raise TPMLabError("The ring has no shards.", "Add a shard first.")
        i = bisect.bisect(self._points, stable_hash(key)) % len(self._points)
        return self._owners[i]

    def assign(self, keys) -> list:
        """The shard of every key."""
        return [self.shard_of(k) for k in keys]


def shard_load(shard_of_each_request) -> pd.Series:
    """Requests per shard, busiest first."""
    return pd.Series(shard_of_each_request).value_counts()


def imbalance(load) -> float:
    """Busiest shard's load / average load (1 = perfectly even)."""
    fix = "Pass the requests per shard, e.g. shard_load(...) (not all 0)."
    arr = validate.numbers("load", load, low=0, fix=fix)
    if arr.sum() == 0:
        raise validate.InvalidArgument("load", arr, "loads that are not all 0", fix)
    return float(arr.max() / arr.mean())


def quorum_is_strong(n: int, r: int, w: int) -> bool:
    """True when every read quorum overlaps every write quorum (R + W > N)."""
    n = validate.whole("n", n, low=1, fix="Pass the number of replicas, e.g. n=3.")
    r = validate.whole("r", r, low=1, high=n, fix="E.g. N=3, R=2, W=2.")
    w = validate.whole("w", w, low=1, high=n, fix="E.g. N=3, R=2, W=2.")
    return r + w > n


def stale_read_probability(lag_seconds, read_after_write_seconds: float) -> float:
    """Share of reads made ``read_after_write_seconds`` after a write that a replica with the
    given sample of replication lags would still answer with old data (lag > delay)."""
    lag = validate.numbers(
        "lag_seconds", lag_seconds, low=0, fix="Pass measured replication lags in seconds."
    )
    delay = validate.number(
        "read_after_write_seconds",
        read_after_write_seconds,
        low=0,
        fix="Pass how long after the write the read happens, in seconds, e.g. 0.5.",
    )
    return float(np.mean(lag > delay))
