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

from tpmlab import validate
from tpmlab.errors import TPMLabError

# ---------------------------------------------------------------- Little's law


def _nonneg(name: str, value, fix: str) -> float:
    return validate.number(name, value, low=0, fix=fix)


def _positive(name: str, value, fix: str) -> float:
    return validate.number(name, value, low=0, low_open=True, fix=fix)


def _time(name: str, value) -> float:
    return _nonneg(name, value, f"Pass a time >= 0 in the unit of 1/rate, e.g. {name}=0.5.")


def littles_law_L(arrival_rate: float, time_in_system: float) -> float:
    """Average number in the system L = lambda x W (rate and time in matching units)."""
    arrival_rate = _nonneg("arrival_rate", arrival_rate, "Pass requests per second, e.g. 50.")
    time_in_system = _time("time_in_system", time_in_system)
    return arrival_rate * time_in_system


def littles_law_W(number_in_system: float, arrival_rate: float) -> float:
    """Average time in the system W = L / lambda."""
    number_in_system = _nonneg(
        "number_in_system", number_in_system, "Pass the average number of requests in the system."
    )
    arrival_rate = _positive("arrival_rate", arrival_rate, "Pass requests per second > 0.")
    return number_in_system / arrival_rate


def littles_law_throughput(number_in_system: float, time_in_system: float) -> float:
    """Throughput lambda = L / W: e.g. max requests/s from a concurrency limit and a latency."""
    number_in_system = _nonneg(
        "number_in_system", number_in_system, "Pass the average number of requests in the system."
    )
    time_in_system = _positive(
        "time_in_system", time_in_system, "Pass the latency in seconds (e.g. 0.2 for 200 ms)."
    )
    return number_in_system / time_in_system


# ---------------------------------------------------------------- M/M/1


def _servers(c, name: str = "c") -> int:
    return validate.whole(name, c, low=1, fix=f"Pass the number of servers, e.g. {name}=4.")


def _check_stable(lam: float, mu: float, c: int = 1) -> float:
    lam = _nonneg("lam", lam, "Pass the arrival rate, e.g. lam=0.8 requests per second.")
    mu = _positive("mu", mu, "Pass the service rate of one server, e.g. mu=1.0 per second.")
    c = _servers(c)
    rho = lam / (c * mu)
    if rho >= 1:
        raise validate.InvalidArgument(
            "lam",
            lam,
            f"below the capacity c x mu = {c * mu:g} (utilisation {rho:.3f} >= 1: the queue grows "
            "without limit and has no steady state)",
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
    """M/M/1 P(response time > t) = exp(-(mu - lam) t), for t >= 0."""
    _check_stable(lam, mu)
    t = _time("t", t)
    return math.exp(-(mu - lam) * t)


def mm1_wait_tail(lam: float, mu: float, t: float) -> float:
    """M/M/1 P(wait in queue > t) = rho exp(-(mu - lam) t) for t >= 0."""
    rho = _check_stable(lam, mu)
    t = _time("t", t)
    return rho * math.exp(-(mu - lam) * t)


def mm1_response_percentile(lam: float, mu: float, p: float) -> float:
    """M/M/1 p-th percentile of response time, ``p`` on the 0-100 scale (99 for p99).

    ln(1 / (1 - p/100)) / (mu - lam). ``p`` strictly between 0 and 1 is refused as ambiguous
    (write 99, not 0.99; see :mod:`tpmlab.validate`).
    """
    _check_stable(lam, mu)
    q = validate.percentile_rank("p", p, high_open=True) / 100
    return -math.log1p(-q) / (mu - lam)


# ---------------------------------------------------------------- M/M/c

#: Most servers the Erlang formulas accept (their recursion takes one step per server).
MAX_SERVERS = 1_000_000


def _load(offered_load) -> float:
    return _nonneg(
        "offered_load", offered_load, "Pass the offered load a = lam / mu in Erlangs, e.g. 3.2."
    )


def erlang_b(c: int, offered_load: float) -> float:
    """Erlang B blocking probability for ``c`` servers and offered load a = lam/mu (recursion)."""
    c = validate.whole("c", c, low=0, high=MAX_SERVERS, fix="Pass the number of servers, e.g. c=4.")
    offered_load = _load(offered_load)
    b = 1.0
    for k in range(1, c + 1):
        b = offered_load * b / (k + offered_load * b)
    return b


def erlang_c(c: int, offered_load: float) -> float:
    """Erlang C: probability an arrival waits in an M/M/c queue, a = lam/mu < c."""
    c = _servers(c)
    offered_load = _load(offered_load)
    if offered_load >= c:
        raise validate.InvalidArgument(
            "offered_load",
            offered_load,
            f"below the number of servers c = {c} (otherwise the queue is unstable)",
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
    t = _time("t", t)
    return erlang_c(c, lam / mu) * math.exp(-(c * mu - lam) * t)


def mmc_response_tail(lam: float, mu: float, c: int, t: float) -> float:
    """M/M/c P(response time > t), t >= 0: the wait (0 or exponential) plus an exponential service."""
    _check_stable(lam, mu, c)
    t = _time("t", t)
    pw = erlang_c(c, lam / mu)
    theta = c * mu - lam
    if abs(theta - mu) < 1e-12 * mu:
        conv = math.exp(-mu * t) * (1 + mu * t)
    else:
        conv = (theta * math.exp(-mu * t) - mu * math.exp(-theta * t)) / (theta - mu)
    return (1 - pw) * math.exp(-mu * t) + pw * conv


def mmc_response_percentile(lam: float, mu: float, c: int, p: float) -> float:
    """M/M/c p-th percentile of response time, ``p`` on the 0-100 scale, by solving the tail.

    ``p`` strictly between 0 and 1 is refused as ambiguous (write 99, not 0.99).
    """
    _check_stable(lam, mu, c)
    q = validate.percentile_rank("p", p, high_open=True, zero=False) / 100
    target = 1 - q
    hi = 1.0 / mu
    while mmc_response_tail(lam, mu, c, hi) > target:  # the tail halves at least every 1/mu
        hi *= 2
    return brentq(lambda t: mmc_response_tail(lam, mu, c, t) - target, 0.0, hi, xtol=1e-12)


def servers_for_wait(lam: float, mu: float, max_mean_wait: float) -> int:
    """Smallest number of M/M/c servers whose mean queueing wait is at most ``max_mean_wait``.

    ``max_mean_wait`` must be positive: with any traffic some requests wait, so a mean wait of 0
    needs infinitely many servers.
    """
    lam = _nonneg("lam", lam, "Pass the arrival rate, e.g. lam=8 requests per second.")
    mu = _positive("mu", mu, "Pass the service rate of one server, e.g. mu=1.0 per second.")
    max_mean_wait = _positive(
        "max_mean_wait",
        max_mean_wait,
        "Pass the longest acceptable mean wait, > 0, in the unit of 1/rate (e.g. 0.05 s).",
    )
    a = lam / mu
    if a >= MAX_SERVERS:
        raise validate.InvalidArgument(
            "lam",
            lam,
            f"below {MAX_SERVERS:,} x mu (an offered load of {MAX_SERVERS:,} Erlangs)",
            "Work in larger units (e.g. requests per ms instead of per s), or size the fleet by "
            "utilisation alone at this scale.",
        )
    if a == 0:
        return 1
    c = math.floor(a) + 1
    b = erlang_b(c, a)
    while True:
        # Erlang C from Erlang B, then the mean wait; B(c+1) = a B(c) / (c + 1 + a B(c)).
        # Wq falls faster than geometrically once c > a, so this ends in a few hundred steps
        # even for a limit of 1e-300 time units.
        rho = a / c
        wq = b / (1 - rho * (1 - b)) / (c * mu - lam)
        if wq <= max_mean_wait:
            return c
        c += 1
        b = a * b / (c + a * b)


# ---------------------------------------------------------------- M/G/1, G/G/1, M/M/1/K


def _service(mean_service) -> float:
    return _positive(
        "mean_service", mean_service, "Pass the mean service time, > 0, e.g. 0.02 seconds."
    )


def _scv(name: str, value) -> float:
    return _nonneg(
        name,
        value,
        "The squared coefficient of variation (variance / mean^2) is >= 0: 1 for exponential, "
        "0 for constant times.",
    )


def mg1_mean_wait(lam: float, mean_service: float, service_scv: float) -> float:
    """Pollaczek-Khinchine: M/G/1 mean wait = rho (1 + cs^2) / (2 (1 - rho)) x E[S].

    ``service_scv`` is the squared coefficient of variation of service time (variance / mean^2):
    1 for exponential, 0 for constant.
    """
    mean_service = _service(mean_service)
    service_scv = _scv("service_scv", service_scv)
    rho = _check_stable(lam, 1 / mean_service)
    return rho * (1 + service_scv) / (2 * (1 - rho)) * mean_service


def kingman_mean_wait(
    lam: float, mean_service: float, arrival_scv: float, service_scv: float
) -> float:
    """Kingman's G/G/1 approximation: Wq ~ rho/(1-rho) x (ca^2 + cs^2)/2 x E[S] (exact for M/M/1)."""
    mean_service = _service(mean_service)
    arrival_scv = _scv("arrival_scv", arrival_scv)
    service_scv = _scv("service_scv", service_scv)
    rho = _check_stable(lam, 1 / mean_service)
    return rho / (1 - rho) * (arrival_scv + service_scv) / 2 * mean_service


def mm1k_blocking(lam: float, mu: float, k: int) -> float:
    """M/M/1/K probability an arrival is turned away (K = most requests in the system)."""
    lam = _nonneg("lam", lam, "Pass the arrival rate, e.g. lam=0.9.")
    mu = _positive("mu", mu, "Pass the service rate, e.g. mu=1.0.")
    k = validate.whole("k", k, low=1, fix="Pass the most requests the system holds, e.g. k=10.")
    rho = lam / mu
    if abs(rho - 1) < 1e-12:
        return 1 / (k + 1)
    if rho > 1:  # same formula divided by rho^(k+1), so that rho^k cannot overflow
        r = 1 / rho
        return (1 - r) / (1 - r ** (k + 1))
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
        served = np.flatnonzero(~self.dropped)
        last = int(served[-1]) if served.size else -1
        warmup = validate.whole(
            "warmup",
            warmup,
            low=0,
            high=max(last, 0),
            fix="Skip fewer arrivals: at least one served request must be left after the warm-up.",
        )
        if last < 0:
            raise TPMLabError(
                "Every request was dropped, so there is no response time to summarise.",
                "Raise the capacity or lower the arrival rate.",
            )
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
    rate = _positive("rate", rate, "Pass the arrival rate, > 0, e.g. rate=0.8 per second.")
    n = validate.whole("n", n, low=0, fix="Pass the number of arrivals, e.g. n=10_000.")
    if not isinstance(rng, np.random.Generator):
        raise validate.InvalidArgument(
            "rng", rng, "a numpy random Generator", "Pass rng=np.random.default_rng(seed)."
        )
    return np.cumsum(rng.exponential(1 / rate, n))


def simulate_queue(
    arrivals, services, servers: int = 1, capacity: int | None = None
) -> QueueSimulation:
    """Simulate a first-come-first-served queue with ``servers`` identical servers.

    ``arrivals`` are sorted arrival times, ``services`` the service time of each request.
    ``capacity`` caps the number in the system (queue + in service): an arrival that finds it full
    is dropped (its wait and response are NaN). Returns per-request waits and response times.
    """
    a = validate.numbers("arrivals", arrivals, min_size=0, fix="Pass sorted arrival times.")
    s = validate.numbers(
        "services", services, low=0, min_size=0, fix="Pass one service time (>= 0) per arrival."
    )
    if a.shape != s.shape:
        raise validate.InvalidArgument(
            "services", s, f"one service time per arrival ({a.size})", "Pass equally long lists."
        )
    if a.size > 1 and np.any(np.diff(a) < 0):
        i = int(np.flatnonzero(np.diff(a) < 0)[0]) + 1
        raise validate.InvalidArgument(
            f"arrivals[{i}]",
            a[i],
            f"at least the previous arrival time {a[i - 1]:g} (sorted times)",
            "Sort the arrival times (np.sort) first.",
        )
    servers = _servers(servers, "servers")
    if capacity is not None:
        capacity = validate.whole(
            "capacity",
            capacity,
            low=servers,
            fix="Pass capacity >= servers, or None for an unlimited queue.",
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
    lam = _positive("lam", lam, "Pass the arrival rate, > 0, e.g. lam=0.8.")
    mu = _positive("mu", mu, "Pass the service rate of one server, > 0, e.g. mu=1.0.")
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
    mu = _positive("mu", mu, "Pass the service rate of one server, > 0, e.g. mu=1.0.")
    servers = _servers(servers, "servers")
    utilisations = validate.numbers(
        "utilisations",
        utilisations,
        low=0,
        high=1,
        low_open=True,
        high_open=True,
        fix="Pass utilisations strictly between 0 and 1, e.g. [0.5, 0.7, 0.9].",
    )
    n = validate.whole("n", n, low=2, fix="Pass the number of simulated arrivals, e.g. 20_000.")
    warmup = validate.whole(
        "warmup", warmup, low=0, high=n - 1, fix="Skip fewer arrivals than you simulate."
    )
    rows = []
    for i, rho in enumerate(utilisations.tolist()):
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
