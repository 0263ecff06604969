"""Every public function of tpmlab.abtest and tpmlab.sysdesign refuses input outside its domain.

One table, one row per function and bad argument: the call must raise
``tpmlab.validate.InvalidArgument`` (a TPMLabError and a ValueError) whose message names the
argument, shows the value, states the valid range and says what to do. A test enumerates the public
functions and fails if one has no row, so a new function cannot skip the table. Every row runs
under an alarm, so a hang fails the row instead of stalling CI; the two inputs that used to hang
also run in a subprocess with a hard timeout. Property-based tests (hypothesis) throw arbitrary
numbers at the scalar functions: each either returns a finite, possible value or raises
InvalidArgument, never anything else.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import math
import pkgutil
import signal
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tpmlab.abtest
import tpmlab.sysdesign
from tpmlab.abtest import analysis, bootstrap, cuped, design, multiple, peeking, report, srm
from tpmlab.errors import TPMLabError
from tpmlab.sysdesign import (
    cache,
    cloudcost,
    datascale,
    estimates,
    kvstore,
    latency,
    loadbalance,
    orbitlog,
    queueing,
    reliability,
    stores,
)
from tpmlab.validate import InvalidArgument

RESULT = analysis.two_proportion_ztest(100, 1000, 120, 1000)
SIM = queueing.simulate_mmc(0.5, 1.0, 1, 50, seed=0)
_TS = pd.date_range("2025-06-01", periods=120, freq="1min")
COUNTS = reliability.per_minute_counts(_TS, np.zeros(120, dtype=bool))
ALERTS = reliability.multiwindow_alerts(COUNTS, 0.999)
RING = datascale.ConsistentHashRing(["a", "b"])
NAN, INF = math.nan, math.inf


@dataclass(frozen=True)
class Row:
    function: str  # qualified name, e.g. "tpmlab.abtest.design.duration_days"
    call: object  # zero-argument callable making the bad call
    argument: str  # the argument the message must name
    error: type = InvalidArgument


def row(fn, *args, _arg: str, _name: str | None = None, _error=InvalidArgument, **kwargs):
    name = _name or f"{fn.__module__}.{fn.__qualname__}"
    return Row(name, lambda: fn(*args, **kwargs), _arg, _error)


def method(obj, name: str, *args, _arg: str, **kwargs):
    cls = type(obj)
    qual = f"{cls.__module__}.{cls.__qualname__}.{name}"
    return Row(qual, lambda: getattr(obj, name)(*args, **kwargs), _arg)


D, A = design, analysis
Q, R, C = queueing, reliability, cache
E, L, LB, DS = estimates, latency, loadbalance, datascale

_USAGE = cloudcost.orbit_usage(1_000)

ROWS = [
    # ------------------------------------------------------------- loadbalance: unequal servers
    row(LB.server_loads, [1, -1], 0.5, _arg="speeds", _error=TPMLabError),
    row(LB.server_loads, [1, 1], 1.5, _arg="utilisation", _error=TPMLabError),
    row(LB.server_loads, [1, 1], 0.5, mu=0, _arg="mu", _error=TPMLabError),
    row(LB.max_stable_utilisation, [1, 1], weights="fast", _arg="weights", _error=TPMLabError),
    row(LB.split_mean_response, [1, 0.5], 0, _arg="utilisation", _error=TPMLabError),
    row(LB.split_response_percentile, [1, 1], 0.5, 150, _arg="p", _error=TPMLabError),
    row(LB.simulate_dispatch, "fastest", 0.5, 100, 0, [1, 1], _arg="policy", _error=TPMLabError),
    row(LB.simulate_dispatch, "random", 0.5, 0, 0, [1, 1], _arg="n_requests", _error=TPMLabError),
    row(
        LB.compare_dispatch,
        ["random"],
        0.5,
        100,
        0,
        [1, 1],
        warmup=500,
        _arg="warmup",
        _error=TPMLabError,
    ),
    row(
        LB.p99_by_run_length,
        ["random"],
        0.5,
        [100],
        0,
        [1, 1],
        warmup=500,
        _arg="warm-up",
        _error=TPMLabError,
    ),
    # ------------------------------------------------------------- sysdesign stores and cost
    row(cloudcost.orbit_usage, 0, _arg="mau"),
    row(cloudcost.orbit_usage, NAN, _arg="mau"),
    row(cloudcost.monthly_bill, {"app_instances": 2}, _arg="usage"),
    row(cloudcost.serverless_compute_usd, -1, 100, 0.5, _arg="requests"),
    row(cloudcost.serverless_compute_usd, 1e6, INF, 0.5, _arg="ms_per_request"),
    row(cloudcost.serverless_compute_usd, 1e6, 100, 0, _arg="memory_gb"),
    row(kvstore.start_kv, 0, _arg="startup_timeout"),
    row(stores.median_seconds, lambda: None, 0, _arg="repeat"),
    row(stores.median_seconds, lambda: None, 3, -1, _arg="warmup"),
    row(stores.session_tokens, 0, _arg="n"),
    row(stores.load_sessions_kv, None, stores.session_tokens(2), 0, _arg="ttl_seconds"),
    row(stores.dashboard_copies, None, "last tuesday", _arg="since"),
    row(stores.task_documents, None, "not a date", _arg="since"),
    # ------------------------------------------------------------- abtest.design
    row(D.treatment_rate, 12, 0.01, _arg="baseline"),
    row(D.treatment_rate, 0.2, 0.9, _arg="mde"),
    row(D.treatment_rate, 0.2, 0, _arg="mde"),
    row(D.treatment_rate, 0.2, NAN, _arg="mde"),
    row(D.cohens_h, 1.2, 0.5, _arg="p1"),
    row(D.cohens_h, 0.2, -0.1, _arg="p2"),
    row(D.sample_size_evan_miller, 0.2, 0.2, _arg="p2"),
    row(D.sample_size_evan_miller, 0.2, 0.25, alpha=5, _arg="alpha"),
    row(D.sample_size_evan_miller, 0.2, 0.25, power=80, _arg="power"),
    row(D.sample_size_pooled, 0, 0.25, _arg="p1"),
    row(D.sample_size_pooled, 0.2, 0.25, alternative="left", _arg="alternative"),
    row(D.sample_size_cohens_h, 0.2, 0.25, power=0.02, _arg="power"),  # below alpha: brentq
    row(D.sample_size_cohens_h, 0.2, 0.2, _arg="p2"),  # h = 0: division by zero
    row(D.sample_size_per_arm, 0.2, 0.05, method="bayes", _arg="method"),
    row(D.sample_size_per_arm, 20, 5, _arg="baseline"),
    row(D.sample_size_per_arm, 0.2, 0.05, alpha=0.0, _arg="alpha"),
    row(D.power_two_proportions, 0.2, 0.25, -5, _arg="n_per_arm"),  # was a math domain error
    row(D.power_two_proportions, 0.2, 0.25, 1000, alpha=5, _arg="alpha"),
    row(D.power_two_proportions, 0.2, 1.25, 1000, _arg="p2"),
    row(D.power_two_proportions, 0.2, 0.25, 1000, method="x", _arg="method"),
    row(D.mde_for_sample_size, 0.2, 1, _arg="n_per_arm"),
    row(D.mde_for_sample_size, 0.2, 3, _arg="n_per_arm"),
    row(D.mde_for_sample_size, 0.2, 5000, power=0.01, _arg="power"),
    row(D.sample_size_means, 0, 0.5, _arg="sd"),
    row(D.sample_size_means, 2, 0, _arg="mde"),
    row(D.sample_size_means, 2, 0.5, alpha=1.5, _arg="alpha"),
    row(D.duration_days, -1000, 100, _arg="n_per_arm"),  # was a negative duration
    row(D.duration_days, 1000, 0, _arg="daily_eligible_users"),
    row(D.duration_days, 1000, 100, allocation=50, _arg="allocation"),
    row(D.duration_days, 1000, 100, n_arms=1, _arg="n_arms"),
    row(D.duration_days, 1000, 100, n_arms=2.5, _arg="n_arms"),
    row(D.power_curve, 0.2, 1000, [0.01, 0.9], _arg="mdes"),
    row(D.power_curve, 0.2, 0, [0.01], _arg="n_per_arm"),
    row(D.power_curve, 2, 1000, [0.01], _arg="baseline"),
    # ------------------------------------------------------------- abtest.analysis
    row(A.relative_lift_ci, 0, 0.1, 1, 0.1, _arg="mean_control"),
    row(A.relative_lift_ci, 1, -0.1, 1, 0.1, _arg="se_control"),
    row(A.relative_lift_ci, 1, 0.1, 1, 0.1, alpha=5, _arg="alpha"),
    row(A.two_proportion_ztest, 10, 0, 5, 100, _arg="n_control"),
    row(A.two_proportion_ztest, 120, 100, 5, 100, _arg="conversions_control"),
    row(A.two_proportion_ztest, 5, 100, 5.5, 100, _arg="conversions_treatment"),
    row(A.two_proportion_ztest, 10, 100, 12, 100, alpha=5, _arg="alpha"),  # was "significant"
    row(A.two_proportion_ztest, 10, 100, 12, 100, alternative="up", _arg="alternative"),
    row(A.welch_ttest_from_stats, 1, 1, 1, 2, 1, 10, _arg="n_control"),
    row(A.welch_ttest_from_stats, 1, -1, 10, 2, 1, 10, _arg="sd_control"),
    row(A.welch_ttest_from_stats, NAN, 1, 10, 2, 1, 10, _arg="mean_control"),
    row(A.welch_ttest, [1, 2, NAN], [1, 2, 3], _arg="control"),
    row(A.welch_ttest, [1, 2, 3], [4], _arg="treatment"),
    row(A.welch_ttest, [1, 2, 3], [4, 5, 6], alpha=-1, _arg="alpha"),
    # ------------------------------------------------------------- abtest, the rest
    row(bootstrap.bootstrap_ci, [1, 2, 3], [2, 3, 4], n_resamples=0, _arg="n_resamples"),
    row(bootstrap.bootstrap_ci, [1, 2, 3], [2, 3, 4], alpha=0.5 + 0.5, _arg="alpha"),
    row(bootstrap.bootstrap_ci, [1, 2, 3], [2, 3, 4], statistic="mode", _arg="statistic"),
    row(bootstrap.bootstrap_ci, [1, 2], [2, INF], _arg="treatment"),
    row(bootstrap.bootstrap_ci, [0, 0], [2, 3], statistic="relative_lift", _arg="control"),
    row(bootstrap.bootstrap_ci, [1, 2], [2, 3], batch_size=0, _arg="batch_size"),
    row(cuped.cuped_theta, [1, 2, 3], [1, 2], _arg="x"),
    row(cuped.cuped_theta, [1, NAN, 3], [1, 2, 3], _arg="y"),
    row(cuped.cuped_adjust, [1, 2, 3], [1, 2, 4], theta=NAN, _arg="theta"),
    row(cuped.cuped_analysis, [1, 2, 3], [1, 2], [1, 2], [1, 2], _arg="x_control"),
    row(cuped.cuped_analysis, [1, 2, 3], [1, 2, 4], [1, 2], [1, 3], alpha=2, _arg="alpha"),
    row(multiple.adjust_pvalues, [0.01, 1.5], _arg="pvalues"),
    row(multiple.adjust_pvalues, [0.01, 0.2], method="sidak", _arg="method"),
    row(multiple.adjust_pvalues, [0.01, 0.2], alpha=5, _arg="alpha"),
    row(peeking.simulate_peeking, 0, _arg="n_looks"),
    row(peeking.simulate_peeking, 5, baseline=1.5, n_simulations=10, _arg="baseline"),
    row(peeking.simulate_peeking, 5, n_simulations=2.5, _arg="n_simulations"),
    row(peeking.simulate_peeking, 5, users_per_look=0, _arg="users_per_look"),
    row(peeking.simulate_peeking, 5, alpha=5, n_simulations=10, _arg="alpha"),
    row(report.verdict, {"diff": 0.1}, _arg="result"),
    row(report.verdict, RESULT, practical_threshold=-0.01, _arg="practical_threshold"),
    row(report.results_table, {}, _arg="results"),
    row(report.results_table, {"Conv": RESULT}, lower_is_better=["conv"], _arg="lower_is_better"),
    row(
        report.results_table,
        {"Conv": RESULT},
        practical_thresholds={"Conversion": 0.01},
        _arg="practical_thresholds",
    ),
    row(srm.srm_test, [500, -1], _arg="counts"),
    row(srm.srm_test, [500.5, 500], _arg="counts"),
    row(srm.srm_test, [500, 500], [0.5, 0.0], _arg="planned_shares"),
    row(srm.srm_test, [500, 500], [0.5, 0.3, 0.2], _arg="planned_shares"),
    row(srm.srm_test, [500, 500], threshold=5, _arg="threshold"),
    # ------------------------------------------------------------- sysdesign.queueing
    row(Q.littles_law_L, -1, 2, _arg="arrival_rate"),
    row(Q.littles_law_L, 1, -2, _arg="time_in_system"),
    row(Q.littles_law_W, 10, 0, _arg="arrival_rate"),
    row(Q.littles_law_W, -10, 1, _arg="number_in_system"),
    row(Q.littles_law_throughput, 10, 0, _arg="time_in_system"),
    row(Q.mm1, 1.2, 1.0, _arg="lam"),
    row(Q.mm1, 0.5, 0, _arg="mu"),
    row(Q.mm1, -0.5, 1, _arg="lam"),
    row(Q.mm1_response_tail, 0.5, 1, -1, _arg="t"),  # was above 1
    row(Q.mm1_wait_tail, 0.5, 1, -1, _arg="t"),
    row(Q.mm1_response_percentile, 0.5, 1, 0.99, _arg="p"),  # was read as the 1st percentile
    row(Q.mm1_response_percentile, 0.5, 1, 100, _arg="p"),
    row(Q.erlang_b, 2.5, 1, _arg="c"),
    row(Q.erlang_b, 3, -1, _arg="offered_load"),
    row(Q.erlang_c, 2.5, 1, _arg="c"),  # was a TypeError
    row(Q.erlang_c, 3, 3, _arg="offered_load"),
    row(Q.mmc, 0.5, 1, 0, _arg="c"),
    row(Q.mmc, 5, 1, 4, _arg="lam"),
    row(Q.mmc_wait_tail, 2, 1, 4, -0.5, _arg="t"),
    row(Q.mmc_response_tail, 2, 1, 4, -0.5, _arg="t"),
    row(Q.mmc_response_percentile, 2, 1, 4, 0.5, _arg="p"),
    row(Q.mmc_response_percentile, 2, 1, 4, 0, _arg="p"),
    row(Q.mmc_response_percentile, 5, 1, 4, 99, _arg="lam"),
    row(Q.servers_for_wait, 8, 1, -0.1, _arg="max_mean_wait"),  # was an endless loop
    row(Q.servers_for_wait, 8, 1, 0, _arg="max_mean_wait"),  # was an endless loop
    row(Q.servers_for_wait, 8, -1, 0.1, _arg="mu"),
    row(Q.servers_for_wait, 1e12, 1, 0.1, _arg="lam"),
    row(Q.mg1_mean_wait, 0.5, 0, 1, _arg="mean_service"),  # was a ZeroDivisionError
    row(Q.mg1_mean_wait, 0.5, 1, -1, _arg="service_scv"),
    row(Q.mg1_mean_wait, 1.5, 1, 1, _arg="lam"),
    row(Q.kingman_mean_wait, 0.5, 1, -1, 1, _arg="arrival_scv"),
    row(Q.kingman_mean_wait, 0.5, 1, 1, -2, _arg="service_scv"),
    row(Q.kingman_mean_wait, 0.5, -1, 1, 1, _arg="mean_service"),
    row(Q.mm1k_blocking, 0.5, 1, 0, _arg="k"),
    row(Q.mm1k_blocking, -0.5, 1, 5, _arg="lam"),
    row(Q.mm1k_blocking, 0.5, 0, 5, _arg="mu"),
    method(SIM, "summary", warmup=-1, _arg="warmup"),
    method(SIM, "summary", warmup=50, _arg="warmup"),
    row(Q.poisson_arrivals, 0, 10, np.random.default_rng(0), _arg="rate"),
    row(Q.poisson_arrivals, 1, -10, np.random.default_rng(0), _arg="n"),
    row(Q.poisson_arrivals, 1, 10, 42, _arg="rng"),
    row(Q.simulate_queue, [0, 1, 2], [1, 1], _arg="services"),
    row(Q.simulate_queue, [0, 2, 1], [1, 1, 1], _arg="arrivals"),
    row(Q.simulate_queue, [0, 1, 2], [1, -1, 1], _arg="services"),
    row(Q.simulate_queue, [0, 1, 2], [1, 1, 1], servers=0, _arg="servers"),
    row(Q.simulate_queue, [0, 1, 2], [1, 1, 1], servers=2, capacity=1, _arg="capacity"),
    row(Q.simulate_mmc, 0, 1, 1, 10, seed=0, _arg="lam"),
    row(Q.simulate_mmc, 0.5, -1, 1, 10, seed=0, _arg="mu"),
    row(Q.simulate_mmc, 0.5, 1, 0, 10, seed=0, _arg="servers"),
    row(Q.simulate_mmc, 0.5, 1, 1, -10, seed=0, _arg="n"),
    row(Q.utilisation_sweep, 1, 1, [0.5, 1.2], 100, 0, warmup=10, _arg="utilisations"),
    row(Q.utilisation_sweep, 1, 1, [0.5], 100, 0, warmup=100, _arg="warmup"),
    row(Q.utilisation_sweep, 0, 1, [0.5], 100, 0, warmup=10, _arg="mu"),
    # ------------------------------------------------------------- sysdesign.reliability
    row(R.series, 0.99, 99.9, _arg="availabilities"),
    row(R.series, _arg="availabilities"),
    row(R.parallel, 0.99, -0.1, _arg="availabilities"),
    row(R.k_of_n, 4, [0.99, 0.99, 0.99], _arg="k"),
    row(R.k_of_n, 2, [0.99, 1.5], _arg="availabilities"),
    row(R.availability_from_mtbf, 0, 1, _arg="mtbf"),
    row(R.availability_from_mtbf, 100, -1, _arg="mttr"),
    row(R.downtime_seconds, 99.9, _arg="availability"),
    row(R.downtime_seconds, 0.999, period="decade", _arg="period"),
    row(R.nines, 1.5, _arg="availability"),
    row(R.nines_table, (0.99, 99.9), _arg="levels"),
    row(R.is_good_request, ["200", "oops"], _arg="status"),
    row(R.is_good_request, [200], latency_threshold_ms=300, _arg="latency_ms"),
    row(R.is_good_request, [200], [100], latency_threshold_ms=-1, _arg="latency_threshold_ms"),
    row(R.sli, 12, 10, _arg="good"),  # was 1.2
    row(R.sli, 5, 0, _arg="total"),
    row(R.sli, -1, 10, _arg="good"),
    row(R.error_budget_requests, 99.9, 1000, _arg="slo"),
    row(R.error_budget_requests, 0.999, -1000, _arg="total_requests"),
    row(R.error_budget_remaining, 0.999, 1200, 1000, _arg="good"),
    row(R.error_budget_remaining, 1.0, 900, 1000, _arg="slo"),
    row(R.burn_rate, 2, 0.999, _arg="error_rate"),
    row(R.burn_rate, 0.01, 0, _arg="slo"),
    row(R.budget_consumed, 14.4, 1, period_hours=0, _arg="period_hours"),  # was ZeroDivision
    row(R.budget_consumed, -1, 1, _arg="burn"),
    row(R.budget_consumed, 1, -1, _arg="window_hours"),
    row(R.burn_rate_threshold, 0.02, 0, _arg="window_hours"),
    row(R.burn_rate_threshold, 2, 1, _arg="budget_fraction"),
    row(R.burn_rate_threshold, 0.02, 1, period_hours=-720, _arg="period_hours"),
    row(R.hours_to_exhaustion, -2, _arg="burn"),
    row(R.hours_to_exhaustion, 2, budget_left=-0.5, _arg="budget_left"),
    row(R.hours_to_exhaustion, 2, period_hours=0, _arg="period_hours"),
    row(R.per_minute_counts, _TS, [True, False], _arg="bad"),
    row(R.per_minute_counts, _TS, np.zeros(120), freq="soon", _arg="freq"),
    row(R.per_minute_counts, [], [], _arg="ts"),
    row(R.per_minute_counts, _TS, np.zeros(120), start="2025-06-02", end="2025-06-01", _arg="end"),
    row(R.rolling_burn_rates, COUNTS, 99.9, ["1h"], _arg="slo"),
    row(R.rolling_burn_rates, COUNTS, 0.999, ["an hour"], _arg="windows"),
    row(R.rolling_burn_rates, COUNTS[["total"]], 0.999, ["1h"], _arg="counts"),
    row(R.multiwindow_alerts, COUNTS, 0.999, rules=[], _arg="rules"),
    row(R.multiwindow_alerts, COUNTS, 2, _arg="slo"),
    row(R.multiwindow_alerts, "counts", 0.999, _arg="counts"),
    row(R.first_firing, ALERTS, "pager", _arg="column"),
    row(R.first_firing, [True], _arg="alerts"),
    # ------------------------------------------------------------- sysdesign.cache
    row(C.simulate_lru, [1, 2, 3], -1, _arg="capacity"),
    row(C.simulate_lru, [1, 2, 3], 2.5, _arg="capacity"),
    row(C.simulate_lru, [1, 2, 3], 2, warmup=3, _arg="warmup"),
    row(C.simulate_lru, [], 2, _arg="keys"),
    row(C.lru_hit_rate_curve, [1, 2, 1], [1, -2], _arg="capacities"),
    row(C.lru_hit_rate_curve, [], [1], _arg="keys"),
    row(C.top_k_hit_rate, [1, 2, 1], -1, _arg="k"),
    row(C.top_k_hit_rate, [], 1, _arg="keys"),
    row(C.zipf_popularity, 0, 1, _arg="n_keys"),
    row(C.zipf_popularity, 10, -1, _arg="s"),
    row(C.sample_keys, [0.5, -0.5, 1], 10, 0, _arg="popularity"),
    row(C.sample_keys, [0.5, 0.5], -10, 0, _arg="n_requests"),
    row(C.che_hit_rate, [0.5, -0.2, 0.7], 1, _arg="popularity"),  # was an endless loop
    row(C.che_hit_rate, [0, 0], 1, _arg="popularity"),
    row(C.che_hit_rate, [0.5, 0.5], -1, _arg="capacity"),
    row(C.simulate_ttl_cache, [0, 1], ["a", "a"], [False, False], -5, _arg="ttl_s"),
    row(C.simulate_ttl_cache, [0, NAN], ["a", "a"], [False, False], 5, _arg="times_s"),
    row(C.simulate_ttl_cache, [0, 1], ["a", "a"], ["no", "yes"], 5, _arg="is_write"),
    row(C.effective_latency, 80, 1, 100, _arg="hit_rate"),
    row(C.effective_latency, 0.8, -1, 100, _arg="hit_latency"),
    row(C.effective_latency, 0.8, 1, NAN, _arg="miss_latency"),
    # ------------------------------------------------------------- sysdesign.datascale
    row(DS.hash_shard, ["a"], 0, _arg="n_shards"),
    row(DS.keys_moved, ["a", "b"], 0, 3, _arg="n_before"),
    row(DS.keys_moved, ["a", "b"], 3, 2.5, _arg="n_after"),
    row(DS.keys_moved, [], 3, 4, _arg="keys"),
    row(
        DS.ConsistentHashRing,
        ["a"],
        vnodes=0,
        _arg="vnodes",
        _name=f"{DS.__name__}.ConsistentHashRing.__init__",
    ),
    row(DS.imbalance, [], _arg="load"),
    row(DS.imbalance, [0, 0], _arg="load"),
    row(DS.imbalance, [5, -1], _arg="load"),
    row(DS.quorum_is_strong, 3, 4, 1, _arg="r"),
    row(DS.quorum_is_strong, 3, 2, 0, _arg="w"),
    row(DS.quorum_is_strong, 0, 1, 1, _arg="n"),
    row(DS.stale_read_probability, [0.1, -0.2], 0.5, _arg="lag_seconds"),
    row(DS.stale_read_probability, [], 0.5, _arg="lag_seconds"),
    row(DS.stale_read_probability, [0.1], -0.5, _arg="read_after_write_seconds"),
    # ------------------------------------------------------------- sysdesign.estimates
    row(E.per_day_to_per_second, -5, _arg="count_per_day"),
    row(E.average_rps, -1, 3, _arg="daily_active_users"),
    row(E.average_rps, 1000, 3, NAN, _arg="requests_per_action"),
    row(E.peak_rps, 100, 0.5, _arg="peak_to_average"),
    row(E.peak_rps, -100, 2, _arg="average"),
    row(E.peak_to_average_ratio, [], _arg="counts"),
    row(E.peak_to_average_ratio, [3, -1], _arg="counts"),
    row(E.storage_bytes, 1000, 100, -30, _arg="days"),
    row(E.storage_bytes, 1000, 100, 30, replication_factor=INF, _arg="replication_factor"),
    row(E.compound_growth, 100, -1.5, 12, _arg="rate_per_period"),
    row(E.compound_growth, 100, 0.1, -12, _arg="periods"),
    row(E.compound_growth, NAN, 0.1, 12, _arg="value"),
    row(E.bandwidth_bytes_per_second, -1, 100, _arg="requests_per_second"),
    row(E.bytes_per_second_to_mbps, -1, _arg="bytes_per_second"),
    row(E.servers_needed, 1000, 0, _arg="capacity_rps_per_server"),
    row(E.servers_needed, 1000, 100, 70, _arg="target_utilisation"),
    row(E.servers_needed, 1000, 100, 0.7, -1, _arg="spares"),
    row(E.servers_needed, -1000, 100, _arg="peak_requests_per_second"),
    row(E.within_tolerance, 10, 10, -0.1, _arg="rel_tol"),
    row(E.within_tolerance, 10, NAN, _arg="expected"),
    row(E.order_of_magnitude, 0, _arg="value"),
    # ------------------------------------------------------------- sysdesign.latency
    row(L.latency, "Main memory reference", unit="minutes", _arg="unit"),
    row(L.latency, 42, _arg="operation"),
    row(L.convert_time, 5, "h", "ms", _arg="from_unit"),
    row(L.convert_time, 5, "s", "day", _arg="to_unit"),
    row(L.convert_time, INF, "s", "ms", _arg="value"),
    row(L.sequential_calls_ms, [100, -20], _arg="call_latencies_ms"),
    row(L.parallel_calls_ms, [], _arg="call_latencies_ms"),  # was a numpy ValueError
    row(L.percentile, [1, 2, 3], 0.99, _arg="p"),
    row(L.percentile, [1, 2, 3], 101, _arg="p"),
    row(L.percentile, [NAN, NAN], 50, _arg="values", _error=TPMLabError),
    row(L.percentile, [1, INF], 50, _arg="values"),
    row(L.percentile_nearest_rank, [1, 2, 3], 0.5, _arg="p"),
    row(L.percentile_nearest_rank, ["a", "b"], 50, _arg="values"),
    row(L.latency_summary, [1, 2, 3], percentiles=(50, 0.99), _arg="percentiles"),
    row(L.latency_summary, [1, 2, 3], method="nearest", _arg="method"),
    # ------------------------------------------------------------- sysdesign.loadbalance
    row(LB.simulate_load_balancer, "fastest", 5, 0.8, 100, 0, _arg="policy"),
    row(LB.simulate_load_balancer, "random", 0, 0.8, 100, 0, _arg="n_servers"),
    row(LB.simulate_load_balancer, "random", 5, 1.1, 100, 0, _arg="utilisation"),
    row(LB.simulate_load_balancer, "random", 5, 0.8, 0, 0, _arg="n_requests"),
    row(LB.simulate_load_balancer, "random", 5, 0.8, 100, 0, mu=0, _arg="mu"),
    row(LB.simulate_load_balancer, "random", 2, 0.8, 100, 0, speeds=[1, 0], _arg="speeds"),
    row(LB.simulate_load_balancer, "random", 2, 0.8, 100, 0, speeds=[1], _arg="speeds"),
    row(LB.compare_policies, 4, 0.8, 500, 0, warmup=1000, _arg="n_requests"),
    row(LB.compare_policies, 4, 0.8, 500, 0, warmup=-1, _arg="warmup"),
    row(LB.random_mean_response, 1.0, _arg="utilisation"),  # was a ZeroDivisionError
    row(LB.random_mean_response, 0.5, mu=-1, _arg="mu"),
    row(LB.round_robin_sigma, 4, 1.0, _arg="utilisation"),  # was a brentq sign error
    row(LB.round_robin_sigma, 0, 0.5, _arg="n_servers"),
    row(LB.round_robin_mean_response, 4, 1.2, _arg="utilisation"),
    row(LB.round_robin_mean_response, 4, 0.5, mu=0, _arg="mu"),
    row(LB.supermarket_mean_response, 1.0, _arg="utilisation"),
    row(LB.supermarket_mean_response, 0.5, d=0, _arg="d"),
    row(LB.supermarket_mean_response, 0.5, mu=NAN, _arg="mu"),
    # ------------------------------------------------------------- sysdesign.orbitlog
    row(orbitlog.load_api_requests, start="yesterday-ish", _arg="start"),
    row(orbitlog.load_api_requests, start="2025-06-02", end="2025-06-01", _arg="end"),
    row(orbitlog.load_api_requests, columns=["nope"], _arg="columns"),
    row(orbitlog.api_incident, "sqlite:///orbit.db", _arg="engine"),
]

#: Public functions whose every input is in their domain (any key, any shard name) or that take
#: no argument at all; each says why it has no row. The test below checks the reason is true for
#: the no-argument ones.
NO_DOMAIN = {
    "tpmlab.abtest.experiments.experiment_users": "a lookup: an id not in the experiments table "
    "is refused with the ids that are (tests/test_stats_experiments.py)",
    "tpmlab.sysdesign.kvstore.KVServer.__init__": "internal: built by start_kv, which checks",
    "tpmlab.sysdesign.stores.duckdb_copy": "table and column names go to SQL as they are",
    "tpmlab.sysdesign.stores.load_sessions_sql": "any table of tokens and user ids",
    "tpmlab.sysdesign.datascale.stable_hash": "hashes str(key): any value is a key",
    "tpmlab.sysdesign.datascale.shard_load": "counts any labels (an empty list gives an empty table)",
    "tpmlab.sysdesign.datascale.ConsistentHashRing.add": "any value names a shard",
    "tpmlab.sysdesign.datascale.ConsistentHashRing.assign": "any values are keys",
    "tpmlab.sysdesign.datascale.ConsistentHashRing.shard_of": "any value is a key",
}


def _public_functions() -> dict[str, object]:
    """Qualified name -> function, for every public function and method of the two packages."""
    found = {}
    for pkg in (tpmlab.abtest, tpmlab.sysdesign):
        for info in pkgutil.iter_modules(pkg.__path__):
            mod = importlib.import_module(f"{pkg.__name__}.{info.name}")
            for name, obj in vars(mod).items():
                if name.startswith("_") or getattr(obj, "__module__", None) != mod.__name__:
                    continue
                if inspect.isfunction(obj):
                    found[f"{mod.__name__}.{name}"] = obj
                elif inspect.isclass(obj):
                    for attr, member in vars(obj).items():
                        if not inspect.isfunction(member):
                            continue
                        if attr == "__init__" and dataclasses.is_dataclass(obj):
                            continue  # a result container, made by the functions themselves
                        if attr.startswith("_") and attr != "__init__":
                            continue
                        found[f"{mod.__name__}.{name}.{attr}"] = member
    return found


def _takes_arguments(fn) -> bool:
    params = [p for p in inspect.signature(fn).parameters if p != "self"]
    return bool(params)


def test_every_public_function_has_a_row_in_the_table():
    functions = _public_functions()
    covered = {r.function for r in ROWS}
    missing = sorted(
        name
        for name, fn in functions.items()
        if name not in covered and name not in NO_DOMAIN and _takes_arguments(fn)
    )
    assert not missing, (
        f"these public functions have no row in tests/test_domains.py: {missing}. Add a row per "
        "argument that has a domain (or, if every value is valid, an entry in NO_DOMAIN)."
    )
    unknown = sorted((covered | set(NO_DOMAIN)) - set(functions))
    assert not unknown, f"rows name functions that do not exist: {unknown}"
    assert len(functions) > 90  # the enumeration itself found the packages' functions


@pytest.fixture
def alarm():
    """Fail (instead of hanging) if the test body runs for more than 20 seconds."""

    def _timeout(signum, frame):
        raise TimeoutError("hung: no answer within 20 s")

    old = signal.signal(signal.SIGALRM, _timeout)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("r", ROWS, ids=lambda r: f"{r.function.rsplit('.', 1)[-1]}-{r.argument}")
def test_out_of_domain_argument_is_refused_with_a_helpful_message(r, alarm):
    with pytest.raises(r.error) as info:
        r.call()
    err = info.value
    message = str(err)
    assert isinstance(err, TPMLabError)
    assert f"`{r.argument}" in message or r.argument in message, message
    assert "What to do:" in message, message
    if r.error is InvalidArgument:
        assert isinstance(err, ValueError)  # `except ValueError` callers keep working
        assert err.argument.split("[")[0].split(" ")[0] == r.argument, message
        assert " must be " in message and ", got " in message, message


def test_the_inputs_that_used_to_hang_end_quickly_in_a_subprocess():
    """Run in a separate process with a hard timeout, so that even a hang in C cannot stall CI."""
    code = (
        "from tpmlab.sysdesign import cache, queueing\n"
        "for call in (lambda: queueing.servers_for_wait(8, 1, -0.1),\n"
        "             lambda: queueing.servers_for_wait(8, 1, 0.0),\n"
        "             lambda: cache.che_hit_rate([0.5, -0.2, 0.7], 1)):\n"
        "    try:\n"
        "        call()\n"
        "    except ValueError as e:\n"
        "        print(type(e).__name__)\n"
        "print(cache.che_hit_rate([0.5, 0.5, 0, 0], 3))\n"  # zero-popularity keys: was endless
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    ).stdout.split()
    assert out == ["InvalidArgument"] * 3 + ["1.0"]


# ---------------------------------------------------------------- the silent-nonsense cases


def test_degenerate_z_test_is_refused_not_answered_with_a_zero_width_interval():
    with pytest.raises(TPMLabError, match="no variation"):
        analysis.two_proportion_ztest(0, 1000, 0, 1000)
    with pytest.raises(TPMLabError, match="no variation"):
        analysis.two_proportion_ztest(1000, 1000, 0, 1000)
    ok = analysis.two_proportion_ztest(0, 1000, 5, 1000)  # one arm with variation is fine
    assert ok.ci_low < ok.diff < ok.ci_high


def test_welch_with_two_constant_arms_is_refused():
    with pytest.raises(TPMLabError, match="standard deviation of 0"):
        analysis.welch_ttest([2, 2, 2], [3, 3, 3])


def test_percentile_scale_is_0_to_100_and_a_fraction_is_refused():
    assert queueing.mm1_response_percentile(0.5, 1.0, 99) == pytest.approx(2 * math.log(100))
    for fn, args in (
        (queueing.mm1_response_percentile, (0.5, 1.0)),
        (queueing.mmc_response_percentile, (2, 1.0, 4)),
        (latency.percentile, ([1, 2, 3],)),
        (latency.percentile_nearest_rank, ([1, 2, 3],)),
    ):
        with pytest.raises(InvalidArgument, match="not 0.99"):
            fn(*args, 0.99)


# ---------------------------------------------------------------- property-based


ANY_NUMBER = st.one_of(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    st.integers(min_value=-1000, max_value=1000),
    st.sampled_from([NAN, INF, -INF, 0.0, -0.0, 1.0, 0.5, 1e-12, 99.0, 100.0]),
)

#: Scalar functions and their number of numeric arguments, for the fuzz test.
SCALAR = [
    (D.treatment_rate, 2),
    (D.cohens_h, 2),
    (D.sample_size_evan_miller, 4),
    (D.sample_size_pooled, 4),
    (D.sample_size_cohens_h, 4),
    (D.power_two_proportions, 3),
    (D.duration_days, 2),
    (Q.littles_law_L, 2),
    (Q.littles_law_W, 2),
    (Q.littles_law_throughput, 2),
    (Q.mm1_response_tail, 3),
    (Q.mm1_wait_tail, 3),
    (Q.mm1_response_percentile, 3),
    (Q.erlang_b, 2),
    (Q.erlang_c, 2),
    (Q.mmc_wait_tail, 4),
    (Q.mmc_response_tail, 4),
    (Q.mg1_mean_wait, 3),
    (Q.kingman_mean_wait, 4),
    (Q.mm1k_blocking, 3),
    (R.sli, 2),
    (R.burn_rate, 2),
    (R.budget_consumed, 3),
    (R.burn_rate_threshold, 3),
    (R.availability_from_mtbf, 2),
    (R.nines, 1),
    (C.effective_latency, 3),
    (E.compound_growth, 3),
    (E.servers_needed, 4),
    (E.order_of_magnitude, 1),
    (LB.random_mean_response, 2),
    (LB.supermarket_mean_response, 3),
    (LB.round_robin_mean_response, 3),
]

#: Results that are probabilities must stay in [0, 1].
PROBABILITIES = {
    Q.mm1_response_tail,
    Q.mm1_wait_tail,
    Q.erlang_b,
    Q.erlang_c,
    Q.mmc_wait_tail,
    Q.mmc_response_tail,
    Q.mm1k_blocking,
    R.sli,
    R.availability_from_mtbf,
    D.power_two_proportions,
}


@pytest.mark.slow
@pytest.mark.parametrize("fn,arity", SCALAR, ids=lambda x: getattr(x, "__name__", str(x)))
def test_any_number_gives_a_possible_answer_or_invalid_argument(fn, arity):
    @settings(
        max_examples=60,
        deadline=None,
        derandomize=True,  # the same examples in every run: CI does not depend on luck
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(st.tuples(*[ANY_NUMBER] * arity))
    def check(args):
        try:
            out = fn(*args)
        except InvalidArgument:
            return
        value = float(out)
        if fn is R.nines and value == INF:  # 100% availability has infinitely many nines
            return
        assert math.isfinite(value), f"{fn.__name__}{args} = {out}"
        if fn in PROBABILITIES:
            assert 0 <= value <= 1, f"{fn.__name__}{args} = {out}"
        if fn is not E.compound_growth and fn is not D.cohens_h:
            assert fn in (D.treatment_rate, E.order_of_magnitude) or value >= 0

    check()


@settings(max_examples=80, deadline=None, derandomize=True)
@given(
    p1=st.floats(0.01, 0.99),
    lift=st.floats(0.002, 0.2),
    alpha=st.floats(0.001, 0.2),
    power=st.floats(0.5, 0.99),
    method=st.sampled_from(design.METHODS),
)
def test_power_at_the_planned_sample_size_reaches_the_target(p1, lift, alpha, power, method):
    p2 = p1 + lift
    if p2 >= 0.999:
        return
    n = design.sample_size_per_arm(p1, lift, alpha=alpha, power=power, method=method)
    got = design.power_two_proportions(p1, p2, n, alpha=alpha, method=method)
    assert got >= power - 1e-9
