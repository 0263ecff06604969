"""Load balancing, simulated: round robin, random, least-connections and power of two choices.

:func:`simulate_load_balancer` sends a seeded Poisson stream of requests to ``n_servers``
first-come-first-served servers (each works on one request at a time) using one of four
dispatch policies, and returns each request's response time:

- ``round_robin``: servers in turn, blind to how busy they are;
- ``random``: a uniformly random server;
- ``least_connections``: the server with the fewest outstanding requests (ties: lowest index);
- ``power_of_two``: pick two distinct servers at random, send to the one with fewer outstanding
  requests (Mitzenmacher, "The Power of Two Choices in Randomized Load Balancing", IEEE TPDS 2001).

Closed forms to check the simulation with identical exponential servers: ``random`` makes each
server an M/M/1 queue with arrival rate lam/n; ``round_robin`` gives each server Erlang-n
interarrival times, a GI/M/1 queue whose response time is exponential with rate mu(1 - sigma)
(:func:`round_robin_mean_response`); power of d choices approaches Mitzenmacher's "supermarket
model" limit (:func:`supermarket_mean_response`) as the number of servers grows.
"""

from __future__ import annotations

import heapq

import numpy as np
import pandas as pd
from scipy.optimize import brentq

from tpmlab import validate

POLICIES = ("round_robin", "random", "least_connections", "power_of_two")


def _n_servers(n_servers) -> int:
    return validate.whole("n_servers", n_servers, low=1, fix="Pass e.g. n_servers=10.")


def _mu(mu) -> float:
    return validate.number(
        "mu", mu, low=0, low_open=True, fix="Pass the service rate of one server, e.g. mu=1.0."
    )


def _utilisation(utilisation, zero: bool = True) -> float:
    return validate.number(
        "utilisation",
        utilisation,
        low=0,
        high=1,
        low_open=not zero,
        high_open=True,
        fix="Pass total arrival rate / total capacity, below 1 (e.g. 0.8): at 1 or more the "
        "queues grow without limit.",
    )


def simulate_load_balancer(
    policy: str,
    n_servers: int,
    utilisation: float,
    n_requests: int,
    seed: int,
    mu: float = 1.0,
    speeds=None,
) -> np.ndarray:
    """Response times of ``n_requests`` dispatched by ``policy`` (in units of 1/mu).

    ``utilisation`` is total arrival rate / total service capacity. ``speeds`` (optional, one per
    server, default all 1) makes some servers faster or slower: a request of work w takes
    w / speed on that server. The same seed gives the same arrivals and work for every policy, so
    policies are compared on identical traffic.
    """
    validate.choice("policy", policy, POLICIES)
    n_servers = _n_servers(n_servers)
    utilisation = _utilisation(utilisation, zero=False)
    n_requests = validate.whole(
        "n_requests", n_requests, low=1, fix="Pass the number of requests, e.g. 20_000."
    )
    mu = _mu(mu)
    fix = "Pass one positive speed per server, e.g. [1, 1, 0.5]."
    sp = (
        np.ones(n_servers)
        if speeds is None
        else validate.numbers("speeds", speeds, low=0, low_open=True, fix=fix)
    )
    if sp.shape != (n_servers,):
        raise validate.InvalidArgument("speeds", speeds, f"one speed per server ({n_servers})", fix)
    capacity = mu * sp.sum()
    lam = utilisation * capacity
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(1 / lam, n_requests)).tolist()
    work = rng.exponential(1 / mu, n_requests).tolist()
    pick_rng = np.random.default_rng([seed, 1])
    first = pick_rng.integers(n_servers, size=n_requests)
    second = pick_rng.integers(max(n_servers - 1, 1), size=n_requests)
    second = np.where(second >= first, second + 1, second) if n_servers > 1 else first
    first, second = first.tolist(), second.tolist()
    speed = sp.tolist()

    last_departure = [0.0] * n_servers
    outstanding = [0] * n_servers
    events: list[tuple[float, int]] = []
    responses = np.empty(n_requests)
    servers = range(n_servers)
    for i in range(n_requests):
        t = arrivals[i]
        while events and events[0][0] <= t:
            _, s = heapq.heappop(events)
            outstanding[s] -= 1
        if policy == "round_robin":
            s = i % n_servers
        elif policy == "random":
            s = first[i]
        elif policy == "least_connections":
            s = min(servers, key=outstanding.__getitem__)
        else:
            a, b = first[i], second[i]
            s = a if outstanding[a] <= outstanding[b] else b
        start = last_departure[s] if last_departure[s] > t else t
        dep = start + work[i] / speed[s]
        last_departure[s] = dep
        outstanding[s] += 1
        heapq.heappush(events, (dep, s))
        responses[i] = dep - t
    return responses


def compare_policies(
    n_servers: int,
    utilisation: float,
    n_requests: int,
    seed: int,
    mu: float = 1.0,
    speeds=None,
    warmup: int = 1_000,
) -> pd.DataFrame:
    """Mean, p50, p95 and p99 response time of every policy on the same seeded traffic."""
    warmup = validate.whole(
        "warmup", warmup, low=0, fix="Skip fewer requests than you simulate, e.g. warmup=1000."
    )
    n_requests = validate.whole(
        "n_requests",
        n_requests,
        low=warmup + 1,
        fix="Simulate more requests than the warm-up skips, e.g. n_requests=20_000.",
    )
    rows = []
    for policy in POLICIES:
        r = simulate_load_balancer(policy, n_servers, utilisation, n_requests, seed, mu, speeds)[
            warmup:
        ]
        p50, p95, p99 = np.percentile(r, [50, 95, 99])
        rows.append({"policy": policy, "mean": r.mean(), "p50": p50, "p95": p95, "p99": p99})
    return pd.DataFrame(rows)


def random_mean_response(utilisation: float, mu: float = 1.0) -> float:
    """Mean response under random dispatch to identical servers: M/M/1, 1 / (mu (1 - rho))."""
    utilisation, mu = _utilisation(utilisation), _mu(mu)
    return 1 / (mu * (1 - utilisation))


def round_robin_sigma(n_servers: int, utilisation: float) -> float:
    """sigma for round robin (Erlang-n interarrivals, GI/M/1): sigma = (rho n / (rho n + 1 - sigma))^n.

    Written with mu = 1: each server sees Erlang-n gaps with phase rate n x rho.
    """
    n, rho = _n_servers(n_servers), _utilisation(utilisation)
    if rho == 0:
        return 0.0

    def f(sig: float) -> float:
        return (n * rho / (n * rho + 1 - sig)) ** n - sig

    return brentq(f, 0.0, 1 - 1e-15)


def round_robin_mean_response(n_servers: int, utilisation: float, mu: float = 1.0) -> float:
    """Mean response time under round robin to identical exponential servers: 1 / (mu (1 - sigma))."""
    mu = _mu(mu)
    return 1 / (mu * (1 - round_robin_sigma(n_servers, utilisation)))


def supermarket_mean_response(utilisation: float, d: int = 2, mu: float = 1.0) -> float:
    """Mean response with power of ``d`` choices as servers -> infinity (Mitzenmacher 2001).

    The share of servers with at least i requests is rho^((d^i - 1)/(d - 1)); summing gives the
    mean queue length per server and Little's law gives the time. d = 1 recovers M/M/1.
    """
    rho, mu = _utilisation(utilisation), _mu(mu)
    d = validate.whole("d", d, low=1, fix="Pass the number of servers sampled, e.g. d=2.")
    if rho == 0:
        return 1 / mu  # no queue: the service time alone
    total, i = 0.0, 1
    while True:
        expo = i if d == 1 else (d**i - 1) / (d - 1)
        term = rho**expo
        total += term
        if term < 1e-15 or i > 10_000:
            break
        i += 1
    return total / (rho * mu)
