"""Module 2's planted metric drop and its decoy, both in ``task_completed`` events before June.

- **The real drop** (:data:`.params.METRIC_DROP`): a mobile release (iOS for seed 42) makes
  completing a task harder. From that release until the platform's next release (the fix), a
  share of the task completions made on that platform never happen: the ``task_completed`` event is not
  there *and* the task stays open in ``tasks`` (``status`` todo or in progress,
  ``completed_at`` NULL). Users' behaviour changed, so the source of truth shows it too.
- **The decoy** (:data:`.params.METRIC_DECOY`): a release of the other mobile platform (Android for
  seed 42) stops *logging* a share of its ``task_completed`` events until its next release. The
  events metric falls for that platform, but
  ``tasks`` (written by the server, not the client) keeps every completion: reconciling the two
  shows a tracking change, not users.

Both windows start at a real deploy of the service in ``deploys`` and end at its next
successful deploy at least :data:`.params.METRIC_DROP_MIN_DAYS` later, all before June 1, so the
June tables (``raw_events``, ``api_requests``) and every other table stay as they were. The
windows, the order of the two, the platforms and the sizes are drawn from the seed on a stream of their own
(``rng_for(seed, "metric_drop")``), so a re-seeded copy plants them elsewhere. Removed events
leave gaps in ``event_id`` (ids are never reused), and so do sessions left without any event
(``sessions`` is built from events); ``tasks`` keeps all its rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tpmlab.data.generate import params as P
from tpmlab.data.generate.core import (
    DAY,
    NULL_TS,
    Dataset,
    format_date,
    format_ts,
    rng_for,
    ts_of,
)


def _window(
    deploys: pd.DataFrame, service: str, lo: str, hi: str, rng
) -> tuple[int, int, int, int]:
    """A release of ``service`` starting in [lo, hi) and its fix: (start, end, ids)."""
    ok = deploys[(deploys.service == service) & (deploys.status == "success")]
    t = ok.deployed_at.to_numpy()
    cand = np.flatnonzero((t >= ts_of(lo)) & (t < ts_of(hi)))
    if len(cand) == 0:  # pragma: no cover - every seed has mobile deploys each week
        raise RuntimeError(f"no {service} deploy between {lo} and {hi} to plant a metric change")
    i = int(rng.choice(cand))
    start = int(t[i])
    later = np.flatnonzero(t >= start + P.METRIC_DROP_MIN_DAYS * DAY)
    cutoff = ts_of(P.API_START)
    if len(later) and t[later[0]] < cutoff:
        end, fix_id = int(t[later[0]]), int(ok.deploy_id.iloc[later[0]])
    else:  # no fix before June: the window closes on May 31 (the June tables stay untouched)
        end, fix_id = cutoff, -1
    return start, end, int(ok.deploy_id.iloc[i]), fix_id


def _fact(kind: dict, service, start, end, rel, fix, share: float, n: int) -> dict:
    return {
        "metric": "task completions (task_completed events)",
        "segment": {"platform": service},
        "start_date": format_date(np.array([start // DAY]))[0],
        "end_date": format_date(np.array([(end - 1) // DAY]))[0],
        "start_at": format_ts(np.array([start]))[0],
        "end_at": format_ts(np.array([end]))[0],
        "release_deploy_id": rel,
        "fix_deploy_id": fix,
        "share_removed": round(share, 4),
        "events_removed": n,
        "cause": kind["cause"].format(platform=service),
        "kind": kind["kind"],
        "detect": kind["detect"].format(platform=service),
    }


def plant_metric_drop(seed: int, ds: Dataset) -> None:
    """Plant the drop and the decoy in ``events`` and ``tasks``; record both in ``ds.facts``."""
    rng = rng_for(seed, "metric_drop")
    dep = ds.tables["deploys"]
    ev = ds.tables["events"]
    slots = list(P.METRIC_DROP_SLOTS)
    if rng.random() < 0.5:
        slots.reverse()  # which of the two comes first is drawn too
    facts = {}
    drop = np.zeros(len(ev), dtype=bool)
    tasks = ds.tables["tasks"]
    reopen = np.zeros(len(tasks), dtype=bool)
    name = ev.event_name.to_numpy()
    plat = ev.platform.to_numpy()
    t = ev.event_time.to_numpy()
    done_t = tasks.completed_at.to_numpy()
    platforms = list(P.METRIC_DROP_PLATFORMS)
    if rng.random() < 0.5:
        platforms.reverse()  # and which platform has the drop, which the decoy
    for spec, (lo, hi), svc in zip((P.METRIC_DROP, P.METRIC_DECOY), slots, platforms, strict=True):
        start, end, rel, fix = _window(dep, svc, lo, hi, rng)
        share = float(rng.uniform(*spec["share_range"]))
        hit = (name == "task_completed") & (plat == svc) & (t >= start) & (t < end)
        hit &= rng.random(len(ev)) < share
        drop |= hit
        if spec["kind"] == "behaviour":
            # the same completions never happened: their tasks stay open (a completion is
            # matched to its task by user, project and time, which are unique per completion)
            gone = ev.loc[hit, ["user_id", "project_id", "event_time"]]
            key = tasks[["created_by", "project_id", "completed_at"]].set_axis(
                ["user_id", "project_id", "event_time"], axis=1
            )
            m = key.reset_index().merge(gone, on=["user_id", "project_id", "event_time"])
            if len(m) != int(hit.sum()):  # pragma: no cover - guarded by tests/test_data_drop.py
                raise RuntimeError("a removed completion matched no task")
            reopen[m["index"].to_numpy()] = True
        key = "metric_drop" if spec["kind"] == "behaviour" else "metric_decoy"
        facts[key] = _fact(spec, svc, start, end, rel, fix, share, int(hit.sum()))
    ds.tables["events"] = ev.loc[~drop].reset_index(drop=True)
    # a session is built from its events: one whose only events are gone is gone too
    sessions = ds.tables["sessions"]
    kept = np.isin(sessions.session_id.to_numpy(), ds.tables["events"].session_id.to_numpy())
    ds.tables["sessions"] = sessions.loc[kept].reset_index(drop=True)
    tasks = tasks.copy()
    n = int(reopen.sum())
    tasks.loc[reopen, "status"] = np.where(
        rng.random(n) < P.TASK_IN_PROGRESS_P, "in_progress", "todo"
    ).astype(object)
    done_t = np.where(reopen, NULL_TS, done_t)
    tasks["completed_at"] = done_t
    ds.tables["tasks"] = tasks
    ds.facts["metric_drop"] = facts["metric_drop"]
    ds.facts["metric_decoy"] = facts["metric_decoy"]
