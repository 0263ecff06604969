"""Module 8's scenario: Orbit's activation drops because one client release breaks one step.

:func:`plant_activation_drop` takes a generated Orbit (the default generator, untouched) and plants
the capstone's incident and decoys on top, so the default build and every other module's numbers
stay as they are:

- **Versions.** Every successful deploy of ``web``, ``ios`` or ``android`` is a release with a
  version (``deploys.version``: ``3.N.0`` web, ``5.N.0`` iOS, ``4.N.0`` Android). Each user gets a
  release once its phased rollout reaches them (:data:`.params.CAPSTONE_ROLLOUT_SHARE`: a user's
  place in the rollout is drawn once), so ``events.app_version`` is the version the user's client
  ran at that moment.
- **The incident.** One release of one mobile client (drawn: platform, deploy in
  :data:`.params.CAPSTONE_RELEASE_WINDOW`) sends one onboarding step's API call (drawn:
  ``project_created`` through ``POST /v1/projects`` or ``task_created`` through
  ``POST /v1/projects/{project_id}/tasks``) in a form the API rejects: from that version on, a
  share of that step's attempts on that platform fail with a 4xx and the step never happens (its
  event, row, and what depended on it are gone: the tasks of a project never created, a created
  task's completion). New signups on that platform activate (a task within 7 days) less.
- **The API log.** Orbit's own clients' calls of both onboarding endpoints join the June log
  (``client_id`` ``orbit-web``/``orbit-ios``/``orbit-android``, with ``app_version``): one success
  per step done, a 4xx per failed attempt, and a few ordinary validation errors on every version.
- **Decoys** (:mod:`.capstone_decoys`): a paid-social campaign of low-intent signups and the
  ``welcome_tour`` experiment, both starting within days of the release.

The truth goes into ``ds.facts["capstone"]``: start date, segment, step, endpoint, cause deploy and
version, and the users lost per week, counted exactly (users who activated before the incident
was planted and no longer do). Draws come from streams of their own (``rng_for(seed,
"capstone...")``), so a re-seeded copy plants a different platform, release, step and dates.
``raw_events`` (module 6's raw layer) is not part of this scenario's database.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tpmlab.data.generate import capstone_decoys
from tpmlab.data.generate import params as P
from tpmlab.data.generate.core import DAY, Dataset, format_date, format_ts, rng_for, ts_of

CLIENTS = ("web", "ios", "android")
LAST_FULL_WINDOW_SIGNUP = "2025-06-23"  # the last signup date whose 7 days are in the data


def _versions(ds: Dataset, rng) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Give releases a version; returns platform -> (release times, version strings)."""
    dep = ds.tables["deploys"].copy()
    version = np.full(len(dep), None, dtype=object)
    out = {}
    for svc in CLIENTS:
        major, first = P.CAPSTONE_FIRST_VERSION[svc]
        rel = np.flatnonzero((dep.service == svc).to_numpy() & (dep.status == "success").to_numpy())
        v = np.array([f"{major}.{first + k}.0" for k in range(len(rel))], dtype=object)
        version[rel] = v
        out[svc] = (dep.deployed_at.to_numpy()[rel], v)
    dep["version"] = version
    ds.tables["deploys"] = dep
    return out


def _event_versions(ds: Dataset, releases, lag: np.ndarray) -> np.ndarray:
    """Each event's client version: its platform's latest release rolled out to its user."""
    ev = ds.tables["events"]
    t = ev.event_time.to_numpy()
    plat = ev.platform.astype(object).to_numpy()
    uid = ev.user_id.to_numpy()
    out = np.empty(len(ev), dtype=object)
    for svc in CLIENTS:
        rt, v = releases[svc]
        m = plat == svc
        lag_e = 0 if svc == "web" else lag[uid[m]]
        k = np.searchsorted(rt, t[m] - lag_e, side="right") - 1
        # before a platform's first release of the year, users run last year's last one
        out[m] = np.where(k >= 0, v[np.maximum(k, 0)], f"{P.CAPSTONE_FIRST_VERSION[svc][0]}.0.0")
    return out


def _rollout_lag(n_users: int, rng) -> np.ndarray:
    """Seconds after a release before each user (index = user_id) gets it: phased rollout."""
    place = rng.random(n_users)
    return (np.interp(place, P.CAPSTONE_ROLLOUT_SHARE, P.CAPSTONE_ROLLOUT_DAYS) * DAY).astype(
        np.int64
    )


def _break_step(ds: Dataset, step: str, hit: np.ndarray) -> None:
    """Remove the failed steps (``hit`` marks events) and what depended on them."""
    ev = ds.tables["events"]
    gone = ev.loc[hit]
    drop = hit.copy()
    tasks, projects = ds.tables["tasks"], ds.tables["projects"]
    if step == "project_created":
        key = pd.MultiIndex.from_arrays([gone.user_id, gone.event_time])
        pk = pd.MultiIndex.from_arrays([projects.created_by, projects.created_at])
        lost = projects.project_id.to_numpy()[pk.isin(key)]
        if len(lost) != len(gone):  # pragma: no cover - guarded by tests/test_data_capstone.py
            raise RuntimeError("a failed project creation matched no project")
        ds.tables["projects"] = projects[~projects.project_id.isin(lost)].reset_index(drop=True)
        drop |= ev.project_id.isin(lost).to_numpy()
        tasks = tasks[~tasks.project_id.isin(lost)]
    else:
        key = pd.MultiIndex.from_arrays([gone.user_id, gone.event_time])
        tk = pd.MultiIndex.from_arrays([tasks.created_by, tasks.created_at])
        lost_rows = tk.isin(key)
        if int(lost_rows.sum()) != len(gone):  # pragma: no cover - guarded by the tests
            raise RuntimeError("a failed task creation matched no task")
        done = tasks[lost_rows & (tasks.status == "done").to_numpy()]
        dk = pd.MultiIndex.from_arrays([done.created_by, done.project_id, done.completed_at])
        done_ev = ev.event_name.to_numpy() == "task_completed"
        ek = pd.MultiIndex.from_arrays([ev.user_id, ev.project_id, ev.event_time])
        drop |= done_ev & ek.isin(dk)
        tasks = tasks[~lost_rows]
    ds.tables["tasks"] = tasks.reset_index(drop=True)
    ds.tables["events"] = ev.loc[~drop].reset_index(drop=True)
    sessions = ds.tables["sessions"]
    kept = sessions.session_id.isin(ds.tables["events"].session_id)
    ds.tables["sessions"] = sessions[kept].reset_index(drop=True)


def _app_requests(ds: Dataset, rng, failed: pd.DataFrame, cause) -> pd.DataFrame:
    """Orbit's own clients' onboarding calls in June: successes, failures, validation errors."""
    ev = ds.tables["events"]
    june = ts_of(P.API_START)
    users = ds.tables["users"].set_index("user_id")
    parts = []
    for step, (method, endpoint, ok) in P.CAPSTONE_STEPS.items():
        done = ev[(ev.event_name == step).to_numpy() & (ev.event_time.to_numpy() >= june)]
        fail = failed[failed.event_name == step] if step == cause["step"] else failed.iloc[:0]
        for rows, status in ((done, None), (fail, "broken")):
            n = len(rows)
            if n == 0:
                continue
            if status is None:
                st = np.full(n, ok)
            else:
                st = np.where(rng.random(n) < P.CAPSTONE_ERROR_422_P, *P.CAPSTONE_ERROR_STATUS)
            ws = users.workspace_id.reindex(rows.user_id.to_numpy()).to_numpy()
            if step == "project_created":
                key = "workspace:" + ws.astype(str).astype(object)
            else:
                key = "project:" + rows.project_id.to_numpy().astype(str).astype(object)
            parts.append(
                pd.DataFrame(
                    {
                        "ts": rows.event_time.to_numpy() - 1,
                        "client_id": "orbit-" + rows.platform.astype(object).to_numpy(),
                        "method": method,
                        "endpoint": endpoint,
                        "resource_key": key,
                        "status": st.astype(np.int64),
                        "app_version": rows.app_version.to_numpy(),
                        "ok": status is None,
                    }
                )
            )
    req = pd.concat(parts, ignore_index=True)
    # ordinary validation errors (an empty name...), retried a few seconds later, on any version
    retry = req[req.ok & (rng.random(len(req)) < P.CAPSTONE_BASE_ERROR_P)].copy()
    retry["ts"] = retry.ts - 3 - rng.integers(0, 20, len(retry))
    retry["status"] = 400
    req = pd.concat([req, retry], ignore_index=True)
    good = req.status.to_numpy() < 300
    med = np.where(req.endpoint == "/v1/projects", 90.0, 85.0)
    req["latency_ms"] = np.round(rng.lognormal(np.log(med), 0.55), 1)
    size = np.where(good, rng.lognormal(np.log(np.where(med == 90.0, 1400, 950)), 0.7), 0)
    size = np.where(good, size, rng.integers(150, 420, len(req)))
    req["bytes_out"] = np.round(size).astype(np.int64)
    return req.drop(columns="ok")


def plant_activation_drop(seed: int, ds: Dataset) -> None:
    """Plant the capstone's incident and decoys in ``ds``; the truth goes to ``ds.facts``."""
    rng = rng_for(seed, "capstone")
    platform = str(rng.choice(P.CAPSTONE_PLATFORMS))
    step = str(rng.choice(list(P.CAPSTONE_STEPS)))
    fail_share = float(rng.uniform(*P.CAPSTONE_FAIL_SHARE))
    dep = ds.tables["deploys"]
    t = dep.deployed_at.to_numpy()
    lo, hi = (ts_of(d) for d in P.CAPSTONE_RELEASE_WINDOW)
    cand = np.flatnonzero(
        (dep.service == platform).to_numpy()
        & (dep.status == "success").to_numpy()
        & (t >= lo)
        & (t < hi)
    )
    if len(cand) == 0:  # pragma: no cover - every seed has mobile deploys each week
        raise RuntimeError(f"no {platform} release in {P.CAPSTONE_RELEASE_WINDOW}")
    i = int(rng.choice(cand))
    release_t, release_id = int(t[i]), int(dep.deploy_id.iloc[i])
    release_day = release_t // DAY
    exp_day = release_day - int(rng.integers(P.CAPSTONE_EXPERIMENT_LEAD_DAYS[0], 4))
    camp_day = release_day + int(rng.integers(P.CAPSTONE_CAMPAIGN_OFFSET_DAYS[0], 3))

    campaign = capstone_decoys.add_campaign(seed, ds, camp_day)
    releases = _versions(ds, rng)
    lag = _rollout_lag(int(ds.tables["users"].user_id.max()) + 1, rng)
    ds.tables["events"]["app_version"] = _event_versions(ds, releases, lag)
    rt, versions = releases[platform]
    k = int(np.searchsorted(rt, release_t))
    cause_version = str(versions[k])
    broken = set(versions[k:].tolist())

    users = ds.tables["users"]
    before = capstone_decoys.activated(users, ds.tables["events"])
    ev = ds.tables["events"]
    hit = (
        (ev.event_name == step).to_numpy()
        & (ev.platform == platform).to_numpy()
        & ev.app_version.isin(broken).to_numpy()
    )
    hit &= rng.random(len(ev)) < fail_share
    failed = ev.loc[hit].copy()
    _break_step(ds, step, hit)
    after = capstone_decoys.activated(users, ds.tables["events"])

    cause = {"step": step}
    app = _app_requests(ds, rng, failed, cause)
    api = ds.tables["api_requests"].copy()
    api["app_version"] = None
    api = pd.concat([api.drop(columns="request_id"), app], ignore_index=True)
    api = api.sort_values("ts", kind="stable").reset_index(drop=True)
    api.insert(0, "request_id", np.arange(1, len(api) + 1))
    ds.tables["api_requests"] = api
    experiment = capstone_decoys.add_experiment(seed, ds, exp_day)

    last = ts_of(LAST_FULL_WINDOW_SIGNUP) // DAY
    d = users.signup_date.to_numpy()
    window = (d >= release_day) & (d <= last)
    weeks = (last - release_day + 1) / 7
    lost = int((before & ~after & window).sum())
    method, endpoint, _ = P.CAPSTONE_STEPS[step]
    fails = app[(app.app_version.isin(broken)) & (app.endpoint == endpoint) & (app.status >= 400)]
    ds.facts["capstone"] = {
        "scenario": "activation-drop",
        "metric": "activation_7d: share of new signups with a task_created event within 7 days",
        "start_date": format_date(np.array([release_day]))[0],
        "start_at": format_ts(np.array([release_t]))[0],
        "segment": {"platform": platform},
        "broken_step": step,
        "endpoint": {"method": method, "path": endpoint},
        "error_statuses": sorted(set(fails.status.tolist())),
        "cause_deploy_id": release_id,
        "cause_app_version": cause_version,
        "broken_app_versions": sorted(broken, key=lambda v: int(v.split(".")[1])),
        "failure_share_of_attempts": round(fail_share, 4),
        "failed_attempts": len(failed),
        "impact_window": [format_date(np.array([release_day]))[0], LAST_FULL_WINDOW_SIGNUP],
        "users_lost": lost,
        "users_lost_per_week": round(lost / weeks, 2),
        "rollout": {
            "days": P.CAPSTONE_ROLLOUT_DAYS.tolist(),
            "share": P.CAPSTONE_ROLLOUT_SHARE.tolist(),
        },
        "decoys": {"experiment": experiment, "mix_shift": campaign},
    }
