"""Turning test results into a table a stakeholder can read, with a plain-language verdict.

The verdict separates **statistical** significance (is the confidence interval clear of zero?)
from **practical** significance (is the effect at least the smallest change worth acting on,
``practical_threshold``, in the metric's absolute units?), following Kohavi, Tang & Xu (2020),
ch. 2 ("statistical vs practical significance").
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import pandas as pd

from tpmlab import validate
from tpmlab.abtest.analysis import TestResult


def verdict(
    result: TestResult, practical_threshold: float = 0.0, higher_is_better: bool = True
) -> str:
    """One of: "Win", "Loss", "Significant but too small to matter", "Inconclusive", "No meaningful change".

    * CI entirely above ``practical_threshold`` (in the good direction): **Win** (**Loss** if bad).
    * CI excludes 0 but the point estimate is below the threshold: **significant but too small**.
    * CI includes 0 and reaches past the threshold: **Inconclusive** (the test could not tell).
    * CI includes 0 and stays within +/- threshold: **No meaningful change**.
    """
    if not isinstance(result, TestResult):
        raise validate.InvalidArgument(
            "result",
            result,
            "a TestResult",
            "Pass what two_proportion_ztest or welch_ttest returned.",
        )
    validate.number(
        "practical_threshold",
        practical_threshold,
        low=0,
        fix="Pass the smallest change worth acting on, in the metric's units, as a number >= 0 "
        "(0 to judge statistical significance only).",
    )
    lo, hi = result.ci_low, result.ci_high
    sign = 1 if higher_is_better else -1
    good_lo, good_hi = sorted((sign * lo, sign * hi))
    thr = abs(practical_threshold)
    if good_lo > 0 or good_hi < 0:  # statistically significant
        effect = sign * result.diff
        if abs(effect) < thr:
            return "Significant but too small to matter"
        if good_lo > 0:
            return "Win"
        return "Loss"
    if thr > 0 and good_lo >= -thr and good_hi <= thr:
        return "No meaningful change"
    return "Inconclusive"


def _fmt_value(x: float, kind: str) -> str:
    if kind == "proportion":
        return f"{x:.2%}"
    return f"{x:,.3g}" if abs(x) < 1000 else f"{x:,.0f}"


def _fmt_diff(x: float, kind: str) -> str:
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    if kind == "proportion":
        return f"{x * 100:+.2f} pp"
    return f"{x:+,.3g}"


def _fmt_pct(x: float) -> str:
    if math.isnan(x):
        return "n/a"
    if math.isinf(x):
        return "∞"
    return f"{x:+.1%}"


def _fmt_p(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def results_table(
    results: Iterable[tuple[str, TestResult]] | dict[str, TestResult],
    *,
    practical_thresholds: dict[str, float] | None = None,
    lower_is_better: Iterable[str] = (),
) -> pd.DataFrame:
    """A stakeholder-readable table: one row per metric, formatted strings, and a verdict.

    ``results``: ``{"Conversion": result, ...}`` or a list of ``(name, result)`` pairs.
    ``practical_thresholds``: smallest change worth acting on per metric, absolute units.
    ``lower_is_better``: metric names where a decrease is good (latency, errors, churn).
    Rates are shown as percentages and differences in percentage points ("pp").
    """
    items = list(results.items()) if isinstance(results, dict) else list(results)
    fix = 'Pass {"Conversion": result, ...} or a list of ("Conversion", result) pairs.'
    if not items:
        raise validate.InvalidArgument("results", results, "at least one (name, result) pair", fix)
    for item in items:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], TestResult)):
            raise validate.InvalidArgument("results", item, "(name, TestResult) pairs", fix)
    names = [name for name, _ in items]
    thresholds = dict(practical_thresholds or {})
    lower = {lower_is_better} if isinstance(lower_is_better, str) else set(lower_is_better)
    for arg, given in (("practical_thresholds", thresholds), ("lower_is_better", lower)):
        unknown = sorted(set(given) - set(names), key=str)
        if unknown:
            raise validate.InvalidArgument(
                arg,
                unknown,
                f"metric names from `results` ({', '.join(map(repr, names))})",
                "Spell each metric exactly as in `results`; a misspelt name would be ignored.",
            )
    rows = []
    for name, r in items:
        k = r.metric_type
        level = f"{1 - r.alpha:.0%}"
        rows.append(
            {
                "Metric": name,
                "Control": _fmt_value(r.control, k),
                "Treatment": _fmt_value(r.treatment, k),
                "Change": _fmt_diff(r.diff, k),
                f"{level} CI (change)": f"{_fmt_diff(r.ci_low, k)} to {_fmt_diff(r.ci_high, k)}",
                "Relative change": _fmt_pct(r.rel_lift),
                f"{level} CI (relative)": f"{_fmt_pct(r.rel_ci_low)} to {_fmt_pct(r.rel_ci_high)}",
                "p-value": _fmt_p(r.p_value),
                "Users (C / T)": f"{r.n_control:,} / {r.n_treatment:,}",
                "Verdict": verdict(
                    r, thresholds.get(name, 0.0), higher_is_better=name not in lower
                ),
            }
        )
    return pd.DataFrame(rows).set_index("Metric")
