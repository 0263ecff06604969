"""Back-of-the-envelope estimates with explicit units: requests per second, peaks, storage, bandwidth.

Every function states its units in its name or arguments, because the classic estimation slip is a
unit slip (per day vs per second, bits vs bytes, KB vs KiB). Storage and bandwidth use decimal
(SI) units: 1 KB = 1,000 bytes, 1 GB = 10**9 bytes, 1 Mbps = 10**6 bits per second, as in the
system-design-primer's back-of-the-envelope section.
"""

from __future__ import annotations

import math

from tpmlab import validate
from tpmlab.errors import TPMLabError

SECONDS_PER_MINUTE = 60
SECONDS_PER_HOUR = 3_600
SECONDS_PER_DAY = 86_400
#: A 30-day month, the usual SLO period and estimate convention.
SECONDS_PER_MONTH = 30 * SECONDS_PER_DAY
#: A 365-day year.
SECONDS_PER_YEAR = 365 * SECONDS_PER_DAY

KB = 1_000
MB = 1_000_000
GB = 1_000_000_000
TB = 1_000_000_000_000

#: Rough rule: about 100,000 seconds in a day (86,400), so "per day / 10^5 = per second".
ROUGH_SECONDS_PER_DAY = 100_000


def _check_nonneg(**values: float) -> None:
    for name, value in values.items():
        validate.number(name, value, low=0, fix=f"Pass a number such as 1000 for `{name}`.")


def per_day_to_per_second(count_per_day: float) -> float:
    """Convert a daily count into an average rate per second (divide by 86,400)."""
    _check_nonneg(count_per_day=count_per_day)
    return count_per_day / SECONDS_PER_DAY


def average_rps(
    daily_active_users: float, actions_per_user_per_day: float, requests_per_action: float = 1.0
) -> float:
    """Average requests per second: DAU x actions per user per day x requests per action / 86,400."""
    _check_nonneg(
        daily_active_users=daily_active_users,
        actions_per_user_per_day=actions_per_user_per_day,
        requests_per_action=requests_per_action,
    )
    return daily_active_users * actions_per_user_per_day * requests_per_action / SECONDS_PER_DAY


def peak_rps(average: float, peak_to_average: float) -> float:
    """Peak requests per second = average x peak-to-average ratio (the ratio must be >= 1)."""
    _check_nonneg(average=average, peak_to_average=peak_to_average)
    validate.number(
        "peak_to_average",
        peak_to_average,
        low=1,
        fix="The peak is never below the average: use a ratio of at least 1 (2-3 is common for a "
        "daily cycle).",
    )
    return average * peak_to_average


def peak_to_average_ratio(counts) -> float:
    """Peak-to-average ratio of a series of counts per equal time bucket (max / mean)."""

    arr = validate.numbers(
        "counts", counts, low=0, fix="Pass counts per bucket, e.g. requests per minute."
    )
    if arr.mean() == 0:
        raise TPMLabError(
            "The series of counts is empty or all zero.",
            "Pass counts per bucket, e.g. requests per minute.",
        )
    return float(arr.max() / arr.mean())


def storage_bytes(
    items_per_day: float, bytes_per_item: float, days: float, replication_factor: float = 1.0
) -> float:
    """Storage needed after ``days``: items per day x bytes per item x days x replicas."""
    _check_nonneg(
        items_per_day=items_per_day,
        bytes_per_item=bytes_per_item,
        days=days,
        replication_factor=replication_factor,
    )
    return items_per_day * bytes_per_item * days * replication_factor


def compound_growth(value: float, rate_per_period: float, periods: float) -> float:
    """Value after ``periods`` of compound growth at ``rate_per_period`` (0.1 means +10%)."""
    value = validate.number("value", value, fix="Pass today's value, e.g. 1000.")
    rate_per_period = validate.number(
        "rate_per_period",
        rate_per_period,
        low=-1,
        low_open=True,
        fix="Pass the growth rate as a fraction, e.g. 0.1 for +10% (-100% or less is meaningless).",
    )
    periods = validate.number("periods", periods, low=0, fix="Pass a number of periods, e.g. 12.")
    try:
        result = value * (1 + rate_per_period) ** periods
    except OverflowError:
        result = math.inf
    if not math.isfinite(result):
        raise validate.InvalidArgument(
            "periods",
            periods,
            "few enough periods that the value stays a finite number",
            "Check the units: a growth rate per month needs periods in months.",
        )
    return result


def bandwidth_bytes_per_second(requests_per_second: float, bytes_per_response: float) -> float:
    """Egress bandwidth in bytes per second = requests per second x bytes per response."""
    _check_nonneg(requests_per_second=requests_per_second, bytes_per_response=bytes_per_response)
    return requests_per_second * bytes_per_response


def bytes_per_second_to_mbps(bytes_per_second: float) -> float:
    """Convert bytes per second to megabits per second (x 8 bits / 10^6)."""
    _check_nonneg(bytes_per_second=bytes_per_second)
    return bytes_per_second * 8 / 1e6


def servers_needed(
    peak_requests_per_second: float,
    capacity_rps_per_server: float,
    target_utilisation: float = 0.7,
    spares: int = 0,
) -> int:
    """Servers for a peak at a target utilisation, rounded up, plus ``spares`` (N+1 -> spares=1)."""
    _check_nonneg(peak_requests_per_second=peak_requests_per_second)
    capacity_rps_per_server = validate.number(
        "capacity_rps_per_server",
        capacity_rps_per_server,
        low=0,
        low_open=True,
        fix="Pass what one server handles, e.g. capacity_rps_per_server=500.",
    )
    target_utilisation = validate.fraction(
        "target_utilisation",
        target_utilisation,
        low_open=True,
        fix="Pass the target utilisation as a fraction, e.g. 0.7 (not 70).",
    )
    spares = validate.whole("spares", spares, low=0, fix="Pass spares=1 for N+1.")
    return (
        math.ceil(peak_requests_per_second / (capacity_rps_per_server * target_utilisation))
        + spares
    )


def within_tolerance(answer: float, expected: float, rel_tol: float = 0.1) -> bool:
    """True when ``answer`` is within ``rel_tol`` (a fraction) of ``expected``.

    Estimates are judged by their order of magnitude and their units, not their last digit; the
    tolerance is relative so it works the same for 12 requests per second and 12 TB.
    """
    expected = validate.number("expected", expected, fix="Pass the reference value.")
    rel_tol = validate.number("rel_tol", rel_tol, low=0, fix="Pass e.g. rel_tol=0.1 for 10%.")
    try:
        answer = float(answer)
    except (TypeError, ValueError):
        return False
    if not math.isfinite(answer):
        return False
    if expected == 0:
        return abs(answer) <= rel_tol
    return abs(answer - expected) <= rel_tol * abs(expected)


def order_of_magnitude(value: float) -> int:
    """The power of ten of a positive number: 3 for 1,234; -2 for 0.05."""
    value = validate.number(
        "value",
        value,
        low=0,
        low_open=True,
        fix="Orders of magnitude are defined for positive numbers only.",
    )
    return math.floor(math.log10(value))
