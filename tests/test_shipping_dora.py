"""DORA's four key metrics (tpmlab.shipping.dora) on a hand-made table with known answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tpmlab.data import engine
from tpmlab.shipping import dora

# Five deploys over 2025-03-03 (Mon) .. 2025-03-07 (Fri): five calendar days.
DEPLOYS = pd.DataFrame(
    {
        "deploy_id": [1, 2, 3, 4, 5],
        "service": ["api", "api", "web", "web", "api"],
        "deployed_at": pd.to_datetime(
            [
                "2025-03-03 10:00",
                "2025-03-03 15:00",
                "2025-03-05 09:00",
                "2025-03-06 12:00",
                "2025-03-07 17:30",
            ]
        ),
        # lead times in hours: 2, 30, 1, 100, 4 -> sorted 1 2 4 30 100, median 4 (mean 27.4)
        "first_commit_at": pd.to_datetime(
            [
                "2025-03-03 08:00",
                "2025-03-02 09:00",
                "2025-03-05 08:00",
                "2025-03-02 08:00",
                "2025-03-07 13:30",
            ]
        ),
        "status": ["success", "rolled_back", "success", "success", "failed"],
    }
)
# Incident 1 was caused by deploy 3 (a success that still broke production): 2 h.
# Incident 2 by deploy 2 (already counted as rolled back): 6 h. Incident 3 was not caused by a
# deploy (a cloud outage): 50 h, which must not enter the recovery time.
INCIDENTS = pd.DataFrame(
    {
        "incident_id": [1, 2, 3],
        "started_at": pd.to_datetime(["2025-03-05 10:00", "2025-03-03 16:00", "2025-03-06 00:00"]),
        "resolved_at": pd.to_datetime(["2025-03-05 12:00", "2025-03-03 22:00", "2025-03-08 02:00"]),
        "cause_deploy_id": [3.0, 2.0, float("nan")],
    }
)


def test_deployment_frequency_counts_calendar_days_inclusive():
    assert dora.deployment_frequency(DEPLOYS) == pytest.approx(5 / 5)
    # one deploy only: one day
    assert dora.deployment_frequency(DEPLOYS.iloc[:1]) == 1.0
    # the first two deploys share a day
    assert dora.deployment_frequency(DEPLOYS.iloc[:2]) == 2.0


def test_lead_time_is_the_median_in_hours():
    assert dora.lead_time_hours(DEPLOYS) == pytest.approx(4.0)


def test_change_failure_rate_counts_failed_rolled_back_and_incident_causing_once():
    # deploys 2 (rolled back, also caused incident 2), 3 (caused incident 1), 5 (failed)
    assert list(dora.failed_deploys(DEPLOYS, INCIDENTS)) == [False, True, True, False, True]
    assert dora.change_failure_rate(DEPLOYS, INCIDENTS) == pytest.approx(3 / 5)


def test_recovery_time_is_the_median_of_deploy_caused_incidents():
    assert dora.recovery_time_hours(INCIDENTS) == pytest.approx((2 + 6) / 2)


def test_by_service_splits_deploys_and_their_incidents():
    table = dora.by_service(DEPLOYS, INCIDENTS)
    assert list(table.index) == ["api", "web"]
    api, web = table.loc["api"], table.loc["web"]
    assert api["deploys_per_day"] == pytest.approx(3 / 5)
    assert api["lead_time_h"] == pytest.approx(4.0)  # 2, 30, 4
    assert api["change_failure_rate"] == pytest.approx(2 / 3)
    assert api["recovery_time_h"] == pytest.approx(6.0)
    assert web["change_failure_rate"] == pytest.approx(1 / 2)
    assert web["recovery_time_h"] == pytest.approx(2.0)


def test_errors_say_what_is_missing_and_what_to_do():
    with pytest.raises(dora.DoraInputError, match="no column.*first_commit_at") as err:
        dora.lead_time_hours(DEPLOYS.drop(columns="first_commit_at"))
    assert "load(eng)" in str(err.value)
    with pytest.raises(dora.DoraInputError, match="no rows"):
        dora.deployment_frequency(DEPLOYS.iloc[:0])
    with pytest.raises(dora.DoraInputError, match="not caused|no failed"):
        dora.recovery_time_hours(INCIDENTS.iloc[2:])


def test_orbit_metrics_agree_with_sql():
    deploys, incidents = dora.load(engine())
    keys = dora.four_keys(deploys, incidents)
    sql = pd.read_sql(
        "SELECT COUNT(*) AS n, julianday(date(MAX(deployed_at))) - julianday(date(MIN(deployed_at)))"
        " + 1 AS days, SUM(status IN ('failed', 'rolled_back') OR deploy_id IN "
        "(SELECT cause_deploy_id FROM incidents WHERE cause_deploy_id IS NOT NULL)) AS bad "
        "FROM deploys",
        engine(),
    ).iloc[0]
    assert keys["deploys_per_day"] == pytest.approx(sql["n"] / sql["days"])
    assert keys["change_failure_rate"] == pytest.approx(sql["bad"] / sql["n"])
    lead = pd.read_sql(
        "SELECT (julianday(deployed_at) - julianday(first_commit_at)) * 24 AS h FROM deploys",
        engine(),
    )["h"]
    assert keys["lead_time_h"] == pytest.approx(float(np.median(lead)), rel=1e-6)
    assert not math.isnan(dora.by_service(deploys, incidents)["lead_time_h"].sum())


def test_scratch_engine_reads_back_like_orbit():
    eng = dora.scratch_engine(DEPLOYS, INCIDENTS)
    got = pd.read_sql("SELECT deployed_at FROM deploys ORDER BY deploy_id", eng)["deployed_at"]
    assert got.iloc[0] == "2025-03-03 10:00:00"
    d = pd.read_sql("SELECT * FROM deploys", eng, parse_dates=["deployed_at", "first_commit_at"])
    i = pd.read_sql("SELECT * FROM incidents", eng, parse_dates=["started_at", "resolved_at"])
    assert dora.change_failure_rate(d, i) == pytest.approx(3 / 5)
    assert dora.recovery_time_hours(i) == pytest.approx(4.0)


def test_four_keys_buckets_at_their_bounds():
    assert [dora.time_bucket(h) for h in (0.5, 23.9, 24, 167.9, 168, 729, 4379, 4380)] == [
        "One day",
        "One day",
        "One week",
        "One week",
        "One month",
        "One month",
        "Six months",
        "One year",
    ]
    assert [dora.failure_bucket(r) for r in (0.0, 0.15, 0.151, 0.459, 0.46, 0.6)] == [
        "0-15%",
        "0-15%",
        "16-45%",
        "16-45%",
        "46-60%",
        "46-60%",
    ]


def test_frequency_bucket_counts_days_per_week_with_a_deploy():
    def on(dates):
        return pd.DataFrame({"deployed_at": pd.to_datetime(dates)})

    mon = pd.Timestamp("2025-03-03")  # a Monday
    three_days = [mon + pd.Timedelta(days=7 * w + d) for w in range(4) for d in (0, 1, 2)]
    assert dora.frequency_bucket(on(three_days)) == "Daily"
    # many deploys, but on two days a week only: not daily
    two_days = [
        mon + pd.Timedelta(days=7 * w + d, hours=h)
        for w in range(4)
        for d in (0, 1)
        for h in range(5)
    ]
    assert dora.frequency_bucket(on(two_days)) == "Weekly"
    # every other week: 8 of the 15 weeks have a deploy, so most weeks do
    fortnightly = [mon + pd.Timedelta(days=14 * k) for k in range(8)]
    assert dora.frequency_bucket(on(fortnightly)) == "Weekly"
    # every third week: 6 of 16 weeks, but every month (March to June) has one
    three_weekly = [mon + pd.Timedelta(days=21 * k) for k in range(6)]
    assert dora.frequency_bucket(on(three_weekly)) == "Monthly"
    quarterly = [mon + pd.Timedelta(days=91 * k) for k in range(5)]
    assert dora.frequency_bucket(on(quarterly)) == "Yearly"
    assert dora.frequency_bucket(dora.load(engine())[0]) == "Daily"


def test_0703_mobile_lead_times_are_days_and_the_try_it_accepts_its_answer():
    """Lesson 7.3: 'The mobile apps (ios, android) have lead times of days'; its Try it's
    answer (billing's change failure rate written out by hand) passes the self-check."""
    deploys, incidents = dora.load(engine())
    lead = dora.by_service(deploys, incidents)["lead_time_h"]
    assert min(lead["ios"], lead["android"]) > 48 > max(lead[["api", "web", "billing"]])
    billing = deploys[deploys["service"] == "billing"]
    by_hand = (
        billing["status"].isin(["failed", "rolled_back"])
        | billing["deploy_id"].isin(incidents["cause_deploy_id"])
    ).mean()
    assert by_hand == pytest.approx(dora.change_failure_rate(billing, incidents), abs=1e-9)
