"""DORA's four key metrics from Orbit's ``deploys`` and ``incidents`` tables.

Definitions (DORA's *Accelerate State of DevOps Report 2023*, which renamed "time to restore
service" to "failed deployment recovery time", and the open-source Four Keys project,
``GoogleCloudPlatform/fourkeys``, ``METRICS.md``):

* **deployment frequency**: how often changes reach production; here deploys per calendar day
  from the day of the first deploy to the day of the last, inclusive (days without a deploy,
  weekends included, count: they are days the team did not ship);
* **lead time for changes**: the **median** time from a change's first commit to its deploy
  (Four Keys uses the median), in hours;
* **change failure rate**: the share of deploys that failed, were rolled back or caused an
  incident (``incidents.cause_deploy_id``), over all deploys (Four Keys: failures per deploy);
* **failed deployment recovery time**: the **median** time from the start of the impact to its
  resolution, over incidents *caused by a deploy* (an incident with no ``cause_deploy_id`` is not a
  failed deployment), in hours.

Every function takes the two tables as DataFrames (``load(eng)`` reads them), so the tests can
use a hand-made table with known answers.
"""

from __future__ import annotations

import pandas as pd

from tpmlab.errors import TPMLabError

FAILED_STATUSES = ("failed", "rolled_back")

DEPLOY_COLUMNS = ("deploy_id", "service", "deployed_at", "first_commit_at", "status")
INCIDENT_COLUMNS = ("incident_id", "started_at", "resolved_at", "cause_deploy_id")


class DoraInputError(TPMLabError):
    """A table given to a DORA function lacks a column or has no rows."""


def load(eng) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Orbit's ``deploys`` and ``incidents`` with their timestamps parsed."""
    deploys = pd.read_sql(
        "SELECT deploy_id, service, deployed_at, first_commit_at, commit_count, status "
        "FROM deploys",
        eng,
        parse_dates=["deployed_at", "first_commit_at"],
    )
    incidents = pd.read_sql(
        "SELECT incident_id, service, severity, started_at, detected_at, resolved_at, "
        "cause_deploy_id FROM incidents",
        eng,
        parse_dates=["started_at", "detected_at", "resolved_at"],
    )
    return deploys, incidents


def scratch_engine(deploys: pd.DataFrame, incidents: pd.DataFrame):
    """An in-memory SQLite engine holding these two tables, timestamps written as Orbit's are.

    Checks call a learner's ``f(eng)`` on it with a hand-made table whose answer is known.
    """
    import sqlalchemy

    eng = sqlalchemy.create_engine("sqlite://")
    for name, df in (("deploys", deploys), ("incidents", incidents)):
        out = df.copy()
        for col in out.columns:
            if pd.api.types.is_datetime64_any_dtype(out[col]):
                out[col] = out[col].dt.strftime("%Y-%m-%d %H:%M:%S")
        out.to_sql(name, eng, index=False)
    return eng


def _need(df: pd.DataFrame, columns: tuple[str, ...], table: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DoraInputError(
            f"The {table} table has no column(s) {', '.join(missing)}.",
            f"Pass the whole {table} table (tpmlab.shipping.dora.load(eng) reads it).",
        )
    if df.empty:
        raise DoraInputError(
            f"The {table} table has no rows, so the metric is undefined.",
            "Check the filter that produced it (a service or period with no deploys?).",
        )


def _hours(delta: pd.Series) -> pd.Series:
    return pd.to_timedelta(delta).dt.total_seconds() / 3600


def deployment_frequency(deploys: pd.DataFrame) -> float:
    """Deploys per calendar day, first deploy's day to last deploy's day inclusive."""
    _need(deploys, ("deployed_at",), "deploys")
    days = pd.to_datetime(deploys["deployed_at"]).dt.normalize()
    span = (days.max() - days.min()).days + 1
    return len(deploys) / span


def lead_time_hours(deploys: pd.DataFrame) -> float:
    """Median hours from ``first_commit_at`` to ``deployed_at``."""
    _need(deploys, ("deployed_at", "first_commit_at"), "deploys")
    lead = pd.to_datetime(deploys["deployed_at"]) - pd.to_datetime(deploys["first_commit_at"])
    return float(_hours(lead).median())


def failed_deploys(deploys: pd.DataFrame, incidents: pd.DataFrame) -> pd.Series:
    """Boolean per deploy: it failed, was rolled back, or caused an incident."""
    _need(deploys, ("deploy_id", "status"), "deploys")
    caused = set(incidents["cause_deploy_id"].dropna().astype(int)) if len(incidents) else set()
    return deploys["status"].isin(FAILED_STATUSES) | deploys["deploy_id"].isin(caused)


def change_failure_rate(deploys: pd.DataFrame, incidents: pd.DataFrame) -> float:
    """Share of deploys that failed, were rolled back or caused an incident."""
    return float(failed_deploys(deploys, incidents).mean())


def recovery_time_hours(incidents: pd.DataFrame) -> float:
    """Median hours from ``started_at`` to ``resolved_at`` of the incidents a deploy caused."""
    _need(incidents, ("started_at", "resolved_at", "cause_deploy_id"), "incidents")
    caused = incidents[incidents["cause_deploy_id"].notna()]
    if caused.empty:
        raise DoraInputError(
            "No incident here was caused by a deploy, so there is no failed deployment to "
            "recover from.",
            "Report the recovery time as 'no failed deployments' for this period.",
        )
    duration = pd.to_datetime(caused["resolved_at"]) - pd.to_datetime(caused["started_at"])
    return float(_hours(duration).median())


def four_keys(deploys: pd.DataFrame, incidents: pd.DataFrame) -> dict[str, float]:
    """The four metrics in one dict (the keys name their units)."""
    return {
        "deploys_per_day": deployment_frequency(deploys),
        "lead_time_h": lead_time_hours(deploys),
        "change_failure_rate": change_failure_rate(deploys, incidents),
        "recovery_time_h": recovery_time_hours(incidents),
    }


def by_service(deploys: pd.DataFrame, incidents: pd.DataFrame) -> pd.DataFrame:
    """The four metrics per service (rows) for the deploys and incidents of each service.

    A service with no deploy-caused incident has no recovery time (NaN). Deployment frequency
    of a service uses the whole period of ``deploys``, so services compare on the same days.
    """
    start = pd.to_datetime(deploys["deployed_at"]).dt.normalize().min()
    end = pd.to_datetime(deploys["deployed_at"]).dt.normalize().max()
    span = (end - start).days + 1
    rows = {}
    for service, d in deploys.groupby("service"):
        inc = incidents[incidents["cause_deploy_id"].isin(d["deploy_id"])]
        rows[service] = {
            "deploys_per_day": len(d) / span,
            "lead_time_h": lead_time_hours(d),
            "change_failure_rate": change_failure_rate(d, inc),
            "recovery_time_h": recovery_time_hours(inc) if len(inc) else float("nan"),
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("service")


#: Four Keys' buckets (``METRICS.md`` of GoogleCloudPlatform/fourkeys, which takes them from the
#: 2019 State of DevOps report): upper bounds in hours for the two times.
TIME_BUCKETS = ((24, "One day"), (168, "One week"), (730, "One month"), (730 * 6, "Six months"))


def time_bucket(hours: float) -> str:
    """Four Keys' bucket of a median lead time or recovery time (hours)."""
    return next((name for bound, name in TIME_BUCKETS if hours < bound), "One year")


def failure_bucket(rate: float) -> str:
    """Four Keys' bucket of a change failure rate (a share)."""
    return "0-15%" if rate <= 0.15 else "16-45%" if rate < 0.46 else "46-60%"


def frequency_bucket(deploys: pd.DataFrame) -> str:
    """Four Keys' deployment frequency bucket: ``Daily`` when the median week has deploys on at
    least three days, ``Weekly`` when most weeks have one, ``Monthly`` when most months do, else
    ``Yearly``. Weeks and months with no deploy count (they are in the period)."""
    _need(deploys, ("deployed_at",), "deploys")
    days = pd.to_datetime(deploys["deployed_at"]).dt.normalize()
    calendar = pd.date_range(days.min(), days.max(), freq="D")
    deployed = pd.Series(calendar.isin(days), index=calendar)
    per_week = deployed.groupby(calendar.to_period("W")).sum()
    if per_week.median() >= 3:
        return "Daily"
    if (per_week > 0).median() >= 1:
        return "Weekly"
    per_month = deployed.groupby(calendar.to_period("M")).sum()
    return "Monthly" if per_month.median() >= 1 else "Yearly"
