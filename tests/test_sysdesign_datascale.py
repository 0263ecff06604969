"""Tests for tpmlab.sysdesign.datascale: hashing is stable, resharding costs match theory."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from tpmlab.errors import TPMLabError
from tpmlab.sysdesign import datascale as ds
from tpmlab.sysdesign.reliability import k_of_n

KEYS = [f"project:{i}" for i in range(20_000)]


def test_stable_hash_is_the_same_in_another_process():
    code = "from tpmlab.sysdesign.datascale import stable_hash; print(stable_hash('project:42'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) == ds.stable_hash("project:42")


def test_hash_sharding_spreads_keys_evenly():
    load = ds.shard_load(ds.hash_shard(KEYS, 8))
    assert len(load) == 8 and ds.imbalance(load) < 1.06


@pytest.mark.parametrize("n", [3, 4, 8])
def test_mod_n_moves_most_keys_consistent_hashing_few(n):
    # mod-n: a key stays only if h mod n == h mod (n+1), about 1/(n+1) of keys.
    assert ds.keys_moved(KEYS, n, n + 1) == pytest.approx(n / (n + 1), abs=0.02)
    ring = ds.ConsistentHashRing(range(n), vnodes=200)
    before = ring.assign(KEYS)
    ring.add(n)
    after = ring.assign(KEYS)
    moved = np.mean([a != b for a, b in zip(before, after, strict=True)])
    assert moved == pytest.approx(1 / (n + 1), abs=0.04)
    # Keys only move to the new shard.
    assert {b for a, b in zip(before, after, strict=True) if a != b} == {n}


def test_hot_key_skews_a_shard():
    requests = KEYS[:1000] + ["project:7"] * 1000
    assert ds.imbalance(ds.shard_load(ds.hash_shard(requests, 4))) > 1.9


def test_quorums():
    assert ds.quorum_is_strong(3, 2, 2) and not ds.quorum_is_strong(3, 1, 1)
    assert ds.quorum_is_strong(3, 1, 3)
    with pytest.raises(TPMLabError):
        ds.quorum_is_strong(3, 0, 2)
    # Availability of a 2-of-3 quorum with 99% replicas: 3 a^2 - 2 a^3.
    assert k_of_n(2, [0.99] * 3) == pytest.approx(3 * 0.99**2 - 2 * 0.99**3)


def test_stale_reads():
    assert ds.stale_read_probability([0.1, 0.2, 0.5, 2.0], 0.3) == 0.5
