"""Tests for tpmlab.sysdesign.estimates and tpmlab.sysdesign.latency (units, table, percentiles)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tpmlab.errors import TPMLabError
from tpmlab.sysdesign import estimates as est
from tpmlab.sysdesign import latency as lat


def test_average_rps_is_per_second_not_per_day():
    # 1M DAU x 20 actions x 3 requests = 60M requests/day = 694.4/s.
    assert est.average_rps(1_000_000, 20, 3) == pytest.approx(60e6 / 86_400)
    assert est.average_rps(1_000_000, 20, 3) == pytest.approx(694.444, rel=1e-5)
    assert est.per_day_to_per_second(86_400) == 1


def test_peak_and_servers():
    assert est.peak_rps(100, 3) == 300
    with pytest.raises(TPMLabError):
        est.peak_rps(100, 0.5)
    # 300 rps at 70% of 100 rps/server -> 300/70 = 4.29 -> 5 servers, +1 spare = 6.
    assert est.servers_needed(300, 100, 0.7) == 5
    assert est.servers_needed(300, 100, 0.7, spares=1) == 6
    assert est.peak_to_average_ratio([1, 1, 4, 2]) == pytest.approx(2.0)


def test_storage_and_bandwidth_units():
    # 1M items/day x 2 KB x 365 days x 3 replicas = 2.19 TB.
    assert est.storage_bytes(1e6, 2 * est.KB, 365, 3) / est.TB == pytest.approx(2.19)
    # 1,000 rps x 50 KB = 50 MB/s = 400 Mbps (bits, not bytes).
    bps = est.bandwidth_bytes_per_second(1_000, 50 * est.KB)
    assert bps == 50 * est.MB
    assert est.bytes_per_second_to_mbps(bps) == pytest.approx(400)
    assert est.compound_growth(100, 0.1, 2) == pytest.approx(121)


def test_within_tolerance_rejects_unit_slips():
    truth = est.average_rps(2e6, 10)
    assert est.within_tolerance(truth * 1.05, truth, 0.1)
    assert not est.within_tolerance(truth * 86_400, truth, 0.1)  # forgot to divide per day
    assert not est.within_tolerance(truth / 1000, truth, 0.1)
    assert est.within_tolerance("231", 231.0) and not est.within_tolerance("many", 231.0)
    assert not est.within_tolerance(float("nan"), truth)
    assert est.order_of_magnitude(1234) == 3 and est.order_of_magnitude(0.05) == -2


def test_negative_inputs_get_a_clear_error():
    with pytest.raises(TPMLabError, match="`daily_active_users` must be a number >= 0"):
        est.average_rps(-1, 3)


# ------------------------------------------------------------------ latency table


def test_latency_table_is_the_pinned_version():
    t = lat.latency_table()
    assert len(t) == 15
    assert t["ns"].is_monotonic_increasing
    assert lat.latency("L1 cache reference") == 0.5
    assert lat.latency("Main memory reference") == 100
    assert lat.latency("Round trip within same datacenter", "us") == 500
    assert lat.latency("Read 1 MB sequentially from SSD", "ms") == 1
    assert lat.latency("HDD seek", "ms") == 10
    assert lat.latency("Send packet CA->Netherlands->CA", "ms") == 150
    # The table's own ratio notes hold: memory is 200x L1, the HDD seek is 20x a DC round trip.
    assert lat.latency("Main memory reference") / lat.latency("L1 cache reference") == 200
    assert lat.latency("HDD seek") / lat.latency("Round trip within same datacenter") == 20
    assert "system-design-primer" in lat.LATENCY_SOURCE
    with pytest.raises(TPMLabError, match="No row"):
        lat.latency("Disk seek over carrier pigeon")


def test_convert_time_and_call_composition():
    assert lat.convert_time(250, "ms", "s") == 0.25
    assert lat.convert_time(1, "s", "us") == 1e6
    assert lat.sequential_calls_ms([10, 20, 30]) == 60
    assert lat.parallel_calls_ms([10, 20, 30]) == 30


# ------------------------------------------------------------------ percentiles


def test_nearest_rank_matches_the_textbook_example():
    # Wikipedia "Percentile", nearest-rank method worked example.
    data = [15, 20, 35, 40, 50]
    assert [lat.percentile_nearest_rank(data, p) for p in (5, 30, 40, 50, 100)] == [
        15,
        20,
        20,
        35,
        50,
    ]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("p", [50, 90, 95, 99, 99.9])
def test_percentile_methods_agree_with_numpy(seed, p):
    x = np.random.default_rng(seed).lognormal(4, 1, size=997)
    assert lat.percentile(x, p) == pytest.approx(np.percentile(x, p))
    assert lat.percentile_nearest_rank(x, p) == pytest.approx(
        np.percentile(x, p, method="inverted_cdf")
    )
    # A percentile of a skewed latency sample is not its mean.
    assert lat.percentile(x, 99) > 2 * x.mean()


def test_latency_summary_and_nans():
    x = [1.0, 2.0, np.nan, 3.0, 4.0]
    s = lat.latency_summary(x)
    assert s["count"] == 4 and s["mean"] == 2.5 and s["p50"] == 2.5
    assert lat.latency_summary(x, method="nearest_rank")["p50"] == 2.0
    with pytest.raises(TPMLabError):
        lat.percentile([], 50)
    with pytest.raises(TPMLabError):
        lat.percentile([1, 2], 101)
    assert math.isclose(lat.latency_summary([5.0] * 3)["p99"], 5.0)
