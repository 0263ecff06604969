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
import math

import numpy as np
import pandas as pd
from scipy.optimize import brentq

from tpmlab import validate
from tpmlab.errors import TPMLabError

POLICIES = ("round_robin", "random", "least_connections", "power_of_two")


def _n_servers(n_servers) -> int:
    return validate.whole("n_servers", n_servers, low=1, fix="Pass e.g. n_servers=10.")


def _mu(mu) -> float:
    # below 1e-100 a mean response time (1 / mu ...) overflows to infinity
    return validate.number(
        "mu", mu, low=1e-100, fix="Pass the service rate of one server, e.g. mu=1.0."
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


def _simulate(
    policy: str, lam: float, mu: float, n_requests: int, seed: int, sp: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The simulation behind :func:`simulate_load_balancer` and :func:`simulate_dispatch` (their
    arguments already checked): seeded Poisson arrivals at rate ``lam`` and exponential work of
    mean 1/mu, dispatched by ``policy`` to first-come-first-served servers of speeds ``sp``.
    Returns each request's response time and server. The arrivals, the work and the random picks
    depend on the seed only, so every policy sees the same traffic."""
    n_servers = sp.size
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(1 / lam, n_requests)).tolist()
    work = rng.exponential(1 / mu, n_requests).tolist()
    pick_rng = np.random.default_rng([seed, 1])
    first = pick_rng.integers(n_servers, size=n_requests)
    second = pick_rng.integers(max(n_servers - 1, 1), size=n_requests)
    second = np.where(second >= first, second + 1, second) if n_servers > 1 else first
    if policy == "weighted_random":
        first = np.random.default_rng([seed, 2]).choice(n_servers, size=n_requests, p=sp / sp.sum())
    elif policy == "weighted_round_robin":
        first = np.asarray(_smooth_weighted_round_robin(sp, n_requests))
    elif policy == "round_robin":
        first = np.arange(n_requests) % n_servers
    first, second = first.tolist(), second.tolist()
    speed = sp.tolist()
    queue_aware = policy in ("least_connections", "power_of_two")

    last_departure = [0.0] * n_servers
    outstanding = [0] * n_servers
    events: list[tuple[float, int]] = []
    responses = np.empty(n_requests)
    chosen = np.empty(n_requests, dtype=int)
    servers = range(n_servers)
    for i in range(n_requests):
        t = arrivals[i]
        if queue_aware:
            while events and events[0][0] <= t:
                _, s = heapq.heappop(events)
                outstanding[s] -= 1
        if policy == "least_connections":
            s = min(servers, key=outstanding.__getitem__)
        elif policy == "power_of_two":
            a, b = first[i], second[i]
            s = a if outstanding[a] <= outstanding[b] else b
        else:
            s = first[i]
        start = last_departure[s] if last_departure[s] > t else t
        dep = start + work[i] / speed[s]
        last_departure[s] = dep
        if queue_aware:
            outstanding[s] += 1
            heapq.heappush(events, (dep, s))
        responses[i] = dep - t
        chosen[i] = s
    return responses, chosen


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
    return _simulate(policy, lam, mu, n_requests, seed, sp)[0]


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


# ---------------------------------------------------------------------------------------------
# Unequal servers: the stability condition, capacity-weighted dispatch, run-length checks.
#
# A queue has a steady state only if its arrival rate is below its service rate. A blind policy
# (round robin, random) gives every server the same share of the traffic, 1/n, whatever its speed:
# server i stays stable only while share_i x lam < mu x speed_i. Above that the slow server's
# backlog grows for as long as the run lasts, and any percentile measured on it grows with the
# run length. Capacity-weighted dispatch (share_i proportional to speed_i) keeps every server at the
# same utilisation as the whole pool.

#: Policies of :func:`simulate_dispatch`: the four of :func:`simulate_load_balancer`, and two that
#: split traffic in proportion to each server's speed (blind to queues, like their unweighted twins).
DISPATCH_POLICIES = POLICIES + ("weighted_random", "weighted_round_robin")


def _dispatch_speeds(speeds) -> np.ndarray:
    sp = np.asarray(speeds, dtype=float)
    if sp.ndim != 1 or sp.size < 1 or not np.all(np.isfinite(sp)) or np.any(sp <= 0):
        raise TPMLabError(
            f"speeds must be a list of positive numbers, one per server; got {speeds!r}.",
            "Pass e.g. speeds=[1.0] * 9 + [0.5] for nine servers and one at half speed.",
        )
    return sp


def _dispatch_utilisation(utilisation) -> float:
    if not 0 < utilisation < 1:
        raise TPMLabError(
            f"utilisation must be strictly between 0 and 1 (total arrivals / total capacity); "
            f"got {utilisation!r}.",
            "Pass e.g. utilisation=0.75. At 1 or above no policy can keep up.",
        )
    return float(utilisation)


def _dispatch_shares(sp: np.ndarray, weights) -> np.ndarray:
    if weights is None:
        return np.full(sp.size, 1 / sp.size)
    if isinstance(weights, str):
        if weights != "speed":
            raise TPMLabError(
                f"weights={weights!r} is not understood.",
                "Pass None (equal shares, as round robin and random), 'speed' (shares in "
                "proportion to each server's speed) or a list of positive numbers.",
            )
        return sp / sp.sum()
    w = np.asarray(weights, dtype=float)
    if w.shape != sp.shape or not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise TPMLabError(
            f"weights must be positive numbers, one per server ({sp.size}); got {weights!r}.",
            "Pass None, 'speed', or one positive weight per server.",
        )
    return w / w.sum()


def server_loads(speeds, utilisation: float, weights=None, mu: float = 1.0) -> pd.DataFrame:
    """Each server's arrival rate, capacity and utilisation when traffic is split by ``weights``.

    The pool's arrival rate is ``utilisation x mu x sum(speeds)``. ``weights=None`` is the equal
    split of round robin and random dispatch; ``"speed"`` splits in proportion to speed. A server
    is ``stable`` when its own utilisation (arrival rate / capacity) is below 1.
    """
    sp, rho = _dispatch_speeds(speeds), _dispatch_utilisation(utilisation)
    if not mu > 0:
        raise TPMLabError(f"mu must be positive; got {mu!r}.", "Pass mu=1.0 (rates per time unit).")
    share = _dispatch_shares(sp, weights)
    lam = rho * mu * sp.sum()
    arrival = share * lam
    capacity = mu * sp
    return pd.DataFrame(
        {
            "server": np.arange(sp.size),
            "speed": sp,
            "share": share,
            "arrival_rate": arrival,
            "capacity": capacity,
            "utilisation": arrival / capacity,
            "stable": arrival < capacity,
        }
    )


def max_stable_utilisation(speeds, weights=None) -> float:
    """Highest pool utilisation at which every server stays stable under a fixed split.

    Server i is stable while share_i x rho x sum(speeds) < speed_i, so the bound is
    min_i speed_i / (share_i x sum(speeds)): n x min(speed) / sum(speeds) for an equal split,
    1 for a split in proportion to speed.
    """
    sp = _dispatch_speeds(speeds)
    share = _dispatch_shares(sp, weights)
    return float(min(1.0, np.min(sp / (share * sp.sum()))))


def split_mean_response(speeds, utilisation: float, weights=None, mu: float = 1.0) -> float:
    """Mean response time of random (Bernoulli) splitting to exponential servers, in 1/mu units.

    Each server is then an M/M/1 queue with arrival rate share_i lam and service rate mu speed_i,
    so the mean is sum_i share_i / (mu speed_i - share_i lam). Infinite when a server is unstable.
    ``weights=None`` is plain random dispatch; ``"speed"`` is capacity-weighted random dispatch,
    whose mean is n / (mu sum(speeds) (1 - rho)).
    """
    loads = server_loads(speeds, utilisation, weights, mu)
    if not loads["stable"].all():
        return math.inf
    rate = loads["capacity"] - loads["arrival_rate"]
    return float((loads["share"] / rate).sum())


def split_response_percentile(
    speeds, utilisation: float, p: float, weights=None, mu: float = 1.0
) -> float:
    """The p-th percentile (0-100) of response time under random splitting (see
    :func:`split_mean_response`): solves sum_i share_i exp(-(mu speed_i - share_i lam) t) = 1 - p/100.
    Infinite when a server is unstable."""
    if not 0 < p < 100:
        raise TPMLabError(f"p must be strictly between 0 and 100; got {p!r}.", "Pass 99 for p99.")
    loads = server_loads(speeds, utilisation, weights, mu)
    if not loads["stable"].all():
        return math.inf
    share = loads["share"].to_numpy()
    rate = (loads["capacity"] - loads["arrival_rate"]).to_numpy()
    target = 1 - p / 100

    def tail(t: float) -> float:
        return float(np.sum(share * np.exp(-rate * t))) - target

    high = math.log(1 / target) / rate.min()  # the slowest component alone reaches the target
    return float(brentq(tail, 0.0, high * 1.000001 + 1e-12))


def _smooth_weighted_round_robin(weights: np.ndarray, n_requests: int) -> list[int]:
    """Nginx's smooth weighted round robin: the order is spread out and exact over each cycle."""
    w = weights.tolist()
    total = sum(w)
    current = [0.0] * len(w)
    servers = range(len(w))
    order = []
    for _ in range(n_requests):
        for s in servers:
            current[s] += w[s]
        s = max(servers, key=current.__getitem__)
        current[s] -= total
        order.append(s)
    return order


def simulate_dispatch(
    policy: str,
    utilisation: float,
    n_requests: int,
    seed: int,
    speeds,
    mu: float = 1.0,
) -> pd.DataFrame:
    """Each request's server and response time under ``policy`` (one of :data:`DISPATCH_POLICIES`).

    Same traffic as :func:`simulate_load_balancer` for the same seed (the four shared policies give
    identical response times), plus ``weighted_random`` (server i with probability
    speed_i / sum(speeds)) and ``weighted_round_robin`` (nginx's smooth weighted round robin with
    the speeds as weights). Returns a DataFrame with columns ``server`` and ``response``.
    """
    if policy not in DISPATCH_POLICIES:
        raise TPMLabError(
            f"Unknown policy {policy!r}.", f"Use one of {', '.join(DISPATCH_POLICIES)}."
        )
    sp, rho = _dispatch_speeds(speeds), _dispatch_utilisation(utilisation)
    if (
        isinstance(n_requests, bool)
        or not isinstance(n_requests, int | np.integer)
        or n_requests < 1
    ):
        raise TPMLabError(
            f"n_requests must be a positive whole number; got {n_requests!r}.",
            "Pass e.g. n_requests=60_000.",
        )
    if not mu > 0:
        raise TPMLabError(f"mu must be positive; got {mu!r}.", "Pass mu=1.0.")
    lam = rho * mu * sp.sum()
    responses, chosen = _simulate(policy, lam, mu, n_requests, seed, sp)
    return pd.DataFrame({"server": chosen, "response": responses})


def compare_dispatch(
    policies,
    utilisation: float,
    n_requests: int,
    seed: int,
    speeds,
    mu: float = 1.0,
    warmup: int = 1_000,
) -> pd.DataFrame:
    """Mean, p50, p95 and p99 response time of each policy on the same seeded traffic, with the
    p99 of the slowest server's own requests (``slowest_p99``)."""
    sp = _dispatch_speeds(speeds)
    if not 0 <= warmup < n_requests:
        raise TPMLabError(
            f"warmup must be between 0 and n_requests - 1 ({n_requests - 1}); got {warmup!r}.",
            "Skip a few thousand requests at most, e.g. warmup=1_000.",
        )
    slowest = int(np.argmin(sp))
    rows = []
    for policy in policies:
        d = simulate_dispatch(policy, utilisation, n_requests, seed, sp, mu).iloc[warmup:]
        r = d["response"].to_numpy()
        p50, p95, p99 = np.percentile(r, [50, 95, 99])
        on_slowest = d.loc[d["server"] == slowest, "response"].to_numpy()
        rows.append(
            {
                "policy": policy,
                "mean": r.mean(),
                "p50": p50,
                "p95": p95,
                "p99": p99,
                "slowest_p99": np.percentile(on_slowest, 99) if on_slowest.size else math.nan,
            }
        )
    return pd.DataFrame(rows)


def p99_by_run_length(
    policies, utilisation: float, lengths, seed: int, speeds, mu: float = 1.0, warmup: int = 1_000
) -> pd.DataFrame:
    """The p99 response time of each policy (rows) over the first n requests of one seeded run,
    for each n in ``lengths`` (columns; the warm-up is skipped in each).

    A stable system's p99 settles as the run grows; an unstable one's keeps growing, so a number
    read off one run length is an artefact of that length.
    """
    lengths = [int(n) for n in lengths]
    if not lengths or min(lengths) <= warmup:
        raise TPMLabError(
            f"Every run length must exceed the warm-up ({warmup}); got {lengths!r}.",
            "Pass e.g. lengths=[20_000, 60_000, 120_000].",
        )
    rows = {}
    for policy in policies:
        r = simulate_dispatch(policy, utilisation, max(lengths), seed, speeds, mu)["response"]
        r = r.to_numpy()
        rows[policy] = [float(np.percentile(r[warmup:n], 99)) for n in lengths]
    out = pd.DataFrame.from_dict(rows, orient="index", columns=lengths)
    out.index.name = "policy"
    out.columns.name = "n_requests"
    return out
