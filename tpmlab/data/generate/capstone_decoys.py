"""The capstone's two decoys: a marketing mix shift (a low-intent campaign) and an experiment.

- **Mix shift** (:func:`add_campaign`): from a few days around the release, a paid-social campaign
  brings extra signups. Each is a lookalike of a workspace owner who signed up alone one or two
  weeks earlier (the same behaviour, every row shifted by whole weeks, new ids, channel
  ``paid_social``), drawn so that low-intent users are over-represented: the campaign's users
  activate less than others, on every platform. It lowers the overall activation rate a little,
  everywhere, which makes "the mix changed" a plausible but smaller and wrong explanation.
- **Experiment** (:func:`add_experiment`): ``welcome_tour`` is launched one to three days before
  the release and assigns every new signup 50/50 at random. It changes nothing: the arms'
  activation is the same, before and after the release, because nothing in the data depends on
  the arm.

Both draw from their own random streams, so adding one does not move the other's draws.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tpmlab.data.generate import params as P
from tpmlab.data.generate.core import DAY, DAYS, LAST, NULL_TS, Dataset, format_date, rng_for


def activated(users: pd.DataFrame, events: pd.DataFrame) -> np.ndarray:
    """Per user (in ``users`` order): a ``task_created`` event within 7 days of signing up."""
    tc = events[events.event_name == "task_created"]
    signup = pd.Series(users.signup_at.to_numpy(), index=users.user_id.to_numpy())
    t0 = signup.reindex(tc.user_id.to_numpy()).to_numpy()
    ok = tc.event_time.to_numpy() <= t0 + 7 * DAY
    hit = np.unique(tc.user_id.to_numpy()[ok])
    return np.isin(users.user_id.to_numpy(), hit)


def _shift(df: pd.DataFrame, cols: list[str], delta: np.ndarray) -> pd.DataFrame:
    for c in cols:
        v = df[c].to_numpy()
        df[c] = np.where(v == NULL_TS, NULL_TS, v + delta)
    return df


def add_campaign(seed: int, ds: Dataset, start_day: int) -> dict:
    """Add the campaign's lookalike signups from ``start_day``; returns its facts."""
    rng = rng_for(seed, "capstone_campaign")
    users, ev = ds.tables["users"], ds.tables["events"]
    members = users.groupby("workspace_id").user_id.transform("size").to_numpy()
    alone = (users.is_workspace_owner.to_numpy() == 1) & (members == 1)
    act = activated(users, ev)
    weight = np.where(act, P.CAPSTONE_CAMPAIGN_ACTIVATED_WEIGHT, 1.0)
    day = users.signup_date.to_numpy()
    per_day = np.bincount(day, minlength=DAYS)
    src, shift = [], []
    used = np.zeros(len(users), dtype=bool)  # each lookalike's source is used once
    for d in range(start_day, DAYS):
        n = rng.poisson(P.CAPSTONE_CAMPAIGN_EXTRA_SHARE * per_day[d])
        k = rng.choice([7, 14], n)
        for weeks in (7, 14):
            want = int((k == weeks).sum())
            pool = np.flatnonzero(alone & ~used & (day == d - weeks))
            if want == 0 or len(pool) == 0:
                continue
            w = weight[pool] / weight[pool].sum()
            pick = rng.choice(pool, min(want, len(pool)), replace=False, p=w)
            used[pick] = True
            src.append(pick)
            shift.append(np.full(len(pick), weeks * DAY))
    src_i = np.concatenate(src)
    delta_u = np.concatenate(shift).astype(np.int64)
    n = len(src_i)
    src_uid = users.user_id.to_numpy()[src_i]
    new_uid = int(users.user_id.max()) + 1 + np.arange(n)
    new_ws = int(ds.tables["workspaces"].workspace_id.max()) + 1 + np.arange(n)
    umap = pd.Series(new_uid, index=src_uid)
    dmap = pd.Series(delta_u, index=src_uid)

    nu = users.iloc[src_i].copy()
    nu["user_id"], nu["workspace_id"] = new_uid, new_ws
    nu["signup_at"] = nu.signup_at.to_numpy() + delta_u
    nu["signup_date"] = nu.signup_at.to_numpy() // DAY
    nu["channel"] = P.CAPSTONE_CAMPAIGN_CHANNEL
    nws = pd.DataFrame(
        {
            "workspace_id": new_ws,
            "created_at": nu.signup_at.to_numpy(),
            "owner_user_id": new_uid,
            "current_plan": "free",
        }
    )

    sess = ds.tables["sessions"]
    ns = sess[sess.user_id.isin(src_uid)].copy()
    dl = dmap.reindex(ns.user_id.to_numpy()).to_numpy()
    ns = _shift(ns, ["started_at", "ended_at"], dl)
    ns = ns[ns.started_at <= LAST].copy()
    ns["ended_at"] = np.minimum(ns.ended_at.to_numpy(), LAST)
    smap = pd.Series(int(sess.session_id.max()) + 1 + np.arange(len(ns)), index=ns.session_id)
    ns["session_id"] = smap.to_numpy()
    ns["user_id"] = umap.reindex(ns.user_id.to_numpy()).to_numpy()

    proj = ds.tables["projects"]
    npj = proj[proj.created_by.isin(src_uid)].copy()
    npj = _shift(npj, ["created_at"], dmap.reindex(npj.created_by.to_numpy()).to_numpy())
    npj = npj[npj.created_at <= LAST].copy()
    pmap = pd.Series(int(proj.project_id.max()) + 1 + np.arange(len(npj)), index=npj.project_id)
    wmap = pd.Series(new_ws, index=users.workspace_id.to_numpy()[src_i])
    npj["project_id"] = pmap.to_numpy()
    npj["workspace_id"] = wmap.reindex(npj.workspace_id.to_numpy()).to_numpy()
    npj["created_by"] = umap.reindex(npj.created_by.to_numpy()).to_numpy()

    tasks = ds.tables["tasks"]
    nt = tasks[tasks.created_by.isin(src_uid)].copy()
    nt = _shift(
        nt, ["created_at", "completed_at"], dmap.reindex(nt.created_by.to_numpy()).to_numpy()
    )
    nt = nt[nt.created_at <= LAST].copy()
    late = nt.completed_at.to_numpy() > LAST
    nt.loc[late, "status"] = "in_progress"
    nt.loc[late, "completed_at"] = NULL_TS
    nt["task_id"] = int(tasks.task_id.max()) + 1 + np.arange(len(nt))
    nt["project_id"] = pmap.reindex(nt.project_id.to_numpy()).to_numpy()
    same = nt.assignee_id.to_numpy() == nt.created_by.to_numpy()
    nt["created_by"] = umap.reindex(nt.created_by.to_numpy()).to_numpy()
    nt["assignee_id"] = np.where(same, nt.created_by.to_numpy(), -1)

    ne = ev[ev.user_id.isin(src_uid)].copy()
    ne = _shift(ne, ["event_time"], dmap.reindex(ne.user_id.to_numpy()).to_numpy())
    ne = ne[ne.event_time <= LAST].copy()
    ne["event_date"] = ne.event_time.to_numpy() // DAY
    ne["event_id"] = int(ev.event_id.max()) + 1 + np.arange(len(ne))
    ne["session_id"] = smap.reindex(ne.session_id.to_numpy()).to_numpy()
    pid = ne.project_id.to_numpy()
    ne["project_id"] = np.where(pid < 0, -1, pmap.reindex(pid).fillna(-1).to_numpy()).astype(
        np.int64
    )
    ne["user_id"] = umap.reindex(ne.user_id.to_numpy()).to_numpy()
    # a session is built from its events: keep only those with an event left
    ns = ns[ns.session_id.isin(ne.session_id)]

    for name, extra in (
        ("users", nu),
        ("workspaces", nws),
        ("sessions", ns),
        ("projects", npj),
        ("tasks", nt),
        ("events", ne),
    ):
        ds.tables[name] = pd.concat([ds.tables[name], extra], ignore_index=True)
    ds.tables["events"]["event_name"] = ds.tables["events"].event_name.astype(ev.event_name.dtype)
    ds.tables["events"]["platform"] = ds.tables["events"].platform.astype(ev.platform.dtype)
    new_act = activated(nu, ne)
    return {
        "channel": P.CAPSTONE_CAMPAIGN_CHANNEL,
        "start_date": format_date(np.array([start_day]))[0],
        "extra_signups": int(n),
        "extra_share_of_daily_signups_planned": P.CAPSTONE_CAMPAIGN_EXTRA_SHARE,
        "campaign_activation_7d": round(float(new_act.mean()), 4),
        "explains": "part of a small drop on every platform, not the large drop on one platform",
    }


def add_experiment(seed: int, ds: Dataset, start_day: int) -> dict:
    """Launch the ``welcome_tour`` experiment on ``start_day`` for every later signup."""
    rng = rng_for(seed, "capstone_experiment")
    spec = P.CAPSTONE_EXPERIMENT
    end_day = int((np.datetime64(spec["end_date"]) - np.datetime64("2025-01-01")).astype(int))
    exp = ds.tables["experiments"]
    row = {k: spec[k] for k in exp.columns if k in spec}
    row |= {"unit": "user", "start_date": start_day, "end_date": end_day}
    ds.tables["experiments"] = pd.concat(
        [exp, pd.DataFrame([row]).astype(exp.dtypes.to_dict())], ignore_index=True
    )
    users = ds.tables["users"]
    d = users.signup_date.to_numpy()
    sel = users[(d >= start_day) & (d <= end_day)].sort_values("user_id")
    treat = rng.random(len(sel)) < spec["planned_treatment_share"]
    a = pd.DataFrame(
        {
            "experiment_id": spec["experiment_id"],
            "user_id": sel.user_id.to_numpy(),
            "variant": np.where(treat, "treatment", "control"),
            "assigned_at": sel.signup_at.to_numpy() + 1 + rng.integers(0, 30, len(sel)),
            "platform": sel.platform.to_numpy(),
        }
    )
    ds.tables["experiment_assignments"] = pd.concat(
        [ds.tables["experiment_assignments"], a.astype(ds.tables["experiment_assignments"].dtypes)],
        ignore_index=True,
    )
    return {
        "experiment_id": spec["experiment_id"],
        "start_date": format_date(np.array([start_day]))[0],
        "assigned_users": len(a),
        "true_abs_lift_activation_7d": 0.0,
        "explains": "nothing: the arms activate alike; it started near the drop, that is all",
    }
