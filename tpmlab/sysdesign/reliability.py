"""Reliability with numbers: availability of combined components, the nines, SLIs, SLOs, error budgets,
burn rates and multi-window multi-burn-rate alerts.

Availability of independent components: in series (all needed) multiply availabilities; in
parallel (any one is enough) multiply unavailabilities; k-of-n counts the ways at least k are up.

SLO arithmetic follows the Google SRE Workbook (Beyer et al., O'Reilly 2018), chapter 2
"Implementing SLOs" and chapter 5 "Alerting on SLOs":

- SLI = good events / valid events; an SLO is a target for the SLI over a period (e.g. 99.9% of
  API requests succeed over 30 days);
- the error budget is 1 - SLO: the share of requests allowed to fail in the period;
- burn rate = observed error rate / (1 - SLO): 1 spends exactly the budget over the period;
- a burn rate b sustained over a window w consumes b x w / period of the budget;
- multi-window, multi-burn-rate alerting (workbook table 5-8, for a 30-day SLO): page when the
  burn rate exceeds 14.4 over both the last 1 h and the last 5 min (2% of budget in an hour) or
  exceeds 6 over both 6 h and 30 min (5% in 6 h); open a ticket when it exceeds 1 over both 3 days
  and 6 h (10% in 3 days). The short window makes the alert stop soon after the problem stops.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tpmlab import validate

SECONDS = {
    "minute": 60,
    "hour": 3_600,
    "day": 86_400,
    "week": 7 * 86_400,
    "month": 30 * 86_400,
    "year": 365 * 86_400,
}


def _check_prob(values, name: str = "availabilities") -> np.ndarray:
    return validate.numbers(name, values, low=0, high=1, fix="Write 99.9% as 0.999, not 99.9.")


def _availability(value, name: str = "availability") -> float:
    return validate.fraction(name, value, fix="Write 99.9% as 0.999, not 99.9.")


def _hours(name: str, value, *, positive: bool = True) -> float:
    return validate.number(
        name, value, low=0, low_open=positive, fix=f"Pass a duration in hours, e.g. {name}=1."
    )


# ---------------------------------------------------------------- availability


def series(*availabilities: float) -> float:
    """Availability when every component is needed: the product (always below the weakest)."""
    return float(np.prod(_check_prob(availabilities)))


def parallel(*availabilities: float) -> float:
    """Availability when any one component is enough: 1 - product of unavailabilities."""
    return float(1 - np.prod(1 - _check_prob(availabilities)))


def k_of_n(k: int, availabilities) -> float:
    """Probability that at least ``k`` of the independent components are up (exact)."""
    arr = _check_prob(availabilities)
    k = validate.whole(
        "k",
        k,
        low=0,
        high=arr.size,
        fix="k counts components, at most len(availabilities): e.g. k_of_n(2, [0.99, 0.99, 0.99]).",
    )
    dist = np.zeros(arr.size + 1)  # dist[j] = P(exactly j up)
    dist[0] = 1.0
    for a in arr:
        dist[1:] = dist[1:] * (1 - a) + dist[:-1] * a
        dist[0] *= 1 - a
    return float(dist[k:].sum())


def availability_from_mtbf(mtbf: float, mttr: float) -> float:
    """Steady-state availability = MTBF / (MTBF + MTTR) (same time unit for both)."""
    mtbf = validate.number("mtbf", mtbf, low=0, low_open=True, fix="Pass it in hours, e.g. 720.")
    mttr = validate.number("mttr", mttr, low=0, fix="Pass it in the same unit as mtbf, e.g. 2.")
    return mtbf / (mtbf + mttr)


def downtime_seconds(availability: float, period: str = "year") -> float:
    """Allowed downtime in seconds per ``period`` (minute/hour/day/week/month=30d/year=365d)."""
    availability = _availability(availability)
    validate.choice("period", period, SECONDS)
    return (1 - availability) * SECONDS[period]


def nines(availability: float) -> float:
    """Number of nines: -log10(1 - availability); 0.999 -> 3."""
    availability = _availability(availability)
    if availability == 1:
        return math.inf
    return -math.log10(1 - availability)


def nines_table(levels=(0.99, 0.995, 0.999, 0.9995, 0.9999, 0.99999)) -> pd.DataFrame:
    """Downtime allowed per day, 30-day month and year for each availability level."""
    rows = []
    for a in _check_prob(levels, "levels").tolist():
        rows.append(
            {
                "availability": a,
                "per_day": pd.Timedelta(seconds=downtime_seconds(a, "day")),
                "per_month": pd.Timedelta(seconds=downtime_seconds(a, "month")),
                "per_year": pd.Timedelta(seconds=downtime_seconds(a, "year")),
            }
        )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- SLIs and error budgets


def is_good_request(status, latency_ms=None, latency_threshold_ms: float | None = None):
    """Good-request flags for an API SLI: not a 5xx, and (if a threshold is given) fast enough.

    4xx responses are the client's mistake and count as good for the service (a common choice;
    some teams exclude them from the SLI instead). Works on scalars, arrays or pandas Series.
    """
    scalar = np.ndim(status) == 0
    codes = validate.numbers(
        "status", status, low=100, high=599, min_size=0, fix="Pass HTTP status codes, e.g. 200."
    )
    good = codes < 500
    if latency_threshold_ms is not None:
        validate.number(
            "latency_threshold_ms",
            latency_threshold_ms,
            low=0,
            fix="Pass the SLO's latency threshold in milliseconds, e.g. 300.",
        )
        if latency_ms is None:
            raise validate.InvalidArgument(
                "latency_ms", None, "latencies, one per status", "Pass latency_ms as well."
            )
        lat = np.asarray(latency_ms, dtype=float).reshape(-1)
        if lat.shape != codes.shape:
            raise validate.InvalidArgument(
                "latency_ms", latency_ms, f"one latency per status ({codes.size})", "Pass both."
            )
        good = good & (lat <= latency_threshold_ms)  # a missing (NaN) latency is not good
    return bool(good[0]) if scalar else good


def sli(good: float, total: float) -> float:
    """SLI = good / total events."""
    good, total = _good_total(good, total)
    return good / total


def _good_total(good, total) -> tuple[float, float]:
    total = validate.number(
        "total", total, low=0, low_open=True, fix="Check your filter: total must be > 0 events."
    )
    good = validate.number(
        "good",
        good,
        low=0,
        high=total,
        fix="Good events are a subset of all events: pass (good, total) in that order.",
    )
    return good, total


def error_budget_requests(slo: float, total_requests: float) -> float:
    """Requests allowed to fail in the period: (1 - SLO) x total requests."""
    _check_slo(slo)
    total_requests = validate.number(
        "total_requests", total_requests, low=0, fix="Pass the requests in the SLO period."
    )
    return (1 - slo) * total_requests


def error_budget_remaining(slo: float, good: float, total: float) -> float:
    """Fraction of the error budget left: 1 - bad / allowed bad (negative when overspent)."""
    _check_slo(slo)
    good, total = _good_total(good, total)
    allowed = (1 - slo) * total
    return 1 - (total - good) / allowed


def burn_rate(error_rate: float, slo: float) -> float:
    """Burn rate = error rate / (1 - SLO); 1 means the budget lasts exactly the SLO period."""
    _check_slo(slo)
    error_rate = validate.fraction(
        "error_rate", error_rate, fix="Divide bad requests by total requests (0.002, not 0.2%)."
    )
    return error_rate / (1 - slo)


def budget_consumed(burn: float, window_hours: float, period_hours: float = 30 * 24) -> float:
    """Share of the period's budget spent by burning at ``burn`` for ``window_hours``."""
    burn = _burn(burn)
    window_hours = _hours("window_hours", window_hours, positive=False)
    period_hours = _hours("period_hours", period_hours)
    return burn * window_hours / period_hours


def burn_rate_threshold(
    budget_fraction: float, window_hours: float, period_hours: float = 30 * 24
) -> float:
    """Burn rate that spends ``budget_fraction`` of the budget in ``window_hours``.

    E.g. 2% in 1 hour of a 30-day period gives 0.02 x 720 / 1 = 14.4.
    """
    budget_fraction = validate.fraction(
        "budget_fraction",
        budget_fraction,
        low_open=True,
        fix="Pass e.g. 0.02 for 2% of the budget.",
    )
    window_hours = _hours("window_hours", window_hours)
    period_hours = _hours("period_hours", period_hours)
    return budget_fraction * period_hours / window_hours


def hours_to_exhaustion(
    burn: float, period_hours: float = 30 * 24, budget_left: float = 1.0
) -> float:
    """Hours until the (remaining) budget is gone at a constant burn rate (inf if burn is 0).

    ``budget_left`` is the fraction of the budget still unspent, in [0, 1]; an overspent budget
    (negative remaining) is already exhausted.
    """
    burn = _burn(burn)
    period_hours = _hours("period_hours", period_hours)
    budget_left = validate.fraction(
        "budget_left",
        budget_left,
        fix="Pass the unspent share of the budget, e.g. 0.6; a negative remainder means the "
        "budget is already spent (0 hours left).",
    )
    if burn == 0:
        return math.inf
    return budget_left * period_hours / burn


def _burn(burn) -> float:
    return validate.number(
        "burn", burn, low=0, fix="A burn rate is >= 0: error rate / (1 - SLO), e.g. 14.4."
    )


def _check_slo(slo: float) -> float:
    return validate.fraction("slo", slo, low_open=True, high_open=True, fix="Write 99.9% as 0.999.")


# ---------------------------------------------------------------- burn-rate alerts


@dataclass(frozen=True)
class BurnRateRule:
    """One multi-window alert: fire when both windows burn faster than ``burn_rate``."""

    severity: str
    long_window: str
    short_window: str
    burn_rate: float
    budget_consumed: float


#: SRE Workbook ch. 5, table 5-8 (recommended parameters for a 30-day 99.9% SLO).
SRE_WORKBOOK_RULES: tuple[BurnRateRule, ...] = (
    BurnRateRule("page", "1h", "5min", 14.4, 0.02),
    BurnRateRule("page", "6h", "30min", 6.0, 0.05),
    BurnRateRule("ticket", "3D", "6h", 1.0, 0.10),
)


def per_minute_counts(ts, bad, freq: str = "1min", start=None, end=None) -> pd.DataFrame:
    """Total and bad counts per ``freq`` bucket, with empty buckets filled with zeros.

    ``ts`` are request timestamps, ``bad`` booleans (True = bad request). The index is the bucket
    start; pass ``start``/``end`` to cover a fixed range.
    """
    step = _window("freq", freq)
    ts = pd.to_datetime(np.asarray(ts).reshape(-1))
    flags = np.asarray(bad).reshape(-1)
    if flags.shape != ts.shape or not np.isin(flags, [0, 1]).all():
        raise validate.InvalidArgument(
            "bad", bad, f"one True/False flag per timestamp ({ts.size})", "Pass equally long lists."
        )
    if ts.size == 0 and (start is None or end is None):
        raise validate.InvalidArgument(
            "ts", ts, "at least one timestamp (or both start and end)", "Pass the requests' times."
        )
    if start is not None and end is not None and pd.Timestamp(start) > pd.Timestamp(end):
        raise validate.InvalidArgument("end", end, f"at or after start = {start}", "Swap them.")
    df = pd.DataFrame({"ts": ts, "bad": flags.astype(int)})
    g = df.groupby(df["ts"].dt.floor(step))["bad"].agg(["size", "sum"])
    g.columns = ["total", "bad"]
    lo = pd.Timestamp(start).floor(freq) if start is not None else g.index.min()
    hi = pd.Timestamp(end).floor(freq) if end is not None else g.index.max()
    idx = pd.date_range(lo, hi, freq=freq)
    return g.reindex(idx, fill_value=0).rename_axis("bucket_start")


def _window(name: str, value) -> pd.Timedelta:
    try:
        step = pd.Timedelta(value)
    except (TypeError, ValueError):
        step = None
    if step is None or pd.isna(step) or step <= pd.Timedelta(0):
        raise validate.InvalidArgument(
            name, value, "a positive duration such as '1min', '5min', '1h' or '3D'", None
        )
    return step


def _check_counts(counts) -> None:
    if (
        not isinstance(counts, pd.DataFrame)
        or not {"total", "bad"} <= set(counts.columns)
        or not isinstance(counts.index, pd.DatetimeIndex)
        or counts.empty
    ):
        raise validate.InvalidArgument(
            "counts",
            type(counts).__name__,
            "a non-empty DataFrame with `total` and `bad` columns and a time index",
            "Pass what per_minute_counts(ts, bad) returns.",
        )


def rolling_burn_rates(counts: pd.DataFrame, slo: float, windows) -> pd.DataFrame:
    """Burn rate over each trailing window, evaluated at the end of every bucket.

    ``counts`` comes from :func:`per_minute_counts`. Returns one column per window (e.g.
    ``"1h"``), indexed by evaluation time (bucket end). A window with no traffic gives NaN.
    """
    _check_slo(slo)
    _check_counts(counts)
    step = counts.index[1] - counts.index[0] if len(counts) > 1 else pd.Timedelta("1min")
    if isinstance(windows, str):
        windows = [windows]
    for w in windows:
        _window("windows", w)
    out = {}
    for w in windows:
        tot = counts["total"].rolling(pd.Timedelta(w)).sum()
        bad = counts["bad"].rolling(pd.Timedelta(w)).sum()
        with np.errstate(invalid="ignore", divide="ignore"):
            out[w] = (bad / tot.where(tot > 0)) / (1 - slo)
    res = pd.DataFrame(out)
    res.index = res.index + step
    return res.rename_axis("evaluated_at")


def multiwindow_alerts(counts: pd.DataFrame, slo: float, rules=SRE_WORKBOOK_RULES) -> pd.DataFrame:
    """Which multi-window burn-rate rules fire at each evaluation time.

    Returns the burn rate in every window used, one boolean column per rule (named like
    ``page_1h_5min``) and ``page`` / ``ticket`` columns (any rule of that severity fires).
    """
    rules = tuple(rules) if not isinstance(rules, BurnRateRule) else (rules,)
    if not rules or not all(isinstance(r, BurnRateRule) for r in rules):
        raise validate.InvalidArgument(
            "rules", rules, "a non-empty list of BurnRateRule", "Use SRE_WORKBOOK_RULES."
        )
    for r in rules:
        _window("rules (long_window)", r.long_window)
        _window("rules (short_window)", r.short_window)
    windows = sorted({w for r in rules for w in (r.long_window, r.short_window)}, key=pd.Timedelta)
    rates = rolling_burn_rates(counts, slo, windows)
    out = rates.add_prefix("burn_")
    for sev in sorted({r.severity for r in rules}):
        out[sev] = False
    for r in rules:
        name = f"{r.severity}_{r.long_window}_{r.short_window}"
        fire = (rates[r.long_window] > r.burn_rate) & (rates[r.short_window] > r.burn_rate)
        out[name] = fire.fillna(False).astype(bool)
        out[r.severity] = out[r.severity] | out[name]
    return out


def first_firing(alerts: pd.DataFrame, column: str = "page"):
    """Evaluation time an alert column first fires (``None`` if it never does)."""
    if not isinstance(alerts, pd.DataFrame):
        raise validate.InvalidArgument(
            "alerts", alerts, "a DataFrame", "Pass what multiwindow_alerts(...) returns."
        )
    validate.choice("column", column, list(alerts.columns), "Use 'page' or 'ticket'.")
    fired = alerts.index[alerts[column].to_numpy(dtype=bool)]
    return fired[0] if len(fired) else None
