"""Orbit's public API request log for June: traffic, latency, errors and the planted incident."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tpmlab.data.generate import params as P
from tpmlab.data.generate.core import DAY, Dataset, rng_for, ts_of
from tpmlab.data.generate.delivery import API_START_DAY


def _zipf_pick(rng, pool: np.ndarray, n: int, s: float = 1.1) -> np.ndarray:
    """Draw ``n`` items from ``pool`` with Zipf-like popularity (rank r has weight 1/r^s)."""
    perm = rng.permutation(pool)
    w = 1.0 / np.arange(1, len(perm) + 1) ** s
    cdf = np.cumsum(w)
    cdf /= cdf[-1]
    return perm[np.minimum(np.searchsorted(cdf, rng.random(n)), len(perm) - 1)]


def gen_api(seed: int, scale: float, ds: Dataset) -> None:
    rng = rng_for(seed, "api")
    minutes = np.arange(30 * 24 * 60)
    hour = (minutes % 1440) / 60.0
    day = API_START_DAY + minutes // 1440
    diurnal = 1 + P.API_DIURNAL_AMPLITUDE * np.cos(2 * np.pi * (hour - P.API_PEAK_HOUR) / 24)
    weekend = ((day + 2) % 7) >= 5
    rate = diurnal * np.where(weekend, P.API_WEEKEND, 1.0)
    rate = rate / rate.mean() * P.API_RATE_PER_MIN * scale
    counts = rng.poisson(rate)
    n = int(counts.sum())
    ts = np.repeat(day * DAY + (minutes % 1440) * 60, counts) + rng.integers(0, 60, n)
    ts = np.sort(ts, kind="stable")
    ep_w = np.array([e[2] for e in P.ENDPOINTS])
    ep = rng.choice(len(P.ENDPOINTS), n, p=ep_w / ep_w.sum())
    n_clients = P.API_CLIENTS
    client_w = 1.0 / np.arange(1, n_clients + 1) ** P.API_CLIENT_ZIPF
    client = rng.choice(n_clients, n, p=client_w / client_w.sum())
    client_ids = np.array([f"client_{i:03d}" for i in range(1, n_clients + 1)], dtype=object)

    # resources: existing objects, with a few hot keys
    cutoff = API_START_DAY * DAY
    proj = ds.tables["projects"]
    task = ds.tables["tasks"]
    pools = {
        "project": proj.loc[proj.created_at < cutoff, "project_id"].to_numpy(),
        "task": task.loc[task.created_at < cutoff, "task_id"].to_numpy(),
        "workspace": np.unique(proj.loc[proj.created_at < cutoff, "workspace_id"].to_numpy()),
        "user": np.unique(task.loc[task.created_at < cutoff, "created_by"].to_numpy()),
    }
    kind = np.array([e[6] for e in P.ENDPOINTS], dtype=object)[ep]
    key = np.empty(n, dtype=object)
    for k, pool in pools.items():
        m = kind == k
        ids = _zipf_pick(rng, pool, int(m.sum()), P.API_RESOURCE_ZIPF).astype(str).astype(object)
        key[m] = k + ":" + ids

    med = np.array([e[3] for e in P.ENDPOINTS], dtype=float)[ep]
    sig = np.array([e[4] for e in P.ENDPOINTS])[ep]
    lat = rng.lognormal(np.log(med), sig)
    spike = rng.random(n) < P.API_SPIKE_P
    lat[spike] *= rng.uniform(*P.API_SPIKE_X, int(spike.sum()))
    ok_status = np.array([e[7] for e in P.ENDPOINTS])[ep]
    method = np.array([e[0] for e in P.ENDPOINTS], dtype=object)[ep]
    writes = method != "GET"
    by_id = np.array(["{" in e[1] for e in P.ENDPOINTS])[ep]
    r = rng.random(n)
    p429 = np.where(client == 0, P.P_429_NOISY_CLIENT, P.P_429)
    p400 = np.where(writes, P.P_400_WRITE, P.P_400_READ)
    p401 = np.full(n, P.P_401)
    p404 = np.where(by_id, P.P_404_BY_ID, P.P_404_LIST)
    p5 = np.full(n, P.P_5XX)
    c1 = p429
    c2 = c1 + p400
    c3 = c2 + p401
    c4 = c3 + p404
    c5 = c4 + p5
    status = np.select(
        [r < c1, r < c2, r < c3, r < c4, r < c5], [429, 400, 401, 404, 500], default=ok_status
    )
    # the incident: 5xx and a slow tail
    w0 = ts_of(*P.INCIDENT["start"].split(" "))
    w1 = ts_of(*P.INCIDENT["end"].split(" "))
    inw = (ts >= w0) & (ts < w1)
    k = int(inw.sum())
    ri = rng.random(k)
    c502, c503, c504 = P.INCIDENT_5XX_CUTS
    inc_status = np.select([ri < c502, ri < c503, ri < c504], [502, 503, 504], status[inw])
    status[inw] = inc_status
    lat_in = lat[inw] * rng.lognormal(np.log(1.8), 0.3, k)
    slow = rng.random(k) < P.INCIDENT_SLOW_P
    lat_in[slow] += rng.exponential(P.INCIDENT_SLOW_MEAN_MS, int(slow.sum()))
    lat_in[inc_status == 504] = rng.uniform(29_000, 30_500, int((inc_status == 504).sum()))
    lat[inw] = lat_in
    base_5xx = (~inw) & (status == 500)
    alt = rng.random(n) < P.P_503_OF_BASE_5XX
    status[base_5xx & alt] = 503
    bytes_med = np.array([e[5] for e in P.ENDPOINTS], dtype=float)[ep]
    size = np.where(
        status < 300,
        np.where(bytes_med > 0, rng.lognormal(np.log(np.maximum(bytes_med, 1)), 0.7), 0),
        rng.integers(150, 420, n),
    )
    ds.tables["api_requests"] = pd.DataFrame(
        {
            "request_id": np.arange(1, n + 1),
            "ts": ts,
            "client_id": client_ids[client],
            "method": method,
            "endpoint": np.array([e[1] for e in P.ENDPOINTS], dtype=object)[ep],
            "resource_key": key,
            "status": status.astype(np.int64),
            "latency_ms": np.round(lat, 1),
            "bytes_out": np.round(size).astype(np.int64),
        }
    )
    inside = status[inw]
    ds.facts["incident"]["requests_in_window"] = k
    ds.facts["incident"]["error_rate_5xx_in_window"] = round(float((inside >= 500).mean()), 4)
    ds.facts["incident"]["error_rate_5xx_outside_window"] = round(
        float((status[~inw] >= 500).mean()), 5
    )
    ds.facts["incident"]["p99_latency_ms_in_window"] = round(float(np.percentile(lat[inw], 99)), 1)
    ds.facts["incident"]["p99_latency_ms_outside_window"] = round(
        float(np.percentile(lat[~inw], 99)), 1
    )
