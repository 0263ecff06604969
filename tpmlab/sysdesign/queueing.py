"""Queues with numbers: Little's law, M/M/1, M/M/c (Erlang C), M/G/1, M/M/1/K and a G/G/c simulator.

Notation: ``lam`` is the arrival rate and ``mu`` the service rate of one server, both per unit of
time (say per second); ``c`` is the number of servers; utilisation ``rho = lam / (c * mu)``.
Waiting time ``Wq`` is time in the queue before service; response time ``W = Wq + service``.

Closed forms follow Kleinrock, *Queueing Systems* vol. 1 (1975) and Harchol-Balter,
*Performance Modeling and Design of Computer Systems* (2013): M/M/1 response time is exponential
with rate ``mu - lam``; M/M/c waits use the Erlang C formula; M/G/1 mean wait is the
Pollaczek-Khinchine formula; Kingman's formula approximates G/G/1.

:func:`simulate_queue` runs a first-come-first-served queue with ``c`` servers (and optionally a
cap on the number in the system, to show load shedding / back-pressure) on given arrival and
service times: the Lindley recursion, vectorised, for one server; an event loop over server
free times for several servers or a capped system. Tests check it against the closed forms.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import brentq

from tpmlab.errors import TPMLabError

# ---------------------------------------------------------------- Little's law


def littles_law_L(arrival_rate: float, time_in_system: float) -> float:
    """Average number in the system L = lambda x W (rate and time in matching units)."""
    return arrival_rate * time_in_system


def littles_law_W(number_in_system: float, arrival_rate: float) -> float:
    """Average time in the system W = L / lambda."""
    if arrival_rate <= 0:
        raise TPMLabError("Arrival rate must be positive.", "Pass requests per second > 0.")
    return number_in_system / arrival_rate


def littles_law_throughput(number_in_system: float, time_in_system: float) -> float:
    """Throughput lambda = L / W: e.g. max requests/s from a concurrency limit and a latency."""
    if time_in_system <= 0:
        raise TPMLabError(
            "Time in system must be positive.", "Pass the latency in seconds (e.g. 0.2 for 200 ms)."
        )
    return number_in_system / time_in_system


# ---------------------------------------------------------------- M/M/1


def _check_stable(lam: float, mu: float, c: int = 1) -> float:
    if lam < 0 or mu <= 0 or c < 1:
        raise TPMLabError(
            "Rates must be positive and there must be at least one server.",
            "Pass lam >= 0, mu > 0, c >= 1.",
        )
    rho = lam / (c * mu)
    if rho >= 1:
        raise TPMLabError(
            f"Utilisation is {rho:.3f} >= 1: the queue grows without limit and has no steady state.",
            "Lower the arrival rate or add capacity (more servers or faster service).",
        )
    return rho


@dataclass(frozen=True)
class QueueMetrics:
    """Steady-state averages of a queue (times in the unit of 1/rate)."""

    rho: float
    p_wait: float
    L: float
    Lq: float
    W: float
    Wq: float


def mm1(lam: float, mu: float) -> QueueMetrics:
    """M/M/1 averages: W = 1/(mu - lam), Wq = rho/(mu - lam), L = rho/(1 - rho)."""
    rho = _check_stable(lam, mu)
    w = 1.0 / (mu - lam)
    wq = rho / (mu - lam)
    return QueueMetrics(rho, rho, lam * w, lam * wq, w, wq)


def mm1_response_tail(lam: float, mu: float, t: float) -> float:
    """M/M/1 P(response time > t) = exp(-(mu - lam) t)."""
    _check_stable(lam, mu)
    return math.exp(-(mu - lam) * t)


def mm1_wait_tail(lam: float, mu: float, t: float) -> float:
    """M/M/1 P(wait in queue > t) = rho exp(-(mu - lam) t) for t >= 0."""
    rho = _check_stable(lam, mu)
    return rho * math.exp(-(mu - lam) * t)


def mm1_response_percentile(lam: float, mu: float, p: float) -> float:
    """M/M/1 p-th percentile (0-100) of response time: ln(1 / (1 - p/100)) / (mu - lam)."""
    _check_stable(lam, mu)
    q = p / 100
    if not 0 <= q < 1:
        raise TPMLabError(f"Percentile {p} must be in [0, 100).", "Pass e.g. 99.")
    return -math.log1p(-q) / (mu - lam)


# ---------------------------------------------------------------- M/M/c


def erlang_b(c: int, offered_load: float) -> float:
    """Erlang B blocking probability for ``c`` servers and offered load a = lam/mu (recursion)."""
    if c < 0 or offered_load < 0:
        raise TPMLabError("Servers and load must be non-negative.", "Pass c >= 0, a >= 0.")
    b = 1.0
    for k in range(1, c + 1):
        b = offered_load * b / (k + offered_load * b)
    return b


def erlang_c(c: int, offered_load: float) -> float:
    """Erlang C: probability an arrival waits in an M/M/c queue, a = lam/mu < c."""
    if offered_load >= c:
        raise TPMLabError(
            f"Offered load {offered_load:.3f} >= {c} servers: the queue is unstable.",
            "Add servers or reduce the load.",
        )
    b = erlang_b(c, offered_load)
    rho = offered_load / c
    return b / (1 - rho * (1 - b))


def mmc(lam: float, mu: float, c: int) -> QueueMetrics:
    """M/M/c averages: Wq = C(c, a) / (c mu - lam), W = Wq + 1/mu, Lq = lam Wq, L = lam W."""
    rho = _check_stable(lam, mu, c)
    pw = erlang_c(c, lam / mu)
    wq = pw / (c * mu - lam)
    w = wq + 1 / mu
    return QueueMetrics(rho, pw, lam * w, lam * wq, w, wq)


def mmc_wait_tail(lam: float, mu: float, c: int, t: float) -> float:
    """M/M/c P(wait in queue > t) = C(c, a) exp(-(c mu - lam) t) for t >= 0."""
    _check_stable(lam, mu, c)
    return erlang_c(c, lam / mu) * math.exp(-(c * mu - lam) * t)


def mmc_response_tail(lam: float, mu: float, c: int, t: float) -> float:
    """M/M/c P(response time > t): the wait (0 or exponential) plus an exponential service."""
    _check_stable(lam, mu, c)
    pw = erlang_c(c, lam / mu)
    theta = c * mu - lam
    if abs(theta - mu) < 1e-12 * mu:
        conv = math.exp(-mu * t) * (1 + mu * t)
    else:
        conv = (theta * math.exp(-mu * t) - mu * math.exp(-theta * t)) / (theta - mu)
    return (1 - pw) * math.exp(-mu * t) + pw * conv


def mmc_response_percentile(lam: float, mu: float, c: int, p: float) -> float:
    """M/M/c p-th percentile (0-100) of response time, by solving the tail formula."""
    q = p / 100
    if not 0 < q < 1:
        raise TPMLabError(f"Percentile {p} must be in (0, 100).", "Pass e.g. 99.")
    target = 1 - q
    hi = 1.0 / mu
    while mmc_response_tail(lam, mu, c, hi) > target:
        hi *= 2
    return brentq(lambda t: mmc_response_tail(lam, mu, c, t) - target, 0.0, hi, xtol=1e-12)


def servers_for_wait(lam: float, mu: float, max_mean_wait: float) -> int:
    """Smallest number of M/M/c servers whose mean queueing wait is at most ``max_mean_wait``."""
    c = max(1, math.floor(lam / mu) + 1)
    while mmc(lam, mu, c).Wq > max_mean_wait:
        c += 1
    return c


# ---------------------------------------------------------------- M/G/1, G/G/1, M/M/1/K


def mg1_mean_wait(lam: float, mean_service: float, service_scv: float) -> float:
    """Pollaczek-Khinchine: M/G/1 mean wait = rho (1 + cs^2) / (2 (1 - rho)) x E[S].

    ``service_scv`` is the squared coefficient of variation of service time (variance / mean^2):
    1 for exponential, 0 for constant.
    """
    rho = _check_stable(lam, 1 / mean_service)
    return rho * (1 + service_scv) / (2 * (1 - rho)) * mean_service


def kingman_mean_wait(
    lam: float, mean_service: float, arrival_scv: float, service_scv: float
) -> float:
    """Kingman's G/G/1 approximation: Wq ~ rho/(1-rho) x (ca^2 + cs^2)/2 x E[S] (exact for M/M/1)."""
    rho = _check_stable(lam, 1 / mean_service)
    return rho / (1 - rho) * (arrival_scv + service_scv) / 2 * mean_service


def mm1k_blocking(lam: float, mu: float, k: int) -> float:
    """M/M/1/K probability an arrival is turned away (K = most requests in the system)."""
    if k < 1 or lam < 0 or mu <= 0:
        raise TPMLabError("Need K >= 1, lam >= 0, mu > 0.", "Pass e.g. k=10.")
    rho = lam / mu
    if abs(rho - 1) < 1e-12:
        return 1 / (k + 1)
    return (1 - rho) * rho**k / (1 - rho ** (k + 1))


# ---------------------------------------------------------------- simulation


@dataclass(frozen=True)
class QueueSimulation:
    """Per-request results of :func:`simulate_queue` (times in the input's unit)."""

    arrivals: np.ndarray
    waits: np.ndarray
    responses: np.ndarray
    dropped: np.ndarray
    servers: int

    @property
    def drop_rate(self) -> float:
        """Share of arrivals turned away because the system was full."""
        return float(self.dropped.mean()) if self.dropped.size else 0.0

    def summary(self, warmup: int = 0) -> dict[str, float]:
        """Mean wait/response and p50/p95/p99 response (numpy linear) after ``warmup`` arrivals."""
        keep = ~self.dropped[warmup:]
        w = self.waits[warmup:][keep]
        r = self.responses[warmup:][keep]
        p50, p95, p99 = np.percentile(r, [50, 95, 99])
        return {
            "mean_wait": float(w.mean()),
            "mean_response": float(r.mean()),
            "p50": float(p50),
            "p95": float(p95),
            "p99": float(p99),
            "p_wait": float((w > 0).mean()),
            "drop_rate": float(self.dropped[warmup:].mean()),
        }


def poisson_arrivals(rate: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` arrival times of a Poisson process with ``rate``, starting after 0."""
    return np.cumsum(rng.exponential(1 / rate, n))


def simulate_queue(
    arrivals, services, servers: int = 1, capacity: int | None = None
) -> QueueSimulation:
    """Simulate a first-come-first-served queue with ``servers`` identical servers.

    ``arrivals`` are sorted arrival times, ``services`` the service time of each request.
    ``capacity`` caps the number in the system (queue + in service): an arrival that finds it full
    is dropped (its wait and response are NaN). Returns per-request waits and response times.
    """
    a = np.asarray(arrivals, dtype=float)
    s = np.asarray(services, dtype=float)
    if a.shape != s.shape or a.ndim != 1:
        raise TPMLabError(
            "arrivals and services must be 1-D and the same length.",
            "Pass one service time per arrival.",
        )
    if a.size > 1 and np.any(np.diff(a) < 0):
        raise TPMLabError("Arrival times are not sorted.", "Sort them (np.sort) first.")
    if servers < 1:
        raise TPMLabError("Need at least one server.", "Pass servers >= 1.")
    if capacity is not None and capacity < servers:
        raise TPMLabError(
            "Capacity must be at least the number of servers.",
            "Pass capacity >= servers, or None for an unlimited queue.",
        )
    n = a.size
    dropped = np.zeros(n, dtype=bool)
    if servers == 1 and capacity is None:
        # Lindley: W_n = max(0, W_{n-1} + S_{n-1} - (a_n - a_{n-1})), vectorised as
        # W_n = X_n - min_{k <= n} X_k with X the cumulative sum of (S_{n-1} - gap_n), X_0 = 0.
        x = np.concatenate([[0.0], np.cumsum(s[:-1] - np.diff(a))]) if n else np.zeros(0)
        waits = x - np.minimum.accumulate(x) if n else x
        return QueueSimulation(a, waits, waits + s, dropped, 1)
    waits = np.full(n, np.nan)
    free = [0.0] * servers  # heap of the times each server next becomes free
    in_system: list[float] = []  # heap of departure times of accepted requests
    a_list, s_list = a.tolist(), s.tolist()
    for i in range(n):
        t = a_list[i]
        if capacity is not None:
            while in_system and in_system[0] <= t:
                heapq.heappop(in_system)
            if len(in_system) >= capacity:
                dropped[i] = True
                continue
        start = free[0] if free[0] > t else t
        dep = start + s_list[i]
        heapq.heapreplace(free, dep)
        if capacity is not None:
            heapq.heappush(in_system, dep)
        waits[i] = start - t
    return QueueSimulation(a, waits, waits + s, dropped, servers)


def simulate_mmc(
    lam: float, mu: float, servers: int, n: int, seed: int, capacity: int | None = None
) -> QueueSimulation:
    """Seeded M/M/c (or M/M/c/K) simulation of ``n`` arrivals."""
    rng = np.random.default_rng(seed)
    arrivals = poisson_arrivals(lam, n, rng)
    services = rng.exponential(1 / mu, n)
    return simulate_queue(arrivals, services, servers, capacity)


def utilisation_sweep(
    mu: float, servers: int, utilisations, n: int, seed: int, warmup: int = 1_000
) -> pd.DataFrame:
    """Simulated vs M/M/c mean, p50, p95, p99 response time for each utilisation.

    Columns: ``rho``, ``sim_mean``, ``sim_p50``, ``sim_p95``, ``sim_p99`` and the same with
    ``mmc_`` from the closed forms. Every rho uses its own seed (``seed + index``).
    """
    rows = []
    for i, rho in enumerate(utilisations):
        lam = rho * servers * mu
        sim = simulate_mmc(lam, mu, servers, n, seed + i).summary(warmup)
        rows.append(
            {
                "rho": rho,
                "sim_mean": sim["mean_response"],
                "sim_p50": sim["p50"],
                "sim_p95": sim["p95"],
                "sim_p99": sim["p99"],
                "mmc_mean": mmc(lam, mu, servers).W,
                "mmc_p50": mmc_response_percentile(lam, mu, servers, 50),
                "mmc_p95": mmc_response_percentile(lam, mu, servers, 95),
                "mmc_p99": mmc_response_percentile(lam, mu, servers, 99),
            }
        )
    return pd.DataFrame(rows)
