"""Event time against processing time on Orbit's raw layer (lessons 6.1 and 6.4).

Every row of ``raw_events`` has two clocks: ``event_time``, when the user acted, as the client
wrote it (web: UTC with ``Z``; iOS: local time with its offset; Android: UTC with no offset), and
``received_at``, when Orbit's server received it (UTC). Their difference is the row's **lag**.

- :data:`LAG_SQL` and :func:`event_lags`: one row per raw row with its platform and lag in hours
  (SQLite's ``julianday`` reads the offset, so the lag is right for every client);
- :func:`watermark_drops`: how many rows a fixed-lag watermark of N hours would drop;
- :func:`plot_lag_ecdf`: the share of rows that had arrived after a given lag, per platform.

The watermark here is the simplest heuristic one in Akidau's sense ("Streaming 102", O'Reilly,
2016): at processing time P the pipeline declares every event older than P - N complete, so a
row whose lag is more than N hours arrives behind the watermark and is late.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from tpmlab.errors import TPMLabError

#: One row per raw row: its platform and its lag (received_at - event_time in UTC), in hours.
LAG_SQL = """
SELECT platform,
       (julianday(received_at) - julianday(event_time)) * 24 AS lag_h
FROM raw_events
"""


def event_lags(eng) -> pd.DataFrame:
    """Every raw row's ``platform`` and ``lag_h`` (hours from event time to arrival), read with
    :data:`LAG_SQL` from ``eng`` (an engine on Orbit's SQLite data, e.g.
    :func:`tpmlab.data.engine`)."""
    return pd.read_sql(LAG_SQL, eng)


def _check_lags(lags) -> None:
    if not isinstance(lags, pd.DataFrame) or not {"platform", "lag_h"} <= set(lags.columns):
        raise TPMLabError(
            "The lags must be a DataFrame with the columns `platform` and `lag_h`.",
            "Pass the frame that tpmlab.eventtime.event_lags(eng) returns.",
        )


def watermark_drops(lags: pd.DataFrame, hours: Iterable[float]) -> pd.DataFrame:
    """For each watermark lag in ``hours``: how many rows arrive more than that many hours after
    their event time (so a fixed-lag watermark would drop them), per platform and in all, and
    their share of all rows. One row per watermark, indexed by ``watermark_h``."""
    _check_lags(lags)
    hours = list(hours)
    if not hours or any(not isinstance(h, (int, float)) or h < 0 for h in hours):
        raise TPMLabError(
            f"The watermark lags must be non-negative numbers of hours, not {hours!r}.",
            "Pass a list such as [1, 6, 24, 48].",
        )
    # rows later than h = rows - rows at or below h, counted on each platform's sorted lags
    sorted_lags = {p: np.sort(g.to_numpy()) for p, g in lags.groupby("platform")["lag_h"]}
    rows = []
    for h in hours:
        row: dict[str, float] = {"watermark_h": h}
        for platform, lag in sorted_lags.items():
            row[platform] = int(len(lag) - np.searchsorted(lag, h, side="right"))
        row["all"] = int(sum(row[p] for p in sorted_lags))
        row["share"] = row["all"] / len(lags)
        rows.append(row)
    return pd.DataFrame(rows).set_index("watermark_h")


def plot_lag_ecdf(lags: pd.DataFrame, marks: dict[str, float], ax):
    """Draw, per platform, the share of rows that had arrived within each lag (an empirical CDF
    on a log scale of hours), with a dotted line at each of ``marks`` (label -> hours)."""
    _check_lags(lags)
    share = np.linspace(0, 1, 2001)  # 2,001 quantiles draw the curve as well as every row
    for platform, group in lags.groupby("platform"):
        ax.plot(np.quantile(group["lag_h"], share), share, label=platform)
    for label, h in marks.items():
        ax.axvline(h, ls=":", c="grey")
        ax.annotate(label, (h, 0.02), rotation=90, va="bottom", ha="right", fontsize=8)
    ax.set_xscale("log")
    ax.set(
        xlabel="lag: received_at - event_time (hours, log scale)",
        ylabel="share of rows arrived",
        title="How long Orbit's events take to reach the server",
    )
    ax.legend(title="platform")
    return ax
