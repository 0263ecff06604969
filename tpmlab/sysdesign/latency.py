"""The pinned latency-numbers table and percentile helpers that say which method they use.

The table
---------
:data:`LATENCY_NUMBERS` is the table "Latency numbers every programmer should know" exactly as
reproduced in the appendix of Donne Martin's *The System Design Primer* (GitHub
``donnemartin/system-design-primer``, README, section "Appendix > Latency numbers every programmer
should know", CC BY 4.0). That table is Jeff Dean's "Numbers everyone should know" (Google, c.
2010-2012) via Jonas Bonér's gist, with the SSD rows added. We pin this one version, row wording
and all (older copies say "Disk seek" / "Read 1 MB sequentially from disk" for the HDD rows; the
numbers are the same). The numbers are circa 2012 hardware: use them for ratios and orders of
magnitude, never as a benchmark of today's machines.

Percentiles
-----------
There is more than one definition of "the 99th percentile". :func:`percentile` uses numpy's
default ``method="linear"`` (interpolates between order statistics, R's type 7);
:func:`percentile_nearest_rank` uses the nearest-rank definition (the smallest value with at least
p% of the data at or below it, numpy's ``method="inverted_cdf"``), which always returns a value
that was actually observed. On large logs the two agree closely; on small samples they differ, so
always say which one you used.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from tpmlab import validate
from tpmlab.errors import TPMLabError

#: Where the table comes from (cite this string in lessons).
LATENCY_SOURCE = (
    "Latency numbers every programmer should know, as reproduced in Donne Martin, "
    "The System Design Primer (github.com/donnemartin/system-design-primer, README, Appendix; "
    "CC BY 4.0); originally Jeff Dean, 'Numbers everyone should know' (Google), via Jonas Bonér's "
    "gist. Circa-2012 hardware."
)

#: (operation, latency in nanoseconds, note) rows of the pinned table, in its order.
LATENCY_NUMBERS: tuple[tuple[str, float, str], ...] = (
    ("L1 cache reference", 0.5, ""),
    ("Branch mispredict", 5, ""),
    ("L2 cache reference", 7, "14x L1 cache"),
    ("Mutex lock/unlock", 25, ""),
    ("Main memory reference", 100, "20x L2 cache, 200x L1 cache"),
    ("Compress 1K bytes with Zippy", 10_000, ""),
    ("Send 1 KB bytes over 1 Gbps network", 10_000, ""),
    ("Read 4 KB randomly from SSD", 150_000, "~1GB/sec SSD"),
    ("Read 1 MB sequentially from memory", 250_000, ""),
    ("Round trip within same datacenter", 500_000, ""),
    ("Read 1 MB sequentially from SSD", 1_000_000, "~1GB/sec SSD, 4X memory"),
    ("HDD seek", 10_000_000, "20x datacenter roundtrip"),
    ("Read 1 MB sequentially from 1 Gbps", 10_000_000, "40x memory, 10X SSD"),
    ("Read 1 MB sequentially from HDD", 30_000_000, "120x memory, 30X SSD"),
    ("Send packet CA->Netherlands->CA", 150_000_000, ""),
)

_UNITS_IN_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


def latency_table() -> pd.DataFrame:
    """The pinned table as a DataFrame with the latency in ns, us and ms."""
    df = pd.DataFrame(LATENCY_NUMBERS, columns=["operation", "ns", "note"])
    df["us"] = df["ns"] / 1e3
    df["ms"] = df["ns"] / 1e6
    return df[["operation", "ns", "us", "ms", "note"]]


def latency(operation: str, unit: str = "ns") -> float:
    """Latency of one row of the pinned table, in ``unit`` (``ns``, ``us``, ``ms`` or ``s``)."""
    validate.choice("unit", unit, _UNITS_IN_NS)
    if not isinstance(operation, str):
        raise validate.InvalidArgument("operation", operation, "a row name (a string)", None)
    for name, ns, _ in LATENCY_NUMBERS:
        if name.lower() == operation.lower():
            return ns / _UNITS_IN_NS[unit]
    names = ", ".join(repr(n) for n, _, _ in LATENCY_NUMBERS)
    raise TPMLabError(f"No row called {operation!r} in the latency table.", f"Use one of: {names}.")


def convert_time(value: float, from_unit: str, to_unit: str) -> float:
    """Convert a duration between ``ns``, ``us``, ``ms`` and ``s``."""
    value = validate.number("value", value, fix="Pass a duration, e.g. 250.")
    validate.choice("from_unit", from_unit, _UNITS_IN_NS)
    validate.choice("to_unit", to_unit, _UNITS_IN_NS)
    return value * _UNITS_IN_NS[from_unit] / _UNITS_IN_NS[to_unit]


def sequential_calls_ms(call_latencies_ms) -> float:
    """Latency of calls made one after another: the sum."""
    return float(np.sum(_calls(call_latencies_ms)))


def _calls(call_latencies_ms) -> np.ndarray:
    return validate.numbers(
        "call_latencies_ms",
        call_latencies_ms,
        low=0,
        fix="Pass one latency (>= 0, in ms) per call, e.g. [120, 80, 45].",
    )


def parallel_calls_ms(call_latencies_ms) -> float:
    """Latency of calls made at the same time and all awaited: the slowest one."""
    return float(np.max(_calls(call_latencies_ms)))


def _as_array(values) -> np.ndarray:
    """The values without NaN (missing latencies are skipped); infinities are refused."""
    try:
        arr = np.asarray(values, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise validate.InvalidArgument(
            "values", values, "a list of numbers", "Pass a column of latencies."
        ) from None
    arr = arr[~np.isnan(arr)]
    validate.numbers("values", arr, min_size=0, fix="Pass finite latencies (NaN is skipped).")
    if arr.size == 0:
        raise TPMLabError(
            "No values to take a percentile of.",
            "Check that your filter left some rows (e.g. latency_ms is not all NULL).",
        )
    return arr


def percentile(values, p: float) -> float:
    """The p-th percentile (0-100) with numpy's default linear interpolation (R type 7).

    ``p`` strictly between 0 and 1 is refused as ambiguous: write 99 for p99, not 0.99.
    """
    p = validate.percentile_rank("p", p)
    return float(np.percentile(_as_array(values), p, method="linear"))


def percentile_nearest_rank(values, p: float) -> float:
    """The p-th percentile (0-100) by nearest rank: the ceil(p/100 x n)-th smallest value.

    ``p`` strictly between 0 and 1 is refused as ambiguous: write 99 for p99, not 0.99.
    """
    p = validate.percentile_rank("p", p)
    arr = np.sort(_as_array(values))
    rank = max(1, math.ceil(p / 100 * arr.size))
    return float(arr[rank - 1])


def latency_summary(values, percentiles=(50, 95, 99), method: str = "linear") -> dict[str, float]:
    """Mean and the given percentiles of a latency sample, keyed ``mean``, ``p50``, ``p95``..."""
    validate.choice("method", method, ("linear", "nearest_rank"), "Use 'linear' (numpy default).")
    percentiles = [validate.percentile_rank("percentiles", p) for p in percentiles]
    fn = percentile if method == "linear" else percentile_nearest_rank
    arr = _as_array(values)
    out = {"count": float(arr.size), "mean": float(arr.mean())}
    for p in percentiles:
        label = f"p{p:g}".replace(".", "_")
        out[label] = fn(arr, p)
    return out
