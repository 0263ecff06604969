"""A cloud bill from a pinned price table: what Orbit's backend costs a month, and at 10x users.

The prices are **AWS list prices for US East (N. Virginia), on demand, in US dollars, as the
course recorded them from AWS's public pricing pages (the ``source`` of each line) in 2024**.
Prices change and differ by region and provider (Google Cloud and Azure price the same building
blocks differently): use the provider's own calculator for a real decision. What the lesson
teaches does not change with the prices: which lines grow with users, which are fixed, and where
the money goes.

- :data:`PRICES`: the price table (one :class:`Price` per billable unit, with its source);
- :data:`HOURS_PER_MONTH`: 730, the month AWS bills compute by;
- :class:`Usage`: what a backend uses in a month (instances, storage, requests, egress);
- :func:`orbit_usage`: Orbit's usage as a function of its monthly active users, from the
  assumptions in :data:`ORBIT_ASSUMPTIONS` (its June API log gives the requests per user);
- :func:`monthly_bill`: the bill, one line per item, on demand or with a commitment discount
  on the instance hours (:data:`COMMITMENT_DISCOUNT`, an assumption: see its note);
- :func:`serverless_compute_usd`: the same requests served by functions (Lambda) instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from tpmlab import validate as check

#: The billing month of AWS's hourly prices (24 x 365 / 12).
HOURS_PER_MONTH = 730


@dataclass(frozen=True)
class Price:
    """One billable unit: ``usd`` per ``unit``, what it is, and where the price was read."""

    usd: float
    unit: str
    what: str
    source: str


#: AWS us-east-1 on-demand list prices (USD), recorded in 2024 from the ``source`` pages.
PRICES: dict[str, Price] = {
    "app_instance_hour": Price(
        0.096,
        "instance-hour",
        "EC2 m5.large (2 vCPU, 8 GiB), Linux, on demand",
        "https://aws.amazon.com/ec2/pricing/on-demand/",
    ),
    "db_instance_hour": Price(
        0.178,
        "instance-hour",
        "RDS for PostgreSQL db.m5.large, single-AZ, on demand (Multi-AZ bills two)",
        "https://aws.amazon.com/rds/postgresql/pricing/",
    ),
    "db_storage_gb_month": Price(
        0.115,
        "GB-month",
        "RDS General Purpose SSD (gp2) storage, single-AZ",
        "https://aws.amazon.com/rds/postgresql/pricing/",
    ),
    "object_storage_gb_month": Price(
        0.023,
        "GB-month",
        "S3 Standard storage, first 50 TB a month",
        "https://aws.amazon.com/s3/pricing/",
    ),
    "api_requests_million": Price(
        1.00,
        "million requests",
        "API Gateway HTTP API requests, first 300 million a month",
        "https://aws.amazon.com/api-gateway/pricing/",
    ),
    "egress_gb": Price(
        0.09,
        "GB",
        "Data transfer out to the internet, first 10 TB a month (after the free 100 GB)",
        "https://aws.amazon.com/ec2/pricing/on-demand/",
    ),
    "function_requests_million": Price(
        0.20,
        "million requests",
        "Lambda requests (x86)",
        "https://aws.amazon.com/lambda/pricing/",
    ),
    "function_gb_second": Price(
        0.0000166667,
        "GB-second",
        "Lambda compute (x86), per GB of memory per second of run time",
        "https://aws.amazon.com/lambda/pricing/",
    ),
}
#: Data transfer out to the internet that AWS does not charge for, per month (all services).
FREE_EGRESS_GB = 100

#: A 1-year, no-upfront commitment (Savings Plan or reserved instance) priced as a discount on
#: instance hours. **An assumption, not a list price:** AWS quotes "up to 72%" for the longest,
#: all-upfront terms; 1-year no-upfront terms are typically about a third off. Storage, requests
#: and egress are not discounted by it.
COMMITMENT_DISCOUNT = 0.35

#: Orbit's backend, per monthly active user (MAU) and per request: the course's assumptions.
ORBIT_ASSUMPTIONS = {
    # requests from Orbit's own web and mobile clients and the public API; the public API alone
    # is ~23 a month per user in June's log (~454k requests, ~19.7k users)
    "api_requests_per_mau": 1_500.0,
    "peak_to_average": 3.0,  # busiest minute vs the month's average rate
    "requests_per_second_per_instance": 150.0,  # what one m5.large app server serves
    "min_app_instances": 2,  # two, in two availability zones, whatever the load
    "db_instances": 2,  # primary and standby in another zone (Multi-AZ bills both)
    "db_gb_per_mau": 0.005,  # 5 MB of tasks, comments and history per user
    "attachments_gb_per_mau": 0.05,  # 50 MB of files per user in object storage
    "kb_per_response": 8.0,  # mean response body
}


@dataclass(frozen=True)
class Usage:
    """What a backend uses in one month."""

    app_instances: int
    db_instances: int
    db_storage_gb: float
    object_storage_gb: float
    api_requests: float
    egress_gb: float
    notes: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        for name in ("app_instances", "db_instances"):
            check.whole(name, getattr(self, name), low=0)
        for name in ("db_storage_gb", "object_storage_gb", "api_requests", "egress_gb"):
            check.number(name, getattr(self, name), low=0)


def orbit_usage(mau: float, assumptions: dict | None = None) -> Usage:
    """Orbit's monthly usage with ``mau`` monthly active users (see :data:`ORBIT_ASSUMPTIONS`).

    App servers are sized for the peak (at least ``min_app_instances``); the database is a fixed
    pair; storage, requests and egress grow in proportion to users.
    """
    mau = check.number("mau", mau, low=0, low_open=True, fix="Pass the monthly active users.")
    a = {**ORBIT_ASSUMPTIONS, **(assumptions or {})}
    requests = mau * a["api_requests_per_mau"]
    peak_rps = requests / (HOURS_PER_MONTH * 3600) * a["peak_to_average"]
    app = max(a["min_app_instances"], math.ceil(peak_rps / a["requests_per_second_per_instance"]))
    return Usage(
        app_instances=int(app),
        db_instances=int(a["db_instances"]),
        db_storage_gb=mau * a["db_gb_per_mau"],
        object_storage_gb=mau * a["attachments_gb_per_mau"],
        api_requests=requests,
        egress_gb=requests * a["kb_per_response"] / 1e6,
        notes={"peak_rps": peak_rps},
    )


def monthly_bill(usage: Usage, committed: bool = False, prices: dict | None = None) -> pd.DataFrame:
    """The month's bill for ``usage``: one row per item (quantity, unit, unit price, USD).

    ``committed`` applies :data:`COMMITMENT_DISCOUNT` to the instance hours only. Egress is
    charged after the free :data:`FREE_EGRESS_GB`.
    """
    if not isinstance(usage, Usage):
        raise check.InvalidArgument(
            "usage", usage, "a Usage", "Build one with orbit_usage(mau) or Usage(...)."
        )
    p = prices or PRICES
    hour_factor = 1 - COMMITMENT_DISCOUNT if committed else 1.0
    lines = [
        ("app servers", usage.app_instances * HOURS_PER_MONTH, "app_instance_hour", hour_factor),
        ("database", usage.db_instances * HOURS_PER_MONTH, "db_instance_hour", hour_factor),
        ("database storage", usage.db_storage_gb, "db_storage_gb_month", 1.0),
        ("file storage", usage.object_storage_gb, "object_storage_gb_month", 1.0),
        ("API requests", usage.api_requests / 1e6, "api_requests_million", 1.0),
        ("egress", max(0.0, usage.egress_gb - FREE_EGRESS_GB), "egress_gb", 1.0),
    ]
    rows = [
        {
            "item": item,
            "quantity": quantity,
            "unit": p[key].unit,
            "unit_usd": p[key].usd * factor,
            "usd": quantity * p[key].usd * factor,
        }
        for item, quantity, key, factor in lines
    ]
    return pd.DataFrame(rows)


def serverless_compute_usd(requests: float, ms_per_request: float, memory_gb: float) -> float:
    """A month of functions (Lambda) serving ``requests``: per-request plus per-GB-second price.

    The free tier is left out (it is per account, small, and hides the slope).
    """
    requests = check.number("requests", requests, low=0)
    ms_per_request = check.number("ms_per_request", ms_per_request, low=0)
    memory_gb = check.number("memory_gb", memory_gb, low=0, low_open=True)
    gb_seconds = requests * ms_per_request / 1000 * memory_gb
    return (
        requests / 1e6 * PRICES["function_requests_million"].usd
        + gb_seconds * PRICES["function_gb_second"].usd
    )


def price_table() -> pd.DataFrame:
    """:data:`PRICES` as a table to show (price, unit, what, source)."""
    return pd.DataFrame(
        [
            {"key": k, "usd": v.usd, "unit": v.unit, "what": v.what, "source": v.source}
            for k, v in PRICES.items()
        ]
    )
