"""Event time against processing time on Orbit's raw layer (lessons 6.1 and 6.4).

Every row of ``raw_events`` has two clocks: ``event_time``, when the user acted, as the client
wrote it (web: UTC with ``Z``; iOS: local time with its offset; Android: UTC with no offset), and
``received_at``, when Orbit's server received it (UTC). Their difference is the row's **lag**.

- :data:`LAG_SQL` and :func:`event_lags`: one row per raw row with its platform and lag in hours
  (SQLite's ``julianday`` reads the offset, so the lag is right for every client);
- :func:`watermark_drops`: how many rows a fixed-lag watermark of N hours would drop;
- :func:`plot_late_share`: per platform, the share of rows still to arrive x hours after the
  event (what a watermark of x hours drops), on log scales.

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


def plot_late_share(lags: pd.DataFrame, marks: dict[str, float], ax):
    """Draw, per platform, the share of rows that arrive more than x hours after their event
    time (what a watermark of x hours would drop), on log scales, with a dotted line at each of
    ``marks`` (label -> hours). A curve ends where no row is later: zero has no place on a log
    axis."""
    _check_lags(lags)
    hours = np.logspace(np.log10(1 / 3600), np.log10(max(lags["lag_h"].max(), 1.0)), 400)
    for platform, group in lags.groupby("platform"):
        lag = np.sort(group["lag_h"].to_numpy())
        later = 1 - np.searchsorted(lag, hours, side="right") / len(lag)
        ax.plot(hours[later > 0], later[later > 0], label=platform)
    for label, h in marks.items():
        ax.axvline(h, ls=":", c="grey")
        ax.annotate(label, (h, 1e-4), rotation=90, va="bottom", ha="right", fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set(
        xlabel="hours after the event (log scale)",
        ylabel="share of rows not yet arrived (log scale)",
        title="How long Orbit's events take to reach the server",
    )
    ax.legend(title="platform")
    return ax
