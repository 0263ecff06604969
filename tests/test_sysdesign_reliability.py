"""Tests for tpmlab.sysdesign.reliability: availability algebra, nines, error budgets, burn-rate
alerts (Google SRE Workbook ch. 5, table 5-8)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tpmlab.errors import TPMLabError
from tpmlab.sysdesign import reliability as rel


def test_series_and_parallel():
    assert rel.series(0.999, 0.999) == pytest.approx(0.998001)
    assert rel.parallel(0.99, 0.99) == pytest.approx(0.9999)
    # Series is below the weakest part; parallel above the strongest.
    assert rel.series(0.9, 0.99) < 0.9 and rel.parallel(0.9, 0.99) > 0.99
    # LB (99.99) -> 2 app servers in parallel (99.5 each) -> database (99.9).
    stack = rel.series(0.9999, rel.parallel(0.995, 0.995), 0.999)
    assert stack == pytest.approx(0.9999 * (1 - 0.005**2) * 0.999)
    with pytest.raises(TPMLabError, match="0.999"):
        rel.series(99.9, 99.9)


@pytest.mark.parametrize("k,n,a", [(1, 3, 0.9), (2, 3, 0.99), (3, 5, 0.95), (5, 5, 0.999)])
def test_k_of_n_matches_binomial(k, n, a):
    assert rel.k_of_n(k, [a] * n) == pytest.approx(stats.binom.sf(k - 1, n, a))


def test_k_of_n_unequal_by_enumeration():
    avail = [0.9, 0.95, 0.99, 0.8]
    for k in range(5):
        brute = 0.0
        for ups in itertools.product([0, 1], repeat=4):
            if sum(ups) >= k:
                brute += np.prod([a if u else 1 - a for a, u in zip(avail, ups, strict=True)])
        assert rel.k_of_n(k, avail) == pytest.approx(brute)
    assert rel.k_of_n(4, avail) == pytest.approx(rel.series(*avail))
    assert rel.k_of_n(1, avail) == pytest.approx(rel.parallel(*avail))


def test_nines_as_downtime():
    assert rel.downtime_seconds(0.999, "month") == pytest.approx(43.2 * 60)
    assert rel.downtime_seconds(0.9999, "year") == pytest.approx(52.56 * 60)
    assert rel.downtime_seconds(0.99, "day") == pytest.approx(14.4 * 60)
    assert rel.nines(0.999) == pytest.approx(3) and rel.nines(0.9995) == pytest.approx(3.301, 1e-3)
    t = rel.nines_table()
    assert t.loc[t.availability == 0.999, "per_year"].iloc[0] == pd.Timedelta(hours=8.76)
    assert rel.availability_from_mtbf(999, 1) == pytest.approx(0.999)


def test_error_budget_arithmetic():
    # 1M requests at 99.9% -> 1,000 allowed failures; 250 failures leave 75% of the budget.
    assert rel.error_budget_requests(0.999, 1_000_000) == pytest.approx(1_000)
    assert rel.error_budget_remaining(0.999, 1_000_000 - 250, 1_000_000) == pytest.approx(0.75)
    assert rel.error_budget_remaining(0.999, 1_000_000 - 2_000, 1_000_000) == pytest.approx(-1.0)
    assert rel.burn_rate(0.0144, 0.999) == pytest.approx(14.4)
    assert rel.sli(999, 1000) == 0.999
    with pytest.raises(TPMLabError, match="0.999"):
        rel.burn_rate(0.01, 99.9)


def test_workbook_thresholds_follow_from_budget_shares():
    # Table 5-8: 2% of a 30-day budget in 1 h, 5% in 6 h, 10% in 3 days.
    for rule in rel.SRE_WORKBOOK_RULES:
        hours = pd.Timedelta(rule.long_window) / pd.Timedelta(hours=1)
        assert rel.burn_rate_threshold(rule.budget_consumed, hours) == pytest.approx(rule.burn_rate)
        assert rel.budget_consumed(rule.burn_rate, hours) == pytest.approx(rule.budget_consumed)
    assert rel.hours_to_exhaustion(14.4) == pytest.approx(50)
    assert rel.hours_to_exhaustion(1.0) == pytest.approx(720)


def test_is_good_request():
    status = np.array([200, 404, 429, 500, 503, 201])
    lat = np.array([10, 10, 10, 10, 10, 900])
    assert rel.is_good_request(status).tolist() == [True, True, True, False, False, True]
    assert rel.is_good_request(status, lat, 300).tolist() == [
        True,
        True,
        True,
        False,
        False,
        False,
    ]


def synthetic_log(error_rate, start_minute, minutes=4 * 24 * 60, per_minute=60):
    """per_minute requests every minute; from start_minute on, error_rate of them fail."""
    ts = pd.Timestamp("2025-06-01") + pd.to_timedelta(
        np.repeat(np.arange(minutes), per_minute) * 60.0
        + np.tile(np.arange(per_minute) * 60.0 / per_minute, minutes),
        unit="s",
    )
    minute = np.repeat(np.arange(minutes), per_minute)
    idx = np.tile(np.arange(per_minute), minutes)
    bad = (minute >= start_minute) & (idx < round(error_rate * per_minute))
    return ts, bad


def test_per_minute_counts_fill_gaps():
    ts = pd.to_datetime(["2025-06-01 00:00:10", "2025-06-01 00:00:50", "2025-06-01 00:03:00"])
    c = rel.per_minute_counts(ts, [True, False, False])
    assert c["total"].tolist() == [2, 0, 0, 1] and c["bad"].tolist() == [1, 0, 0, 0]


def test_fast_burn_pages_after_the_long_window_fills():
    # 2% errors at a 99.9% SLO = burn 20. The 1 h window exceeds 14.4 once 44 of its 60 minutes
    # are bad (20 x 44/60 = 14.67); the 5 min window already exceeds it after 4 minutes.
    start = 3 * 24 * 60
    ts, bad = synthetic_log(0.02, start, per_minute=100)
    counts = rel.per_minute_counts(ts, bad)
    alerts = rel.multiwindow_alerts(counts, 0.999)
    onset = pd.Timestamp("2025-06-01") + pd.Timedelta(minutes=start)
    assert rel.first_firing(alerts, "page_1h_5min") == onset + pd.Timedelta(minutes=44)
    # The 6 h rule needs 20 x k / 360 > 6, k = 109 minutes.
    assert rel.first_firing(alerts, "page_6h_30min") == onset + pd.Timedelta(minutes=109)
    assert rel.first_firing(alerts, "page") == onset + pd.Timedelta(minutes=44)
    # Burn rate over the last hour once fully in the incident is 20.
    assert alerts["burn_1h"].iloc[-1] == pytest.approx(20)
    assert not alerts.loc[:onset, "page"].any()


def test_short_window_resets_the_alert():
    # A 2-hour incident at 3% errors, then recovery: the page stops within 5 minutes of the end,
    # although the 1 h burn rate stays above 14.4 for a while.
    minutes = 2 * 24 * 60
    ts, bad = synthetic_log(0.03, 600, minutes=minutes)
    minute = (ts - ts[0]).total_seconds() // 60
    bad = bad & (minute < 720)
    alerts = rel.multiwindow_alerts(rel.per_minute_counts(ts, bad), 0.999)
    end = pd.Timestamp("2025-06-01") + pd.Timedelta(minutes=720)
    later = alerts.loc[end + pd.Timedelta(minutes=6) :]
    assert not later["page_1h_5min"].any()
    assert (later.loc[: end + pd.Timedelta(minutes=20), "burn_1h"] > 14.4).any()


def test_slow_burn_only_tickets():
    # 1 error in 60 requests (1.67%, burn 16.7) pages; 1 in 600 (0.167%, burn 1.67) sustained
    # for 4 days never pages but opens a ticket (3-day and 6-hour windows both above 1).
    ts, bad = synthetic_log(1 / 60, 0, minutes=4 * 24 * 60)
    alerts = rel.multiwindow_alerts(rel.per_minute_counts(ts, bad), 0.999)
    assert alerts["page"].any()
    ts, bad = synthetic_log(1 / 600, 0, minutes=4 * 24 * 60, per_minute=600)
    alerts = rel.multiwindow_alerts(rel.per_minute_counts(ts, bad), 0.999)
    assert not alerts["page"].any() and alerts["ticket"].any()
