"""Later activity and the event tables: retention, sessions, events, projects and tasks.

Retention and the weekly rhythm come from :mod:`.params`; :func:`finish_events` turns the
buffered events into the ``events``, ``sessions``, ``projects`` and ``tasks`` tables (tasks go
into an existing project, completions close the user's oldest open task).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tpmlab.data.generate import params as P
from tpmlab.data.generate.core import (
    DAY,
    DAYS,
    E_COMMENT,
    E_DONE,
    E_INVITE,
    E_ONBOARD,
    E_PROJECT,
    E_TASK,
    EVENT_NAMES,
    LAST,
    NULL_TS,
    Dataset,
    EventBuffer,
    Users,
    group_starts,
    rng_for,
    within_group_index,
)

CHUNK_USERS = 4000


def gen_activity(seed: int, u: Users, buf: EventBuffer) -> dict:
    rng = rng_for(seed, "activity")
    n = len(u.t)
    mult = (
        P.PLATFORM_RETENTION[u.platform]
        * P.CHANNEL_RETENTION[u.channel]
        * np.where(
            u.owner,
            np.where(
                u.has_project_day0,
                P.RETENTION_OWNER_WITH_PROJECT,
                P.RETENTION_OWNER_WITHOUT_PROJECT,
            ),
            P.RETENTION_INVITEE,
        )
        * np.where(u.onboarded_day0, 1.0, P.RETENTION_NOT_ONBOARDED)
    )
    c_u = np.minimum(P.RET_C * mult, 0.9)
    b_u = P.RET_B / np.sqrt(mult)
    forever = rng.random(n) < c_u
    lifetime = np.floor(np.minimum(rng.random(n) ** (-1.0 / b_u), 1e6)).astype(np.int64) - 1
    q_u = rng.beta(*P.RET_Q, n)
    remaining = (DAYS - 1) - u.day  # later days available
    alive_days = np.where(forever, remaining, np.minimum(remaining, lifetime))
    weekday_f = P.ACTIVE_WEEKDAY
    other_platform = np.array([[1, 2], [0, 0], [0, 0]])  # web users also use ios/android, etc.
    name_p = P.EVENT_NAME_P
    n_events_total = 0
    for lo in range(0, n, CHUNK_USERS):
        hi = min(n, lo + CHUNK_USERS)
        idx = np.arange(lo, hi)
        rem = np.maximum(alive_days[idx], 0)
        cand_user = np.repeat(idx, rem)
        d = within_group_index(rem) + 1  # days since signup, 1..alive days
        abs_day = u.day[cand_user] + d
        p = q_u[cand_user] * weekday_f[(abs_day + 2) % 7]
        active = rng.random(len(p)) < np.minimum(p, 0.97)
        au, aday = cand_user[active], abs_day[active]
        # sessions per active day and their start times
        ns = 1 + rng.poisson(P.EXTRA_SESSIONS_MEAN, len(au))
        su = np.repeat(au, ns)
        sday = np.repeat(aday, ns)
        start = sday * DAY + np.clip(rng.normal(14.5 * 3600, 4.0 * 3600, len(su)), 0, DAY - 1)
        start = start.astype(np.int64)
        o = np.lexsort((start, su))
        su, start = su[o], start[o]
        plat = u.platform[su].copy()
        switch = rng.random(len(su)) < P.OTHER_PLATFORM_P
        plat[switch] = other_platform[plat[switch], rng.integers(0, 2, int(switch.sum()))]
        # events per session: heavy-tailed (negative binomial), gaps of a minute or so
        ne = 1 + rng.negative_binomial(1.0, 1.0 / (1.0 + 3.0), len(su))
        end_gap = 10 + rng.exponential(90, len(su)).astype(np.int64)
        eu = np.repeat(su, ne)
        gaps = 5 + rng.exponential(70, len(eu)).astype(np.int64)
        first = group_starts(ne)
        gaps[first] = 0
        cs = np.cumsum(gaps)
        offs = cs - np.repeat(cs[first], ne)
        et = np.repeat(start, ne) + offs
        last_off = offs[first + ne - 1]
        sess = buf.new_sessions(su, start, start + last_off + end_gap, plat)
        es = np.repeat(sess, ne)
        names = rng.choice(10, size=len(eu), p=name_p).astype(np.int8)
        # the first event of a returning user: finish onboarding, or create the missing project
        first_ev = np.unique(eu, return_index=True)[1]
        fu = eu[first_ev]
        late_onb = (~u.onboarded_day0[fu]) & (rng.random(len(fu)) < P.LATE_ONBOARD_P)
        names[first_ev[late_onb]] = E_ONBOARD
        need_proj = u.onboarded_day0[fu] & u.owner[fu] & ~u.has_project_day0[fu]
        late_proj = need_proj & (rng.random(len(fu)) < P.LATE_PROJECT_P)
        names[first_ev[late_proj]] = E_PROJECT
        # users who never onboard only browse and comment
        onboarded_ever = u.onboarded_day0.copy()
        onboarded_ever[fu[late_onb]] = True
        never = ~onboarded_ever[eu]
        names[never & ((names == E_PROJECT) | (names == E_INVITE))] = E_COMMENT
        buf.add(eu, et, names, es)
        n_events_total += len(eu)
    return {"activity_events_before_cleanup": int(n_events_total)}


_PROJECT_WORDS_A = np.array(
    ["Q3", "Website", "Mobile", "Launch", "Customer", "Hiring", "Marketing", "Billing"]
    + ["Onboarding", "Data", "Security", "Sales", "Design", "Support", "Brand", "Partner"]
    + ["Platform", "Growth", "Roadmap", "Infra"],
    dtype=object,
)
_PROJECT_WORDS_B = np.array(
    ["redesign", "plan", "backlog", "sprint", "migration", "campaign", "review", "rollout"]
    + ["research", "pipeline", "audit", "playbook", "refresh", "tracker"],
    dtype=object,
)
_TASK_VERBS = np.array(
    ["Draft", "Review", "Fix", "Update", "Write", "Prepare", "Schedule", "Test", "Ship"]
    + ["Design", "Plan", "Clean up", "Sync on", "Follow up on", "Document"],
    dtype=object,
)
_TASK_OBJECTS = np.array(
    [
        "the release notes",
        "login bug",
        "pricing copy",
        "Q3 OKRs",
        "onboarding emails",
        "API docs",
        "invoice template",
        "dashboard",
        "customer interview notes",
        "sprint board",
        "launch checklist",
        "hiring plan",
        "landing page",
        "security review",
        "data export",
        "team offsite",
    ],
    dtype=object,
)


def _dedupe_times(user, t, name, only: int | None = None) -> np.ndarray:
    """Shift events by a second until no user has two same-named events in the same second.

    With ``only``, just events of that name are moved (the others never collide).
    """
    t = t.copy()
    for _ in range(50):
        key = (user << 28) | (name.astype(np.int64) << 24) | t  # t < 2**24 seconds
        o = np.argsort(key, kind="stable")
        sk = key[o]
        dup = np.zeros(len(o), dtype=bool)
        dup[1:] = sk[1:] == sk[:-1]
        if only is not None:
            dup &= name[o] == only
        if not dup.any():
            return t
        t[o[dup]] += 1
    raise RuntimeError("could not make event times unique")  # pragma: no cover


def finish_events(seed: int, u: Users, buf: EventBuffer, ds: Dataset) -> None:
    rng = rng_for(seed, "entities")
    user, t, name, sess, _ = buf.events()
    keep = t <= LAST
    user, t, name, sess = user[keep], t[keep], name[keep], sess[keep]
    t = _dedupe_times(user, t, name)
    keep = t <= LAST
    user, t, name, sess = user[keep], t[keep], name[keep], sess[keep]
    ws = u.ws[user]

    # projects come from project_created events
    pi = np.flatnonzero(name == E_PROJECT)
    pi = pi[np.lexsort((user[pi], t[pi]))]
    n_proj = len(pi)
    proj_ws, proj_t = ws[pi], t[pi]
    pkey = proj_ws * (1 << 25) + proj_t
    porder = np.argsort(pkey, kind="stable")
    pkey_sorted = pkey[porder]
    project = np.full(len(t), -1, dtype=np.int64)
    project[pi] = np.arange(1, n_proj + 1)

    # tasks go into a project of the user's workspace that already exists (a recent one, mostly)
    ti = np.flatnonzero(name == E_TASK)
    lo = np.searchsorted(pkey_sorted, ws[ti] * (1 << 25), side="left")
    hi = np.searchsorted(pkey_sorted, ws[ti] * (1 << 25) + t[ti], side="left")
    none = hi <= lo
    name[ti[none]] = E_COMMENT  # nowhere to put a task: the user comments instead
    ti, lo, hi = ti[~none], lo[~none], hi[~none]
    back = np.minimum(rng.geometric(P.TASK_RECENT_PROJECT_P, len(ti)) - 1, hi - lo - 1)
    project[ti] = porder[hi - 1 - back] + 1

    # task_completed closes the user's own oldest open task (FIFO), if one exists by then
    ti = ti[np.lexsort((t[ti], user[ti]))]
    ci = np.flatnonzero(name == E_DONE)
    ci = ci[np.lexsort((t[ci], user[ci]))]
    t_rank = within_group_index(np.unique(user[ti], return_counts=True)[1])
    c_rank = within_group_index(np.unique(user[ci], return_counts=True)[1])
    tk = pd.DataFrame({"u": user[ti], "r": t_rank, "ti": ti})
    ck = pd.DataFrame({"u": user[ci], "r": c_rank, "ci": ci})
    mt = ck.merge(tk, on=["u", "r"], how="left")
    ok = mt["ti"].notna().to_numpy().copy()
    ok[ok] = t[mt["ti"].to_numpy()[ok].astype(np.int64)] < t[mt["ci"].to_numpy()[ok]]
    ci_ok = mt["ci"].to_numpy()[ok]
    ti_done = mt["ti"].to_numpy()[ok].astype(np.int64)
    bad_ci = mt["ci"].to_numpy()[~ok]
    name[bad_ci] = E_COMMENT
    project[ci_ok] = project[ti_done]

    # conversions to comment_added can collide with an existing comment in the same second:
    # nudge comments (nothing depends on their exact time) until times are unique again
    t = _dedupe_times(user, t, name, only=E_COMMENT)
    keep = t <= LAST
    if not keep.all():
        user, t, name, sess, project = user[keep], t[keep], name[keep], sess[keep], project[keep]
        # positions changed: recompute the maps used below
        pi = np.flatnonzero(name == E_PROJECT)
        pi = pi[np.lexsort((user[pi], t[pi]))]
        ti = np.flatnonzero(name == E_TASK)
        ti = ti[np.lexsort((t[ti], user[ti]))]
        old_pos = np.flatnonzero(keep)
        new_pos = np.full(len(keep), -1, dtype=np.int64)
        new_pos[old_pos] = np.arange(len(old_pos))
        ti_done, ci_ok = new_pos[ti_done], new_pos[ci_ok]

    # order events by time and number them
    o = np.lexsort((name, user, t))
    inv = np.empty(len(o), dtype=np.int64)
    inv[o] = np.arange(len(o))
    user, t, name, sess, project = user[o], t[o], name[o], sess[o], project[o]

    # sessions: stretch each to cover its events, drop empty ones, number by start
    s_user, s_start, s_end, s_plat, s_id = buf.session_arrays()
    pos = np.empty(int(s_id.max()) + 1, dtype=np.int64)
    pos[s_id] = np.arange(len(s_id))
    sp = pos[sess]
    ev_min = np.full(len(s_id), np.iinfo(np.int64).max)
    ev_max = np.full(len(s_id), -1, dtype=np.int64)
    np.minimum.at(ev_min, sp, t)
    np.maximum.at(ev_max, sp, t)
    used = ev_max >= 0
    s_start = np.minimum(s_start, ev_min)
    s_end = np.minimum(np.maximum(s_end, ev_max), LAST)
    s_end = np.maximum(s_end, ev_max)
    so = np.flatnonzero(used)
    so = so[np.lexsort((s_user[so], s_start[so]))]
    new_sid = np.zeros(len(s_id), dtype=np.int64)
    new_sid[so] = np.arange(1, len(so) + 1)
    ds.tables["sessions"] = pd.DataFrame(
        {
            "session_id": new_sid[so],
            "user_id": s_user[so] + 1,
            "platform": P.PLATFORMS[s_plat[so]],
            "started_at": s_start[so],
            "ended_at": s_end[so],
        }
    )
    ev_plat = s_plat[sp]
    ds.tables["events"] = pd.DataFrame(
        {
            "event_id": np.arange(1, len(t) + 1),
            "user_id": user + 1,
            "session_id": new_sid[sp],
            "event_time": t,
            "event_date": t // DAY,
            "event_name": pd.Categorical.from_codes(name, EVENT_NAMES),
            "platform": pd.Categorical.from_codes(ev_plat, P.PLATFORMS),
            "project_id": project,
        }
    )

    # projects table
    nm = (
        _PROJECT_WORDS_A[rng.integers(0, len(_PROJECT_WORDS_A), n_proj)]
        + " "
        + _PROJECT_WORDS_B[rng.integers(0, len(_PROJECT_WORDS_B), n_proj)]
    )
    ds.tables["projects"] = pd.DataFrame(
        {
            "project_id": np.arange(1, n_proj + 1),
            "workspace_id": proj_ws,
            "name": nm,
            "created_by": user[inv[pi]] + 1,
            "created_at": proj_t,
            "archived": (rng.random(n_proj) < P.PROJECT_ARCHIVED_P).astype(np.int64),
        }
    )

    # tasks table, in creation order; assignee is a workspace member who had joined by then
    ti_all = np.sort(inv[ti])  # positions in the time-ordered arrays
    n_tasks = len(ti_all)
    done_pos = np.full(len(o), -1, dtype=np.int64)
    done_pos[inv[ti_done]] = inv[ci_ok]
    tdone = done_pos[ti_all]
    t_user = user[ti_all]
    t_ws = u.ws[t_user]
    mkey_sorted = np.sort(u.ws * (1 << 25) + u.t)
    m_user = np.argsort(u.ws * (1 << 25) + u.t, kind="stable")
    mlo = np.searchsorted(mkey_sorted, t_ws * (1 << 25), side="left")
    mhi = np.searchsorted(mkey_sorted, t_ws * (1 << 25) + t[ti_all], side="right")
    pick = mlo + (rng.random(n_tasks) * (mhi - mlo)).astype(np.int64)
    assignee = np.where(rng.random(n_tasks) < P.TASK_ASSIGNED_P, m_user[pick] + 1, -1)
    open_status = np.where(
        rng.random(n_tasks) < P.TASK_IN_PROGRESS_P, "in_progress", "todo"
    ).astype(object)
    title = (
        _TASK_VERBS[rng.integers(0, len(_TASK_VERBS), n_tasks)]
        + " "
        + _TASK_OBJECTS[rng.integers(0, len(_TASK_OBJECTS), n_tasks)]
    )
    ds.tables["tasks"] = pd.DataFrame(
        {
            "task_id": np.arange(1, n_tasks + 1),
            "project_id": project[ti_all],
            "title": title,
            "created_by": t_user + 1,
            "assignee_id": assignee,
            "status": np.where(tdone >= 0, "done", open_status).astype(object),
            "priority": np.array(["low", "medium", "high"], dtype=object)[
                rng.choice(3, n_tasks, p=P.TASK_PRIORITY_P)
            ],
            "created_at": t[ti_all],
            "completed_at": np.where(tdone >= 0, t[np.maximum(tdone, 0)], NULL_TS),
        }
    )
