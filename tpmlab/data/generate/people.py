"""Users, workspaces and the day-0 onboarding funnel (owners, invitees, their first events)."""

from __future__ import annotations

import numpy as np

from tpmlab.data.generate import params as P
from tpmlab.data.generate.core import (
    DAY,
    DAYS,
    E_ACCEPT,
    E_INVITE,
    E_ONBOARD,
    E_PROJECT,
    E_SIGNUP,
    E_TASK,
    EventBuffer,
    Users,
    choice_idx,
    rng_for,
    within_group_index,
)


def _gen_users(rng: np.random.Generator, scale: float) -> tuple[np.ndarray, ...]:
    d = np.arange(DAYS)
    base = P.SIGNUPS_PER_DAY_START + P.SIGNUPS_PER_DAY_GROWTH * d / (DAYS - 1)
    week = P.SIGNUP_WEEKDAY
    dow = (d + 2) % 7  # 2025-01-01 was a Wednesday
    counts = rng.poisson(base * week[dow] * scale)
    n = int(counts.sum())
    day = np.repeat(d, counts).astype(np.int64)
    sec = (rng.normal(14.5 * 3600, 4.5 * 3600, n) % DAY).astype(np.int64)
    t = np.sort(day * DAY + sec, kind="stable")
    day = t // DAY
    platform = choice_idx(rng, P.PLATFORM_P, n).astype(np.int8)
    channel = choice_idx(rng, P.CHANNEL_P, n).astype(np.int8)
    country = choice_idx(rng, P.COUNTRY_P, n).astype(np.int8)
    owner = rng.random(n) < P.OWNER_SHARE
    owner[day == 0] = True
    return t, day, platform, channel, country, owner


def gen_people_and_funnel(seed: int, scale: float, buf: EventBuffer) -> tuple[Users, dict]:
    rng = rng_for(seed, "users")
    t, day, platform, channel, country, owner = _gen_users(rng, scale)
    n = len(t)
    frng = rng_for(seed, "funnel")

    # --- owners' day-0 funnel (computed for everyone, used for owners) ---
    onb_p = P.ONBOARD_P_BY_PLATFORM[platform]
    early = frng.random(n) < P.PROJECT_BEFORE_ONBOARDING_P
    onboarded = np.where(
        early, frng.random(n) < P.ONBOARD_AFTER_EARLY_PROJECT_P, frng.random(n) < onb_p
    )
    t_proj_early = t + 20 + frng.exponential(60, n).astype(np.int64)
    t_onb = np.where(
        early,
        t_proj_early + 60 + frng.exponential(240, n).astype(np.int64),
        t + 60 + frng.exponential(240, n).astype(np.int64),
    )
    proj = early | (onboarded & (frng.random(n) < P.PROJECT_AFTER_ONBOARDING_P))
    t_proj = np.where(early, t_proj_early, t_onb + 30 + frng.exponential(180, n).astype(np.int64))
    task = proj & (frng.random(n) < P.FIRST_TASK_P)
    n_tasks = np.where(task, 1 + frng.poisson(P.EXTRA_TASKS_MEAN, n), 0)
    t_task0 = np.maximum(t_proj, np.where(onboarded, t_onb, 0)) + 20
    t_task0 = t_task0 + frng.exponential(120, n).astype(np.int64)
    inviter = task & (frng.random(n) < P.INVITER_P)

    # --- invitees pick a workspace whose owner has already sent invites ---
    # (owner-ness is final for day-0 users; invitees with nobody to invite them become owners)
    task_span = n_tasks * 45
    t_inv_first = t_task0 + task_span + 30 + frng.exponential(120, n).astype(np.int64)
    inv_owner_idx = np.flatnonzero(owner & inviter)
    order = np.argsort(t_inv_first[inv_owner_idx], kind="stable")
    inv_owner_idx = inv_owner_idx[order]
    first_inv_sorted = t_inv_first[inv_owner_idx]
    invitee = np.flatnonzero(~owner)
    k = np.searchsorted(first_inv_sorted, t[invitee], side="left")
    nobody = k == 0
    owner[invitee[nobody]] = True
    bare_owner = np.zeros(n, dtype=bool)  # owners that skipped the whole funnel
    bare_owner[invitee[nobody]] = True
    invitee, k = invitee[~nobody], k[~nobody]
    recent = frng.random(len(invitee)) < P.INVITEE_RECENT_OWNER_P
    back = np.minimum(frng.exponential(40, len(invitee)).astype(np.int64), k - 1)
    j = np.where(recent, k - 1 - back, (frng.random(len(invitee)) * k).astype(np.int64))
    inviting_owner = inv_owner_idx[j]

    owners = np.flatnonzero(owner)
    ws_of_owner = np.zeros(n, dtype=np.int64)
    ws_of_owner[owners] = np.arange(1, len(owners) + 1)
    ws = ws_of_owner.copy()
    ws[invitee] = ws_of_owner[inviting_owner]

    o_on = owner & ~bare_owner
    onboarded_o = onboarded & o_on
    early_o = early & o_on
    proj_o = proj & o_on
    task_o = task & o_on
    inviter_o = inviter & o_on

    # day-0 sessions: one per user, starting at signup
    all_idx = np.arange(n)
    s0 = buf.new_sessions(
        all_idx, t.copy(), t + 60 + frng.exponential(120, n).astype(np.int64), platform
    )  # stretched later to cover the funnel's events
    buf.add(all_idx, t, E_SIGNUP, s0)
    i = np.flatnonzero(onboarded_o)
    buf.add(i, t_onb[i], E_ONBOARD, s0[i])
    i = np.flatnonzero(proj_o)
    buf.add(i, t_proj[i], E_PROJECT, s0[i])
    i = np.flatnonzero(task_o)
    reps = n_tasks[i]
    tu = np.repeat(i, reps)
    tt = np.repeat(t_task0[i], reps) + within_group_index(reps) * 45
    tt = tt + frng.integers(0, 30, len(tt))
    buf.add(tu, tt, E_TASK, s0[tu])
    i = np.flatnonzero(inviter_o)
    buf.add(i, t_inv_first[i], E_INVITE, s0[i])

    # invitees' day 0: accept, maybe onboard, create tasks in an existing project, rarely more
    m = len(invitee)
    ti = t[invitee]
    t_acc = ti + 5 + frng.exponential(20, m).astype(np.int64)
    buf.add(invitee, t_acc, E_ACCEPT, s0[invitee])
    inv_onb = frng.random(m) < P.INVITEE_ONBOARD_P
    t_ionb = t_acc + 60 + frng.exponential(200, m).astype(np.int64)
    sel = invitee[inv_onb]
    buf.add(sel, t_ionb[inv_onb], E_ONBOARD, s0[sel])
    onboarded_all = onboarded_o.copy()
    onboarded_all[sel] = True
    inv_task = np.where(
        inv_onb,
        frng.random(m) < P.INVITEE_TASK_P_ONBOARDED,
        frng.random(m) < P.INVITEE_TASK_P_NOT_ONBOARDED,
    )
    t_itask = np.where(inv_onb, t_ionb, t_acc) + 30 + frng.exponential(150, m).astype(np.int64)
    nt = np.where(inv_task, 1 + frng.poisson(P.INVITEE_EXTRA_TASKS_MEAN, m), 0)
    tu = np.repeat(invitee, nt)
    tt = np.repeat(t_itask, nt) + within_group_index(nt) * 50 + frng.integers(0, 30, int(nt.sum()))
    buf.add(tu, tt, E_TASK, s0[tu])
    inv_proj = inv_onb & (frng.random(m) < P.INVITEE_PROJECT_P)
    t_iproj = t_itask + nt * 50 + 40 + frng.exponential(120, m).astype(np.int64)
    sel = invitee[inv_proj]
    buf.add(sel, t_iproj[inv_proj], E_PROJECT, s0[sel])
    has_proj = proj_o.copy()
    has_proj[sel] = True
    inv_inv = inv_onb & (frng.random(m) < P.INVITEE_INVITE_P)
    sel = invitee[inv_inv]
    buf.add(sel, t_iproj[inv_inv] + 60, E_INVITE, s0[sel])

    # the owner's invite for each invitee, in its own short owner session
    own = inviting_owner
    t_send = np.maximum(
        t_inv_first[own] + 1, ti - 60 - frng.exponential(3 * 3600, m).astype(np.int64)
    )
    t_send = np.minimum(t_send, ti - 1)
    sess = buf.new_sessions(
        own,
        t_send - 5 - frng.exponential(30, m).astype(np.int64),
        t_send + 10 + frng.exponential(60, m).astype(np.int64),
        platform[own],
    )
    buf.add(own, t_send, E_INVITE, sess)

    users = Users(
        t=t,
        day=day,
        platform=platform,
        channel=channel,
        country=country,
        owner=owner,
        ws=ws,
        onboarded_day0=onboarded_all,
        has_project_day0=has_proj,
    )
    facts = {
        "owners": int(owner.sum()),
        "invitees": int(m),
        "owners_project_before_onboarding": int(early_o.sum()),
    }
    return users, facts
