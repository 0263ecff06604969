"""Deploys and incidents, with the planted API incident and the deploy that caused it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tpmlab.data.generate import params as P
from tpmlab.data.generate.core import DAY, DAYS, LAST, Dataset, rng_for, ts_of

API_START_DAY = ts_of(P.API_START) // DAY


def gen_delivery(seed: int, ds: Dataset) -> None:
    rng = rng_for(seed, "delivery")
    days = np.arange(DAYS)
    weekday = ((days + 2) % 7) < 5
    wd = days[weekday]
    n_per = np.clip(rng.poisson(P.DEPLOYS_PER_WEEKDAY, len(wd)), P.DEPLOYS_MIN, P.DEPLOYS_MAX)
    d_day = np.repeat(wd, n_per)
    n = len(d_day)
    svc = rng.choice(5, n, p=P.DEPLOY_SERVICE_P)
    t = d_day * DAY + rng.integers(9 * 3600, 18 * 3600, n)
    mobile = (svc == 2) | (svc == 3)
    lead = rng.lognormal(
        np.log(
            np.where(mobile, P.LEAD_TIME_MEDIAN_HOURS_MOBILE, P.LEAD_TIME_MEDIAN_HOURS_OTHER) * 3600
        ),
        0.9,
        n,
    ).astype(np.int64)
    commits = np.where(
        mobile, 1 + rng.poisson(P.COMMITS_MEAN_MOBILE, n), 1 + rng.poisson(P.COMMITS_MEAN_OTHER, n)
    )
    r = rng.random(n)
    status = np.where(
        r < P.DEPLOY_FAILED_BELOW,
        "failed",
        np.where(r < P.DEPLOY_ROLLED_BACK_BELOW, "rolled_back", "success"),
    )
    status = status.astype(object)
    # the planted incident's cause
    inc_deploy_t = ts_of(*P.INCIDENT["deploy_at"].split(" "))
    t = np.append(t, inc_deploy_t)
    svc = np.append(svc, 0)
    lead = np.append(lead, 26 * 3600)
    commits = np.append(commits, 7)
    status = np.append(status, "rolled_back")
    o = np.argsort(t, kind="stable")
    t, svc, lead, commits, status = t[o], svc[o], lead[o], commits[o], status[o]
    deploy_id = np.arange(1, len(t) + 1)
    ds.tables["deploys"] = pd.DataFrame(
        {
            "deploy_id": deploy_id,
            "service": P.SERVICES[svc],
            "deployed_at": t,
            "first_commit_at": t - lead,
            "commit_count": commits,
            "status": status,
        }
    )
    planted_deploy = int(deploy_id[t == inc_deploy_t][0])

    # incidents: most follow a failed or rolled-back deploy; some have no deploy cause
    june_api = (svc == 0) & (t >= API_START_DAY * DAY - 6 * 3600)
    bad = np.flatnonzero((status != "success") & (t != inc_deploy_t) & ~june_api)
    caused = rng.choice(bad, size=min(P.INCIDENTS_AFTER_DEPLOYS, len(bad)), replace=False)
    n_free = P.INCIDENTS_WITHOUT_DEPLOY
    i_start = np.concatenate(
        [
            t[caused] + 300 + rng.exponential(40 * 60, len(caused)).astype(np.int64),
            rng.integers(2 * DAY, LAST - 2 * DAY, n_free),
        ]
    )
    i_svc = np.concatenate([svc[caused], rng.choice(5, n_free)])
    i_cause = np.concatenate([deploy_id[caused], np.full(n_free, -1)])
    sev = rng.choice(3, len(i_start), p=P.SEVERITY_P)
    # keep the API log's month clean apart from the planted incident
    in_june_api = (i_svc == 0) & (i_start >= API_START_DAY * DAY - 6 * 3600)
    i_svc[in_june_api] = 1
    i_start = np.minimum(i_start, LAST - 6 * 3600)
    detect = 60 + rng.exponential(np.array(P.DETECT_MINUTES_BY_SEVERITY)[sev] * 60).astype(np.int64)
    fix = rng.lognormal(np.log(np.array(P.FIX_MINUTES_BY_SEVERITY)[sev] * 60), 0.6).astype(np.int64)
    titles = {
        0: "Elevated API error rate",
        1: "Web app fails to load for some users",
        2: "iOS app crash on launch for some devices",
        3: "Android sync stuck",
        4: "Card payments failing",
    }
    inc = pd.DataFrame(
        {
            "service": P.SERVICES[i_svc],
            "severity": np.array(["sev1", "sev2", "sev3"], dtype=object)[sev],
            "started_at": i_start,
            "detected_at": i_start + detect,
            "resolved_at": i_start + detect + fix,
            "cause_deploy_id": i_cause,
            "title": [titles[s] for s in i_svc],
        }
    )
    s0 = ts_of(*P.INCIDENT["start"].split(" "))
    planted = {
        "service": "api",
        "severity": "sev1",
        "started_at": s0,
        "detected_at": ts_of(*P.INCIDENT["detected"].split(" ")),
        "resolved_at": ts_of(*P.INCIDENT["end"].split(" ")),
        "cause_deploy_id": planted_deploy,
        "title": P.INCIDENT["title"],
    }
    inc = pd.concat([inc, pd.DataFrame([planted])], ignore_index=True)
    inc["resolved_at"] = np.minimum(inc["resolved_at"], LAST)
    inc = inc.sort_values("started_at", kind="stable").reset_index(drop=True)
    inc.insert(0, "incident_id", np.arange(1, len(inc) + 1))
    ds.tables["incidents"] = inc
    ds.facts["incident"] = {
        "incident_id": int(inc.loc[inc.started_at == s0, "incident_id"].iloc[0]),
        "cause_deploy_id": planted_deploy,
        "window_start": P.INCIDENT["start"],
        "window_end": P.INCIDENT["end"],
        "service": "api",
        "severity": "sev1",
        "error_rate_5xx_in_window_planned": 0.2,
    }
