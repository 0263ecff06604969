"""Generate Orbit's tables deterministically from a seed and a scale (numbers only, no I/O).

Every table group draws from its own random stream, derived from the seed and a fixed name
(``SeedSequence(seed, spawn_key=(crc32(name),))``), so changing how one group is generated does not
shift the others' draws. Everything is vectorised with numpy: there is no Python loop per event,
only loops over a handful of tables, experiments, billing cycles or fixed-size user chunks.

Internally a timestamp is an ``int64`` count of seconds since 2025-01-01 00:00:00 UTC and a date
is a count of days since that day; :mod:`tpmlab.data.builder` formats them when writing. ``NULL``
timestamps are :data:`NULL_TS`.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from tpmlab.data import schema

GENERATOR_VERSION = "1.1.0"

DAYS = 181  # 2025-01-01 .. 2025-06-30
DAY = 86_400
LAST = DAYS * DAY - 1  # 2025-06-30 23:59:59
EPOCH = np.datetime64("2025-01-01T00:00:00", "s")
NULL_TS = np.iinfo(np.int64).min
DATE_RANGE = ("2025-01-01", "2025-06-30")

PLATFORMS = np.array(["web", "ios", "android"], dtype=object)
PLATFORM_P = np.array([0.5, 0.3, 0.2])
CHANNELS = np.array(["organic", "paid_search", "paid_social", "referral", "partner"], dtype=object)
CHANNEL_P = np.array([0.40, 0.20, 0.15, 0.15, 0.10])
CHANNEL_RETENTION = np.array([1.05, 0.90, 0.72, 1.20, 1.10])
PLATFORM_RETENTION = np.array([1.0, 1.18, 0.80])  # iOS retains better than Android
COUNTRIES = np.array(
    ["US", "IN", "GB", "DE", "BR", "NG", "CA", "FR", "JP", "AU", "NL", "ES", "MX", "PL", "SE"],
    dtype=object,
)
COUNTRY_P = np.array([30, 10, 8, 8, 6, 5, 5, 5, 4, 4, 3, 3, 3, 3, 3], dtype=float)
COUNTRY_P /= COUNTRY_P.sum()
# UTC offsets in June 2025 (summer time where it applies): the iOS client sends local time.
COUNTRY_OFFSET_MIN = np.array(
    [-240, 330, 60, 120, -180, 60, -240, 120, 540, 600, 120, 120, -360, 120, 120]
)

EVENT_NAMES = np.array(schema.EVENT_NAMES, dtype=object)
(
    E_SIGNUP,
    E_ONBOARD,
    E_PROJECT,
    E_TASK,
    E_DONE,
    E_COMMENT,
    E_INVITE,
    E_ACCEPT,
    E_UPGRADE,
    E_DOWNGRADE,
) = range(10)

PLANS = {"pro": 12.0, "business": 24.0}  # USD per seat per month


def rng_for(seed: int, name: str) -> np.random.Generator:
    """The independent random stream of one table group: same seed and name, same draws."""
    ss = np.random.SeedSequence(entropy=seed, spawn_key=(zlib.crc32(name.encode()),))
    return np.random.default_rng(ss)


def ts_of(date: str, time: str = "00:00:00") -> int:
    """Seconds since 2025-01-01 00:00:00 of a UTC date and time."""
    return int((np.datetime64(f"{date}T{time}", "s") - EPOCH).astype(np.int64))


def _group_starts(counts: np.ndarray) -> np.ndarray:
    """Start offset of each group when groups of ``counts`` are laid end to end."""
    return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)


def _within_group_index(counts: np.ndarray) -> np.ndarray:
    """0, 1, ..., c-1 for each group of size c, concatenated."""
    total = int(counts.sum())
    return np.arange(total, dtype=np.int64) - np.repeat(_group_starts(counts), counts)


def _choice_idx(rng: np.random.Generator, p: np.ndarray, n: int) -> np.ndarray:
    return rng.choice(len(p), size=n, p=p)


@dataclass
class Dataset:
    """All generated tables (pandas DataFrames in schema column order) and the manifest facts."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    facts: dict = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Users, workspaces and the onboarding funnel
# --------------------------------------------------------------------------------------------


@dataclass
class _Users:
    t: np.ndarray  # signup second
    day: np.ndarray
    platform: np.ndarray  # index into PLATFORMS
    channel: np.ndarray
    country: np.ndarray
    owner: np.ndarray  # bool
    ws: np.ndarray  # workspace id (1-based)
    onboarded_day0: np.ndarray  # bool
    has_project_day0: np.ndarray


class _EventBuffer:
    """Collects events (user index, time, name code, temporary session id, project id)."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, ...]] = []
        self.sessions: list[tuple[np.ndarray, ...]] = []
        self.next_session = 0

    def new_sessions(self, user: np.ndarray, start: np.ndarray, end: np.ndarray, platform):
        n = len(user)
        ids = np.arange(self.next_session, self.next_session + n, dtype=np.int64)
        self.next_session += n
        self.sessions.append((user.astype(np.int64), start, end, platform.astype(np.int8), ids))
        return ids

    def add(self, user, t, name, session, project=None) -> None:
        n = len(user)
        if project is None:
            project = np.full(n, -1, dtype=np.int64)
        name = np.broadcast_to(np.asarray(name, dtype=np.int8), (n,))
        self.parts.append(
            (
                user.astype(np.int64),
                np.asarray(t, dtype=np.int64),
                name.copy(),
                session.astype(np.int64),
                project,
            )
        )

    def events(self):
        cols = list(zip(*self.parts, strict=True))
        return [np.concatenate(c) for c in cols]

    def session_arrays(self):
        cols = list(zip(*self.sessions, strict=True))
        return [np.concatenate(c) for c in cols]


def _gen_users(rng: np.random.Generator, scale: float) -> tuple[np.ndarray, ...]:
    d = np.arange(DAYS)
    base = 80.0 + 60.0 * d / (DAYS - 1)  # growth: ~80/day in January to ~140/day in June
    week = np.array([1.10, 1.12, 1.10, 1.06, 0.98, 0.80, 0.84])  # Mon..Sun
    week /= week.mean()
    dow = (d + 2) % 7  # 2025-01-01 was a Wednesday
    counts = rng.poisson(base * week[dow] * scale)
    n = int(counts.sum())
    day = np.repeat(d, counts).astype(np.int64)
    sec = (rng.normal(14.5 * 3600, 4.5 * 3600, n) % DAY).astype(np.int64)
    t = np.sort(day * DAY + sec, kind="stable")
    day = t // DAY
    platform = _choice_idx(rng, PLATFORM_P, n).astype(np.int8)
    channel = _choice_idx(rng, CHANNEL_P, n).astype(np.int8)
    country = _choice_idx(rng, COUNTRY_P, n).astype(np.int8)
    owner = rng.random(n) < 0.60
    owner[day == 0] = True
    return t, day, platform, channel, country, owner


def _gen_people_and_funnel(seed: int, scale: float, buf: _EventBuffer) -> tuple[_Users, dict]:
    rng = rng_for(seed, "users")
    t, day, platform, channel, country, owner = _gen_users(rng, scale)
    n = len(t)
    frng = rng_for(seed, "funnel")

    # --- owners' day-0 funnel (computed for everyone, used for owners) ---
    onb_p = np.array([0.72, 0.76, 0.62])[platform]
    early = frng.random(n) < 0.085  # creates a project before finishing onboarding
    onboarded = np.where(early, frng.random(n) < 0.7, frng.random(n) < onb_p)
    t_proj_early = t + 20 + frng.exponential(60, n).astype(np.int64)
    t_onb = np.where(
        early,
        t_proj_early + 60 + frng.exponential(240, n).astype(np.int64),
        t + 60 + frng.exponential(240, n).astype(np.int64),
    )
    proj = early | (onboarded & (frng.random(n) < 0.72))
    t_proj = np.where(early, t_proj_early, t_onb + 30 + frng.exponential(180, n).astype(np.int64))
    task = proj & (frng.random(n) < 0.85)
    n_tasks = np.where(task, 1 + frng.poisson(1.2, n), 0)
    t_task0 = np.maximum(t_proj, np.where(onboarded, t_onb, 0)) + 20
    t_task0 = t_task0 + frng.exponential(120, n).astype(np.int64)
    inviter = task & (frng.random(n) < 0.5)

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
    recent = frng.random(len(invitee)) < 0.6
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
    tt = np.repeat(t_task0[i], reps) + _within_group_index(reps) * 45
    tt = tt + frng.integers(0, 30, len(tt))
    buf.add(tu, tt, E_TASK, s0[tu])
    i = np.flatnonzero(inviter_o)
    buf.add(i, t_inv_first[i], E_INVITE, s0[i])

    # invitees' day 0: accept, maybe onboard, create tasks in an existing project, rarely more
    m = len(invitee)
    ti = t[invitee]
    t_acc = ti + 5 + frng.exponential(20, m).astype(np.int64)
    buf.add(invitee, t_acc, E_ACCEPT, s0[invitee])
    inv_onb = frng.random(m) < 0.80
    t_ionb = t_acc + 60 + frng.exponential(200, m).astype(np.int64)
    sel = invitee[inv_onb]
    buf.add(sel, t_ionb[inv_onb], E_ONBOARD, s0[sel])
    onboarded_all = onboarded_o.copy()
    onboarded_all[sel] = True
    inv_task = np.where(inv_onb, frng.random(m) < 0.65, frng.random(m) < 0.25)
    t_itask = np.where(inv_onb, t_ionb, t_acc) + 30 + frng.exponential(150, m).astype(np.int64)
    nt = np.where(inv_task, 1 + frng.poisson(0.8, m), 0)
    tu = np.repeat(invitee, nt)
    tt = np.repeat(t_itask, nt) + _within_group_index(nt) * 50 + frng.integers(0, 30, int(nt.sum()))
    buf.add(tu, tt, E_TASK, s0[tu])
    inv_proj = inv_onb & (frng.random(m) < 0.12)
    t_iproj = t_itask + nt * 50 + 40 + frng.exponential(120, m).astype(np.int64)
    sel = invitee[inv_proj]
    buf.add(sel, t_iproj[inv_proj], E_PROJECT, s0[sel])
    has_proj = proj_o.copy()
    has_proj[sel] = True
    inv_inv = inv_onb & (frng.random(m) < 0.06)
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

    users = _Users(
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


# --------------------------------------------------------------------------------------------
# Later activity: retention curves and heavy-tailed events per active day
# --------------------------------------------------------------------------------------------

# Retention: a user stays "alive" d days after signup with probability
#   S(d) = c_u + (1 - c_u) * (d + 1) ** -b_u      (power-law decay that flattens at c_u)
# and, while alive, is active on a given day with probability q_u (x a weekday factor), so
#   P(active on day d) ~ a * (d + 1) ** -b + c    on average, with a = q(1 - c), c = q c.
RET_C, RET_B, RET_Q = 0.12, 0.9, (1.6, 2.4)  # long-term share, decay, Beta(q) with mean 0.4
CHUNK_USERS = 4000


def _gen_activity(seed: int, u: _Users, buf: _EventBuffer) -> dict:
    rng = rng_for(seed, "activity")
    n = len(u.t)
    mult = (
        PLATFORM_RETENTION[u.platform]
        * CHANNEL_RETENTION[u.channel]
        * np.where(u.owner, np.where(u.has_project_day0, 1.1, 0.6), 1.2)
        * np.where(u.onboarded_day0, 1.0, 0.4)
    )
    c_u = np.minimum(RET_C * mult, 0.9)
    b_u = RET_B / np.sqrt(mult)
    forever = rng.random(n) < c_u
    lifetime = np.floor(np.minimum(rng.random(n) ** (-1.0 / b_u), 1e6)).astype(np.int64) - 1
    q_u = rng.beta(*RET_Q, n)
    remaining = (DAYS - 1) - u.day  # later days available
    alive_days = np.where(forever, remaining, np.minimum(remaining, lifetime))
    weekday_f = np.array([1.06, 1.08, 1.08, 1.04, 0.96, 0.55, 0.55])
    other_platform = np.array([[1, 2], [0, 0], [0, 0]])  # web users also use ios/android, etc.
    name_p = np.array([0.0, 0.0, 0.035, 0.38, 0.30, 0.26, 0.025, 0.0, 0.0, 0.0])
    name_p /= name_p.sum()
    n_events_total = 0
    for lo in range(0, n, CHUNK_USERS):
        hi = min(n, lo + CHUNK_USERS)
        idx = np.arange(lo, hi)
        rem = np.maximum(alive_days[idx], 0)
        cand_user = np.repeat(idx, rem)
        d = _within_group_index(rem) + 1  # days since signup, 1..alive days
        abs_day = u.day[cand_user] + d
        p = q_u[cand_user] * weekday_f[(abs_day + 2) % 7]
        active = rng.random(len(p)) < np.minimum(p, 0.97)
        au, aday = cand_user[active], abs_day[active]
        # sessions per active day and their start times
        ns = 1 + rng.poisson(0.7, len(au))
        su = np.repeat(au, ns)
        sday = np.repeat(aday, ns)
        start = sday * DAY + np.clip(rng.normal(14.5 * 3600, 4.0 * 3600, len(su)), 0, DAY - 1)
        start = start.astype(np.int64)
        o = np.lexsort((start, su))
        su, start = su[o], start[o]
        plat = u.platform[su].copy()
        switch = rng.random(len(su)) < 0.2
        plat[switch] = other_platform[plat[switch], rng.integers(0, 2, int(switch.sum()))]
        # events per session: heavy-tailed (negative binomial), gaps of a minute or so
        ne = 1 + rng.negative_binomial(1.0, 1.0 / (1.0 + 3.0), len(su))
        end_gap = 10 + rng.exponential(90, len(su)).astype(np.int64)
        eu = np.repeat(su, ne)
        gaps = 5 + rng.exponential(70, len(eu)).astype(np.int64)
        first = _group_starts(ne)
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
        late_onb = (~u.onboarded_day0[fu]) & (rng.random(len(fu)) < 0.4)
        names[first_ev[late_onb]] = E_ONBOARD
        need_proj = u.onboarded_day0[fu] & u.owner[fu] & ~u.has_project_day0[fu]
        late_proj = need_proj & (rng.random(len(fu)) < 0.5)
        names[first_ev[late_proj]] = E_PROJECT
        # users who never onboard only browse and comment
        onboarded_ever = u.onboarded_day0.copy()
        onboarded_ever[fu[late_onb]] = True
        never = ~onboarded_ever[eu]
        names[never & ((names == E_PROJECT) | (names == E_INVITE))] = E_COMMENT
        buf.add(eu, et, names, es)
        n_events_total += len(eu)
    return {"activity_events_before_cleanup": int(n_events_total)}


# --------------------------------------------------------------------------------------------
# Subscriptions and payments
# --------------------------------------------------------------------------------------------

CYCLE = 30 * DAY


def _gen_money(seed: int, u: _Users, buf: _EventBuffer) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = rng_for(seed, "money")
    owners = np.flatnonzero(u.owner)
    n_ws = len(owners)
    ws_ids = np.arange(1, n_ws + 1)
    created = u.t[owners]
    # team size over time: members sorted by (workspace, signup)
    mkey = u.ws * (1 << 25) + u.t
    mkey_sorted = np.sort(mkey)
    final_size = np.bincount(u.ws, minlength=n_ws + 1)[1:]
    p_up = (0.075 + 0.035 * np.minimum(final_size - 1, 4)) * np.where(
        u.has_project_day0[owners], 1.25, 0.6
    )
    up = rng.random(n_ws) < p_up
    delay = rng.lognormal(np.log(9 * DAY), 1.0, n_ws).astype(np.int64)
    t_up = created + delay
    up &= t_up < LAST - 3600
    w = np.flatnonzero(up)
    start = t_up[w]
    seats = np.searchsorted(mkey_sorted, ws_ids[w] * (1 << 25) + start, side="right") - (
        np.searchsorted(mkey_sorted, ws_ids[w] * (1 << 25), side="left")
    )
    seats = np.maximum(seats, 1)
    business = rng.random(len(w)) < np.where(seats >= 4, 0.45, 0.15)

    # frontier simulation over 30-day billing cycles (a loop over cycles, not rows)
    sub_ws, sub_plan, sub_seats, sub_start = [ws_ids[w]], [business], [seats], [start]
    sub_end, sub_reason = [np.full(len(w), NULL_TS)], [np.full(len(w), "", dtype=object)]
    ids = np.arange(len(w))
    next_id = len(w)
    f_id, f_next = ids.copy(), start + CYCLE
    f_plan = business.copy()
    # columns to fill in after the loop
    ends: dict[int, tuple[int, str]] = {}
    churn_p, up_p, down_p = 0.04, 0.03, 0.025
    events_t, events_ws, events_kind = [start], [ws_ids[w]], [np.full(len(w), E_UPGRADE)]
    while True:
        due = f_next <= LAST
        if not due.any():
            break
        f_id, f_next, f_plan = f_id[due], f_next[due], f_plan[due]
        r = rng.random(len(f_id))
        churn = r < churn_p
        change = (~churn) & (r < churn_p + np.where(f_plan, down_p, up_p))
        for sid, tt in zip(f_id[churn].tolist(), f_next[churn].tolist(), strict=True):
            ends[sid] = (tt, "churned")
        for sid, tt, biz in zip(
            f_id[change].tolist(), f_next[change].tolist(), f_plan[change].tolist(), strict=True
        ):
            ends[sid] = (tt, "downgraded" if biz else "upgraded")
        cat_ws = np.concatenate(sub_ws)
        cat_seats = np.concatenate(sub_seats)
        churn_ws = cat_ws[f_id[churn]]
        events_t.append(f_next[churn])
        events_ws.append(churn_ws)
        events_kind.append(np.full(int(churn.sum()), E_DOWNGRADE))
        new_n = int(change.sum())
        new_ids = np.arange(next_id, next_id + new_n)
        next_id += new_n
        new_ws = cat_ws[f_id[change]]
        new_plan = ~f_plan[change]
        new_start = f_next[change]
        sub_ws.append(new_ws)
        sub_plan.append(new_plan)
        sub_seats.append(cat_seats[f_id[change]])
        sub_start.append(new_start)
        sub_end.append(np.full(new_n, NULL_TS))
        sub_reason.append(np.full(new_n, "", dtype=object))
        events_t.append(new_start)
        events_ws.append(new_ws)
        events_kind.append(np.where(new_plan, E_UPGRADE, E_DOWNGRADE))
        keep = ~(churn | change)
        f_id = np.concatenate([f_id[keep], new_ids])
        f_next = np.concatenate([f_next[keep] + CYCLE, new_start + CYCLE])
        f_plan = np.concatenate([f_plan[keep], new_plan])

    s_ws = np.concatenate(sub_ws)
    s_plan = np.concatenate(sub_plan)
    s_seats = np.concatenate(sub_seats)
    s_start = np.concatenate(sub_start)
    s_end = np.concatenate(sub_end)
    s_reason = np.concatenate(sub_reason)
    for sid, (tt, why) in ends.items():
        s_end[sid] = tt
        s_reason[sid] = why
    plan_name = np.where(s_plan, "business", "pro").astype(object)
    price = np.where(s_plan, PLANS["business"], PLANS["pro"])
    mrr = np.round(s_seats * price, 2)
    order = np.lexsort((s_ws, s_start))
    sub_id_new = np.empty(len(order), dtype=np.int64)
    sub_id_new[order] = np.arange(1, len(order) + 1)
    subs = pd.DataFrame(
        {
            "subscription_id": sub_id_new[order],
            "workspace_id": s_ws[order],
            "plan": plan_name[order],
            "seats": s_seats[order],
            "started_at": s_start[order],
            "ended_at": s_end[order],
            "end_reason": np.where(s_reason[order] == "", None, s_reason[order]),
            "mrr_usd": mrr[order],
        }
    )

    # payments every 30 days while active; ~3% fail and are retried two days later
    stop = np.where(s_end == NULL_TS, LAST + 1, s_end)
    n_pay = np.maximum(0, (np.minimum(stop - 1, LAST) - s_start) // CYCLE + 1)
    p_sub = np.repeat(np.arange(len(s_start)), n_pay)
    p_t = s_start[p_sub] + _within_group_index(n_pay) * CYCLE
    r = rng.random(len(p_sub))
    status = np.where(r < 0.03, "failed", np.where(r < 0.04, "refunded", "succeeded")).astype(
        object
    )
    retry = (status == "failed") & (p_t + 2 * DAY <= LAST)
    p_sub = np.concatenate([p_sub, p_sub[retry]])
    p_t = np.concatenate([p_t, p_t[retry] + 2 * DAY])
    status = np.concatenate([status, np.full(int(retry.sum()), "succeeded", dtype=object)])
    o = np.lexsort((p_sub, p_t))
    payments = pd.DataFrame(
        {
            "payment_id": np.arange(1, len(o) + 1),
            "subscription_id": sub_id_new[p_sub[o]],
            "workspace_id": s_ws[p_sub[o]],
            "paid_at": p_t[o],
            "amount_usd": mrr[p_sub[o]],
            "status": status[o],
        }
    )

    # upgrade / downgrade events by the workspace owner, in short sessions
    et = np.concatenate(events_t)
    ews = np.concatenate(events_ws)
    ek = np.concatenate(events_kind)
    ok = et <= LAST
    et, ews, ek = et[ok], ews[ok], ek[ok]
    owner_user = owners[ews - 1]
    m = len(et)
    sess = buf.new_sessions(
        owner_user,
        et - 20 - rng.exponential(60, m).astype(np.int64),
        np.minimum(et + 10 + rng.exponential(60, m).astype(np.int64), LAST),
        u.platform[owner_user],
    )
    buf.add(owner_user, et, ek.astype(np.int8), sess)
    return subs, payments


# --------------------------------------------------------------------------------------------
# Events clean-up, sessions, projects and tasks
# --------------------------------------------------------------------------------------------

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


def _finish_events(seed: int, u: _Users, buf: _EventBuffer, ds: Dataset) -> None:
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
    back = np.minimum(rng.geometric(0.55, len(ti)) - 1, hi - lo - 1)
    project[ti] = porder[hi - 1 - back] + 1

    # task_completed closes the user's own oldest open task (FIFO), if one exists by then
    ti = ti[np.lexsort((t[ti], user[ti]))]
    ci = np.flatnonzero(name == E_DONE)
    ci = ci[np.lexsort((t[ci], user[ci]))]
    t_rank = _within_group_index(np.unique(user[ti], return_counts=True)[1])
    c_rank = _within_group_index(np.unique(user[ci], return_counts=True)[1])
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
            "platform": PLATFORMS[s_plat[so]],
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
            "platform": pd.Categorical.from_codes(ev_plat, PLATFORMS),
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
            "archived": (rng.random(n_proj) < 0.1).astype(np.int64),
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
    assignee = np.where(rng.random(n_tasks) < 0.7, m_user[pick] + 1, -1)
    open_status = np.where(rng.random(n_tasks) < 0.35, "in_progress", "todo").astype(object)
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
                rng.choice(3, n_tasks, p=[0.3, 0.5, 0.2])
            ],
            "created_at": t[ti_all],
            "completed_at": np.where(tdone >= 0, t[np.maximum(tdone, 0)], NULL_TS),
        }
    )


# --------------------------------------------------------------------------------------------
# Experiments
# --------------------------------------------------------------------------------------------

EXPERIMENTS = [
    {
        "experiment_id": "onboarding_checklist",
        "name": "Setup checklist in the sidebar",
        "hypothesis": "A 'get set up' checklist raises the share of users who create a project "
        "or invite a teammate within 14 days of exposure.",
        "start_date": "2025-04-01",
        "end_date": "2025-06-29",
        "primary_metric": "converted",
        "guardrail_metric": "page_load_ms",
        "planned_treatment_share": 0.5,
        "target_users": 16_500,
        "scenario": "real_lift",
        "base_rate": 0.30,
        "lift": 0.03,
    },
    {
        "experiment_id": "dark_mode",
        "name": "Dark mode",
        "hypothesis": "Offering dark mode raises the share of users active in week 2.",
        "start_date": "2025-04-07",
        "end_date": "2025-05-04",
        "primary_metric": "converted",
        "guardrail_metric": "page_load_ms",
        "planned_treatment_share": 0.5,
        "target_users": 12_000,
        "scenario": "true_null",
        "base_rate": 0.22,
        "lift": 0.0,
    },
    {
        "experiment_id": "pricing_page_v2",
        "name": "Pricing page redesign",
        "hypothesis": "The new pricing page raises the share of workspaces starting a paid plan.",
        "start_date": "2025-06-02",
        "end_date": "2025-06-29",
        "primary_metric": "converted",
        "guardrail_metric": "page_load_ms",
        "planned_treatment_share": 0.5,
        "target_users": 19_000,
        "scenario": "sample_ratio_mismatch",
        "base_rate": 0.06,
        "lift": 0.004,
    },
    {
        "experiment_id": "ai_suggestions",
        "name": "AI task suggestions",
        "hypothesis": "Suggesting next tasks with AI raises daily engagement.",
        "start_date": "2025-05-05",
        "end_date": "2025-06-08",
        "primary_metric": "engaged_rate (experiment_daily)",
        "guardrail_metric": "page_load_ms",
        "planned_treatment_share": 0.5,
        "target_users": 16_000,
        "scenario": "novelty_effect",
        "base_rate": 0.25,
        "lift": 0.0,
    },
    {
        "experiment_id": "mobile_nav",
        "name": "New navigation bar",
        "hypothesis": "A bottom navigation bar raises the share of users who reach a task "
        "within 7 days.",
        "start_date": "2025-04-14",
        "end_date": "2025-05-11",
        "primary_metric": "converted",
        "guardrail_metric": "page_load_ms",
        "planned_treatment_share": 0.5,
        "target_users": 16_000,
        "scenario": "simpsons_paradox",
        "base_rate": None,
        "lift": 0.03,
    },
    {
        "experiment_id": "bulk_edit",
        "name": "Bulk edit for tasks",
        "hypothesis": "Editing many tasks at once raises the number of tasks created.",
        "start_date": "2025-06-02",
        "end_date": "2025-06-29",
        "primary_metric": "tasks_created",
        "guardrail_metric": "page_load_ms",
        "planned_treatment_share": 0.5,
        "target_users": 16_000,
        "scenario": "guardrail_regression",
        "base_rate": 0.20,
        "lift": 0.0,
    },
]

TASKS_MEAN = 4.0  # tasks per 28 days for the average user
TASKS_VAR = 12.0  # variance of the gamma latent rate: rho ~ 0.65-0.70 between pre and post
MOBILE_NAV_BASE = np.array([0.40, 0.32, 0.12])  # web, ios, android
MOBILE_NAV_ALLOC = {"web": 0.38, "ios": 0.5}  # android share is solved to keep 50/50 overall
PRICING_LOSS = 0.06  # share of treatment users whose assignment was never logged
NOVELTY = {"initial_abs_lift": 0.08, "half_life_days": 4.0, "control_engaged_rate": 0.22}
BULK_EDIT = {"tasks_rel_lift": 0.05, "page_load_abs_lift_ms": 120.0}
CONV_PLATFORM_MULT = np.array([1.05, 1.08, 0.80])  # web, ios, android (mean 1 over the mix)
CONV_PLATFORM_MULT = CONV_PLATFORM_MULT / (CONV_PLATFORM_MULT @ PLATFORM_P)
MAX_ATTEMPTS = 200
PLATFORM_LOAD_MS = np.array([0.0, 60.0, 140.0])  # extra page-load time on ios / android


def _ci_diff_prop(x1, n1, x0, n0):
    p1, p0 = x1 / n1, x0 / n0
    se = np.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    d = p1 - p0
    return d, d - 1.959964 * se, d + 1.959964 * se


def _ci_welch(a, b):
    d = a.mean() - b.mean()
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = np.sqrt(va + vb)
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    q = stats.t.ppf(0.975, dof)
    return d, d - q * se, d + q * se


def _srm_p(n_t, n_c, share):
    n = n_t + n_c
    exp = np.array([n * share, n * (1 - share)])
    return float(stats.chisquare([n_t, n_c], exp).pvalue)


def _contains(ci, value):
    return ci[1] <= value <= ci[2]


def _experiment_attempt(spec, rng, users_idx, u: _Users, assigned_t, scale):
    """One draw of an experiment's variants and outcomes; returns frames, truth and checks."""
    n = len(users_idx)
    plat = u.platform[users_idx]
    sid = spec["scenario"]
    truth: dict = {"scenario": sid}
    if sid == "simpsons_paradox":
        mix = np.bincount(plat, minlength=3) / n
        a_web, a_ios = MOBILE_NAV_ALLOC["web"], MOBILE_NAV_ALLOC["ios"]
        a_and = float(np.clip((0.5 - mix[0] * a_web - mix[1] * a_ios) / mix[2], 0.5, 0.95))
        alloc = np.array([a_web, a_ios, a_and])
        treat = rng.random(n) < alloc[plat]
        truth["allocation_by_platform"] = dict(
            zip(PLATFORMS, np.round(alloc, 4).tolist(), strict=True)
        )
    else:
        treat = rng.random(n) < spec["planned_treatment_share"]
    # conversion probability per user
    if sid == "simpsons_paradox":
        p_conv = MOBILE_NAV_BASE[plat] + spec["lift"] * treat
    else:
        p_conv = spec["base_rate"] * CONV_PLATFORM_MULT[plat] + spec["lift"] * treat
    converted = rng.random(n) < p_conv
    # latent task rate -> pre and post counts (CUPED covariate)
    shape = TASKS_MEAN**2 / TASKS_VAR
    lam = rng.gamma(shape, TASKS_MEAN / shape, n)
    # users with less than 28 days of tenure have a shorter pre-period, but new users front-load
    # their task creation, so the expected count shrinks less than in proportion
    tenure = np.clip((assigned_t - u.t[users_idx]) / (28 * DAY), 0.0, 1.0)
    pre = rng.poisson(lam * tenure**0.3)
    tasks_mult = 1 + (BULK_EDIT["tasks_rel_lift"] if sid == "guardrail_regression" else 0) * treat
    post = rng.poisson(lam * tasks_mult)
    rev = np.where(
        rng.random(n) < np.where(converted, 0.15, 0.01), rng.lognormal(np.log(35), 1.1, n), 0.0
    )
    plat_ms = PLATFORM_LOAD_MS[plat]
    load = 650 + plat_ms + rng.lognormal(np.log(250), 0.6, n)
    load_shift = BULK_EDIT["page_load_abs_lift_ms"] if sid == "guardrail_regression" else 0.0
    load = np.round(load + load_shift * treat, 1)
    rev = np.round(rev, 2)

    keep = np.ones(n, dtype=bool)
    if sid == "sample_ratio_mismatch":
        # a logging bug on the new page drops treatment users, mostly on slow Android devices
        w = np.where(plat == 2, 3.0, 1.0) * treat
        n_lost = int(round(PRICING_LOSS * treat.sum()))
        lost = rng.choice(n, size=n_lost, replace=False, p=w / w.sum())
        keep[lost] = False
        truth["lost_treatment_users"] = n_lost
        truth["lost_share_of_treatment"] = PRICING_LOSS
        truth["lost_by_platform"] = dict(
            zip(PLATFORMS, np.bincount(plat[lost], minlength=3).tolist(), strict=True)
        )

    out = {
        "treat": treat[keep],
        "converted": converted[keep].astype(np.int64),
        "revenue": rev[keep],
        "post": post[keep],
        "pre": pre[keep],
        "load": load[keep],
        "plat": plat[keep],
        "keep": keep,
    }
    tr, co = out["treat"], ~out["treat"]
    checks: dict[str, bool] = {}
    srm = _srm_p(int(tr.sum()), int(co.sum()), spec["planned_treatment_share"])
    if sid == "sample_ratio_mismatch":
        checks["srm_detected"] = srm < 1e-4
    else:
        checks["no_srm"] = srm > 0.01
    cv = out["converted"]
    conv_ci = _ci_diff_prop(cv[tr].sum(), tr.sum(), cv[co].sum(), co.sum())
    tasks_ci = _ci_welch(out["post"][tr].astype(float), out["post"][co].astype(float))
    load_ci = _ci_welch(out["load"][tr], out["load"][co])
    true_tasks = TASKS_MEAN * (tasks_mult.max() - 1) if sid == "guardrail_regression" else 0.0
    truth.update(
        {
            "primary_metric": spec["primary_metric"],
            "true_abs_lift": spec["lift"],
            "true_tasks_created_abs_lift": round(true_tasks, 6),
            "true_tasks_created_control_mean": TASKS_MEAN,
            "true_page_load_ms_abs_lift": load_shift,
        }
    )
    if sid == "simpsons_paradox":
        truth["true_control_rate_by_platform"] = dict(
            zip(PLATFORMS, MOBILE_NAV_BASE.tolist(), strict=True)
        )
        truth["true_abs_lift_by_platform"] = dict.fromkeys(PLATFORMS.tolist(), spec["lift"])
        mix_t = np.bincount(plat[treat], minlength=3) / max(1, treat.sum())
        mix_c = np.bincount(plat[~treat], minlength=3) / max(1, (~treat).sum())
        pooled = float(mix_t @ (MOBILE_NAV_BASE + spec["lift"]) - mix_c @ MOBILE_NAV_BASE)
        truth["expected_pooled_abs_lift_given_allocation"] = round(pooled, 6)
        # page load depends on platform too, so the pooled guardrail is confounded the same way
        load_shift = float((mix_t - mix_c) @ PLATFORM_LOAD_MS)
        truth["expected_pooled_page_load_ms_diff_given_allocation"] = round(load_shift, 3)
        truth["true_control_rate"] = round(float(mix_c @ MOBILE_NAV_BASE), 6)
        ok_all = True
        for k in range(3):
            m_t, m_c = tr & (out["plat"] == k), co & (out["plat"] == k)
            ci = _ci_diff_prop(cv[m_t].sum(), m_t.sum(), cv[m_c].sum(), m_c.sum())
            ok_all &= ci[0] > 0 and _contains(ci, spec["lift"])
        checks["better_in_every_platform"] = bool(ok_all)
        checks["worse_pooled"] = bool(conv_ci[2] < 0)
    else:
        truth["true_control_rate"] = spec["base_rate"]
        truth["true_treatment_rate"] = round(spec["base_rate"] + spec["lift"], 6)
        truth["true_rel_lift"] = round(spec["lift"] / spec["base_rate"], 6)
        if sid != "sample_ratio_mismatch":
            checks["converted_ci_contains_truth"] = _contains(conv_ci, spec["lift"])
    if sid == "real_lift":
        checks["converted_significant"] = conv_ci[1] > 0
    if sid == "true_null":
        checks["converted_ci_contains_zero"] = _contains(conv_ci, 0.0)
    if sid != "sample_ratio_mismatch":
        checks["tasks_ci_contains_truth"] = _contains(tasks_ci, true_tasks)
        checks["page_load_ci_contains_truth"] = _contains(load_ci, load_shift)
    if sid == "guardrail_regression":
        checks["tasks_significant"] = tasks_ci[1] > 0
        checks["page_load_significant"] = load_ci[1] > 0
    rho = float(np.corrcoef(out["pre"], out["post"])[0, 1])
    truth["rho_pre_post_tasks_created"] = round(rho, 4)
    checks["rho_in_range"] = 0.6 <= rho <= 0.75
    truth["srm_p_value"] = float(f"{srm:.6g}")
    return out, truth, checks


def _daily(spec, rng, variant_t, assigned_day, start_day, end_day, truth):
    """experiment_daily rows: exposures among assigned users, engagement (with novelty)."""
    days = np.arange(start_day, end_day + 1)
    rows = []
    novelty = spec["scenario"] == "novelty_effect"
    base = NOVELTY["control_engaged_rate"]
    lift_curve = NOVELTY["initial_abs_lift"] * 0.5 ** (
        np.arange(len(days)) / NOVELTY["half_life_days"]
    )
    for vi, vname in enumerate(["control", "treatment"]):
        is_t = vi == 1
        sel = assigned_day[variant_t == is_t]
        cum = np.searchsorted(np.sort(sel), days, side="right")
        exposed = rng.binomial(cum, 0.3)
        rate = base + (lift_curve if (novelty and is_t) else 0.0)
        engaged = rng.binomial(exposed, rate)
        rows.append(
            pd.DataFrame(
                {
                    "experiment_id": spec["experiment_id"],
                    "variant": vname,
                    "day": days,
                    "day_index": np.arange(len(days)),
                    "exposed_users": exposed,
                    "engaged_users": engaged,
                }
            )
        )
    df = pd.concat(rows, ignore_index=True)
    checks = {}
    if novelty:
        truth["novelty"] = {
            **NOVELTY,
            "true_abs_lift_by_day_index": np.round(lift_curve, 6).tolist(),
        }
        c = df[df.variant == "control"].reset_index(drop=True)
        t = df[df.variant == "treatment"].reset_index(drop=True)
        for wk, (a, b) in {"week1": (0, 7), "week4": (21, 28)}.items():
            ct, tt = c.iloc[a:b], t.iloc[a:b]
            ci = _ci_diff_prop(
                tt.engaged_users.sum(),
                tt.exposed_users.sum(),
                ct.engaged_users.sum(),
                ct.exposed_users.sum(),
            )
            w = tt.exposed_users.to_numpy()
            true_w = float((w * lift_curve[a:b]).sum() / w.sum())
            truth["novelty"][f"true_abs_lift_{wk}"] = round(true_w, 6)
            checks[f"{wk}_ci_contains_truth"] = _contains(ci, true_w)
            if wk == "week1":
                checks["week1_significant"] = ci[1] > 0
            else:
                checks["week4_ci_contains_zero"] = _contains(ci, 0.0)
    return df, checks


def _gen_experiments(seed: int, u: _Users, scale: float, ds: Dataset) -> None:
    exp_rows, assign_parts, outcome_parts, daily_parts = [], [], [], []
    truths = {}
    for spec in EXPERIMENTS:
        eid = spec["experiment_id"]
        rng_u = rng_for(seed, f"experiment-users-{eid}")
        start_t = ts_of(spec["start_date"])
        end_t = ts_of(spec["end_date"], "23:59:59")
        eligible = np.flatnonzero(u.t < end_t - 3600)
        n = int(min(round(spec["target_users"] * scale), round(0.92 * len(eligible))))
        chosen = np.sort(rng_u.choice(eligible, size=n, replace=False))
        t0 = np.maximum(u.t[chosen], start_t) + 60
        a = t0 + rng_u.exponential(4 * DAY, n).astype(np.int64)
        over = a > end_t
        a[over] = t0[over] + (rng_u.random(int(over.sum())) * (end_t - t0[over])).astype(np.int64)
        chosen_t = a
        # small datasets cannot meet every check (e.g. SRM at p < 1e-4): do not search long
        max_attempts = MAX_ATTEMPTS if scale >= 0.25 else 3
        for attempt in range(max_attempts):
            rng = np.random.default_rng(
                np.random.SeedSequence(
                    entropy=seed, spawn_key=(zlib.crc32(f"experiment-{eid}".encode()), attempt)
                )
            )
            out, truth, checks = _experiment_attempt(spec, rng, chosen, u, chosen_t, scale)
            keep = out["keep"]
            a_day = chosen_t[keep] // DAY
            daily, dchecks = _daily(
                spec,
                rng,
                out["treat"],
                a_day,
                start_t // DAY,
                end_t // DAY,
                truth,
            )
            checks.update(dchecks)
            if all(checks.values()):
                break
        truth["generation_attempt"] = attempt
        truth["checks"] = {k: bool(v) for k, v in checks.items()}
        truth["checks_passed"] = bool(all(checks.values()))
        truth["n_assigned"] = int(keep.sum())
        truth["n_treatment"] = int(out["treat"].sum())
        truth["n_control"] = int((~out["treat"]).sum())
        truth["planned_treatment_share"] = spec["planned_treatment_share"]
        truth["window"] = [spec["start_date"], spec["end_date"]]
        truths[eid] = truth
        uid = chosen[keep]
        variant = np.where(out["treat"], "treatment", "control").astype(object)
        assign_parts.append(
            pd.DataFrame(
                {
                    "experiment_id": eid,
                    "user_id": uid + 1,
                    "variant": variant,
                    "assigned_at": chosen_t[keep],
                    "platform": PLATFORMS[u.platform[uid]],
                }
            )
        )
        outcome_parts.append(
            pd.DataFrame(
                {
                    "experiment_id": eid,
                    "user_id": uid + 1,
                    "converted": out["converted"],
                    "revenue_usd": out["revenue"],
                    "tasks_created": out["post"].astype(np.int64),
                    "pre_tasks_created": out["pre"].astype(np.int64),
                    "page_load_ms": out["load"],
                }
            )
        )
        daily_parts.append(daily)
        exp_rows.append(
            {
                k: spec[k]
                for k in (
                    "experiment_id",
                    "name",
                    "hypothesis",
                    "start_date",
                    "end_date",
                    "primary_metric",
                    "guardrail_metric",
                    "planned_treatment_share",
                )
            }
            | {"unit": "user"}
        )
    exps = pd.DataFrame(exp_rows)
    exps["start_date"] = [ts_of(d) // DAY for d in exps["start_date"]]
    exps["end_date"] = [ts_of(d) // DAY for d in exps["end_date"]]
    ds.tables["experiments"] = exps
    ds.tables["experiment_assignments"] = pd.concat(assign_parts, ignore_index=True)
    ds.tables["experiment_outcomes"] = pd.concat(outcome_parts, ignore_index=True)
    ds.tables["experiment_daily"] = pd.concat(daily_parts, ignore_index=True)
    ds.facts["experiments"] = truths


# --------------------------------------------------------------------------------------------
# Deploys, incidents and the API request log
# --------------------------------------------------------------------------------------------

SERVICES = np.array(["api", "web", "ios", "android", "billing"], dtype=object)
INCIDENT = {
    "start": "2025-06-18 14:05:00",
    "detected": "2025-06-18 14:11:00",
    "end": "2025-06-18 15:20:00",
    "deploy_at": "2025-06-18 13:58:00",
    "service": "api",
    "severity": "sev1",
    "title": "API 5xx spike and slow responses after connection-pool change",
}
API_START_DAY = ts_of("2025-06-01") // DAY


def _gen_delivery(seed: int, ds: Dataset) -> None:
    rng = rng_for(seed, "delivery")
    days = np.arange(DAYS)
    weekday = ((days + 2) % 7) < 5
    wd = days[weekday]
    n_per = np.clip(rng.poisson(3.8, len(wd)), 2, 6)
    d_day = np.repeat(wd, n_per)
    n = len(d_day)
    svc = rng.choice(5, n, p=[0.35, 0.30, 0.10, 0.10, 0.15])
    t = d_day * DAY + rng.integers(9 * 3600, 18 * 3600, n)
    mobile = (svc == 2) | (svc == 3)
    lead = rng.lognormal(np.log(np.where(mobile, 72, 20) * 3600), 0.9, n).astype(np.int64)
    commits = np.where(mobile, 1 + rng.poisson(12, n), 1 + rng.poisson(3, n))
    r = rng.random(n)
    status = np.where(r < 0.05, "failed", np.where(r < 0.10, "rolled_back", "success"))
    status = status.astype(object)
    # the planted incident's cause
    inc_deploy_t = ts_of(*INCIDENT["deploy_at"].split(" "))
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
            "service": SERVICES[svc],
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
    caused = rng.choice(bad, size=min(12, len(bad)), replace=False)
    n_free = 6
    i_start = np.concatenate(
        [
            t[caused] + 300 + rng.exponential(40 * 60, len(caused)).astype(np.int64),
            rng.integers(2 * DAY, LAST - 2 * DAY, n_free),
        ]
    )
    i_svc = np.concatenate([svc[caused], rng.choice(5, n_free)])
    i_cause = np.concatenate([deploy_id[caused], np.full(n_free, -1)])
    sev = rng.choice(3, len(i_start), p=[0.1, 0.35, 0.55])
    # keep the API log's month clean apart from the planted incident
    in_june_api = (i_svc == 0) & (i_start >= API_START_DAY * DAY - 6 * 3600)
    i_svc[in_june_api] = 1
    i_start = np.minimum(i_start, LAST - 6 * 3600)
    detect = 60 + rng.exponential(np.array([6, 12, 25])[sev] * 60).astype(np.int64)
    fix = rng.lognormal(np.log(np.array([60, 120, 300])[sev] * 60), 0.6).astype(np.int64)
    titles = {
        0: "Elevated API error rate",
        1: "Web app fails to load for some users",
        2: "iOS app crash on launch for some devices",
        3: "Android sync stuck",
        4: "Card payments failing",
    }
    inc = pd.DataFrame(
        {
            "service": SERVICES[i_svc],
            "severity": np.array(["sev1", "sev2", "sev3"], dtype=object)[sev],
            "started_at": i_start,
            "detected_at": i_start + detect,
            "resolved_at": i_start + detect + fix,
            "cause_deploy_id": i_cause,
            "title": [titles[s] for s in i_svc],
        }
    )
    s0 = ts_of(*INCIDENT["start"].split(" "))
    planted = {
        "service": "api",
        "severity": "sev1",
        "started_at": s0,
        "detected_at": ts_of(*INCIDENT["detected"].split(" ")),
        "resolved_at": ts_of(*INCIDENT["end"].split(" ")),
        "cause_deploy_id": planted_deploy,
        "title": INCIDENT["title"],
    }
    inc = pd.concat([inc, pd.DataFrame([planted])], ignore_index=True)
    inc["resolved_at"] = np.minimum(inc["resolved_at"], LAST)
    inc = inc.sort_values("started_at", kind="stable").reset_index(drop=True)
    inc.insert(0, "incident_id", np.arange(1, len(inc) + 1))
    ds.tables["incidents"] = inc
    ds.facts["incident"] = {
        "incident_id": int(inc.loc[inc.started_at == s0, "incident_id"].iloc[0]),
        "cause_deploy_id": planted_deploy,
        "window_start": INCIDENT["start"],
        "window_end": INCIDENT["end"],
        "service": "api",
        "severity": "sev1",
        "error_rate_5xx_in_window_planned": 0.2,
    }


ENDPOINTS = [
    # method, template, weight, median ms, sigma, median bytes, resource kind, success status
    ("GET", "/v1/projects", 0.09, 45, 0.55, 6000, "workspace", 200),
    ("GET", "/v1/projects/{project_id}", 0.12, 25, 0.5, 1500, "project", 200),
    ("GET", "/v1/projects/{project_id}/tasks", 0.24, 60, 0.6, 12000, "project", 200),
    ("GET", "/v1/tasks/{task_id}", 0.17, 20, 0.5, 900, "task", 200),
    ("POST", "/v1/projects/{project_id}/tasks", 0.08, 85, 0.55, 950, "project", 201),
    ("PATCH", "/v1/tasks/{task_id}", 0.07, 70, 0.55, 950, "task", 200),
    ("DELETE", "/v1/tasks/{task_id}", 0.02, 50, 0.5, 0, "task", 204),
    ("GET", "/v1/users/me", 0.08, 15, 0.45, 500, "user", 200),
    ("GET", "/v1/search", 0.05, 180, 0.8, 8000, "workspace", 200),
    ("GET", "/v1/workspaces/{workspace_id}/members", 0.04, 35, 0.5, 3000, "workspace", 200),
    ("POST", "/v1/webhooks", 0.01, 95, 0.5, 400, "workspace", 201),
    ("POST", "/v1/projects", 0.03, 90, 0.55, 1400, "workspace", 201),
]
API_RATE_PER_MIN = 10.5  # average requests per minute at scale 1 (~450k in June)


def _zipf_pick(rng, pool: np.ndarray, n: int, s: float = 1.1) -> np.ndarray:
    """Draw ``n`` items from ``pool`` with Zipf-like popularity (rank r has weight 1/r^s)."""
    perm = rng.permutation(pool)
    w = 1.0 / np.arange(1, len(perm) + 1) ** s
    cdf = np.cumsum(w)
    cdf /= cdf[-1]
    return perm[np.minimum(np.searchsorted(cdf, rng.random(n)), len(perm) - 1)]


def _gen_api(seed: int, scale: float, ds: Dataset) -> None:
    rng = rng_for(seed, "api")
    minutes = np.arange(30 * 24 * 60)
    hour = (minutes % 1440) / 60.0
    day = API_START_DAY + minutes // 1440
    diurnal = 1 + 0.65 * np.cos(2 * np.pi * (hour - 15) / 24)
    weekend = ((day + 2) % 7) >= 5
    rate = diurnal * np.where(weekend, 0.5, 1.0)
    rate = rate / rate.mean() * API_RATE_PER_MIN * scale
    counts = rng.poisson(rate)
    n = int(counts.sum())
    ts = np.repeat(day * DAY + (minutes % 1440) * 60, counts) + rng.integers(0, 60, n)
    ts = np.sort(ts, kind="stable")
    ep_w = np.array([e[2] for e in ENDPOINTS])
    ep = rng.choice(len(ENDPOINTS), n, p=ep_w / ep_w.sum())
    n_clients = 60
    client_w = 1.0 / np.arange(1, n_clients + 1) ** 1.2
    client = rng.choice(n_clients, n, p=client_w / client_w.sum())
    client_ids = np.array([f"client_{i:03d}" for i in range(1, n_clients + 1)], dtype=object)

    # resources: existing objects, with a few hot keys
    cutoff = API_START_DAY * DAY
    proj = ds.tables["projects"]
    task = ds.tables["tasks"]
    pools = {
        "project": proj.loc[proj.created_at < cutoff, "project_id"].to_numpy(),
        "task": task.loc[task.created_at < cutoff, "task_id"].to_numpy(),
        "workspace": np.unique(proj.loc[proj.created_at < cutoff, "workspace_id"].to_numpy()),
        "user": np.unique(task.loc[task.created_at < cutoff, "created_by"].to_numpy()),
    }
    kind = np.array([e[6] for e in ENDPOINTS], dtype=object)[ep]
    key = np.empty(n, dtype=object)
    for k, pool in pools.items():
        m = kind == k
        ids = _zipf_pick(rng, pool, int(m.sum())).astype(str).astype(object)
        key[m] = k + ":" + ids

    med = np.array([e[3] for e in ENDPOINTS], dtype=float)[ep]
    sig = np.array([e[4] for e in ENDPOINTS])[ep]
    lat = rng.lognormal(np.log(med), sig)
    spike = rng.random(n) < 0.005  # GC pauses, cold caches: the heavy tail
    lat[spike] *= rng.uniform(5, 20, int(spike.sum()))
    ok_status = np.array([e[7] for e in ENDPOINTS])[ep]
    method = np.array([e[0] for e in ENDPOINTS], dtype=object)[ep]
    writes = method != "GET"
    by_id = np.array(["{" in e[1] for e in ENDPOINTS])[ep]
    r = rng.random(n)
    p429 = np.where(client == 0, 0.06, 0.003)
    p400 = np.where(writes, 0.04, 0.004)
    p401 = np.full(n, 0.008)
    p404 = np.where(by_id, 0.02, 0.002)
    p5 = np.full(n, 0.0015)
    c1 = p429
    c2 = c1 + p400
    c3 = c2 + p401
    c4 = c3 + p404
    c5 = c4 + p5
    status = np.select(
        [r < c1, r < c2, r < c3, r < c4, r < c5], [429, 400, 401, 404, 500], default=ok_status
    )
    # the incident: 5xx and a slow tail
    w0 = ts_of(*INCIDENT["start"].split(" "))
    w1 = ts_of(*INCIDENT["end"].split(" "))
    inw = (ts >= w0) & (ts < w1)
    k = int(inw.sum())
    ri = rng.random(k)
    inc_status = np.select([ri < 0.08, ri < 0.16, ri < 0.20], [502, 503, 504], status[inw])
    status[inw] = inc_status
    lat_in = lat[inw] * rng.lognormal(np.log(1.8), 0.3, k)
    slow = rng.random(k) < 0.12
    lat_in[slow] += rng.exponential(2500, int(slow.sum()))
    lat_in[inc_status == 504] = rng.uniform(29_000, 30_500, int((inc_status == 504).sum()))
    lat[inw] = lat_in
    base_5xx = (~inw) & (status == 500)
    alt = rng.random(n) < 0.4
    status[base_5xx & alt] = 503
    bytes_med = np.array([e[5] for e in ENDPOINTS], dtype=float)[ep]
    size = np.where(
        status < 300,
        np.where(bytes_med > 0, rng.lognormal(np.log(np.maximum(bytes_med, 1)), 0.7), 0),
        rng.integers(150, 420, n),
    )
    ds.tables["api_requests"] = pd.DataFrame(
        {
            "request_id": np.arange(1, n + 1),
            "ts": ts,
            "client_id": client_ids[client],
            "method": method,
            "endpoint": np.array([e[1] for e in ENDPOINTS], dtype=object)[ep],
            "resource_key": key,
            "status": status.astype(np.int64),
            "latency_ms": np.round(lat, 1),
            "bytes_out": np.round(size).astype(np.int64),
        }
    )
    inside = status[inw]
    ds.facts["incident"]["requests_in_window"] = k
    ds.facts["incident"]["error_rate_5xx_in_window"] = round(float((inside >= 500).mean()), 4)
    ds.facts["incident"]["error_rate_5xx_outside_window"] = round(
        float((status[~inw] >= 500).mean()), 5
    )
    ds.facts["incident"]["p99_latency_ms_in_window"] = round(float(np.percentile(lat[inw], 99)), 1)
    ds.facts["incident"]["p99_latency_ms_outside_window"] = round(
        float(np.percentile(lat[~inw], 99)), 1
    )


# --------------------------------------------------------------------------------------------
# Raw layer
# --------------------------------------------------------------------------------------------

ACCEPTED_EVENT_NAMES = EVENT_NAMES.tolist()
RAW_WINDOW_START = ts_of("2025-06-01")
DATE_LOOKUP_ORIGIN = ts_of("2025-01-01") // DAY - 400
_DATE_STR = np.array(
    [
        str(d)
        for d in np.arange(
            np.datetime64("2025-01-01") - np.timedelta64(400, "D"),
            np.datetime64("2025-01-01") + np.timedelta64(800, "D"),
        )
    ],
    dtype=object,
)
_TIME_STR = np.array(
    [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(DAY)], dtype=object
)


def format_ts(t: np.ndarray, sep: str = " ") -> np.ndarray:
    """'YYYY-MM-DD HH:MM:SS' strings (object array) for seconds since 2025-01-01."""
    t = np.asarray(t, dtype=np.int64)
    return _DATE_STR[t // DAY + 400] + sep + _TIME_STR[t % DAY]


def format_date(d: np.ndarray) -> np.ndarray:
    """'YYYY-MM-DD' strings (object array) for days since 2025-01-01."""
    return _DATE_STR[np.asarray(d, dtype=np.int64) + 400]


def _gen_raw(seed: int, u: _Users, ds: Dataset) -> None:
    rng = rng_for(seed, "raw")
    ev = ds.tables["events"]
    sel = ev["event_time"].to_numpy() >= RAW_WINDOW_START
    e = ev.loc[sel]
    n = len(e)
    eid = e["event_id"].to_numpy()
    uid = e["user_id"].to_numpy().astype(np.float64)
    t = e["event_time"].to_numpy()
    name = np.asarray(e["event_name"].astype(object))
    plat = np.asarray(e["platform"].astype(object))
    country = u.country[e["user_id"].to_numpy() - 1]

    # how each client sends time: web 'Z', iOS local time with offset, Android naive UTC
    text = np.empty(n, dtype=object)
    web, ios, andr = plat == "web", plat == "ios", plat == "android"
    text[web] = format_ts(t[web], "T") + "Z"
    off = COUNTRY_OFFSET_MIN[country[ios]]
    sign = np.where(off < 0, "-", "+").astype(object)
    hh = np.abs(off) // 60
    mm = np.abs(off) % 60
    off_str = sign + np.char.zfill(hh.astype(str), 2).astype(object) + ":"
    off_str = off_str + np.char.zfill(mm.astype(str), 2).astype(object)
    text[ios] = format_ts(t[ios] + off * 60, "T") + off_str
    text[andr] = format_ts(t[andr], " ")

    version = np.empty(n, dtype=object)
    version[web] = "2025.6." + rng.integers(0, 4, int(web.sum())).astype(str).astype(object)
    version[ios] = "5.12." + rng.integers(0, 3, int(ios.sum())).astype(str).astype(object)
    av = np.array(["5.10.2", "5.11.0", "5.11.3"], dtype=object)
    andr_v = av[rng.choice(3, int(andr.sum()), p=[0.2, 0.45, 0.35])]
    version[andr] = andr_v

    # bad names: Android 5.11.3 sends Title_Case names, one web build sends kebab-case
    bad_name = np.zeros(n, dtype=bool)
    a_idx = np.flatnonzero(andr)
    b1 = a_idx[andr_v == "5.11.3"]
    b1 = b1[rng.random(len(b1)) < 0.15]
    name = name.copy()
    name[b1] = pd.Series(name[b1], dtype=object).str.title().to_numpy(dtype=object)
    w_idx = np.flatnonzero(web & (version == "2025.6.3"))
    w_idx = w_idx[rng.random(len(w_idx)) < 0.1]
    name[w_idx] = pd.Series(name[w_idx], dtype=object).str.replace("_", "-").to_numpy(dtype=object)
    bad_name[b1] = True
    bad_name[w_idx] = True

    # received_at: seconds later, but mobile clients offline for days deliver late
    recv = t + 1 + rng.exponential(15, n).astype(np.int64)
    late = (~web) & (rng.random(n) < 0.012)
    recv[late] = t[late] + 48 * 3600 + 60 + rng.exponential(1.5 * DAY, int(late.sum())).astype(int)

    tz_kind = np.full(n, 0, dtype=np.int8)  # 0: 'Z', 1: non-zero offset, 2: naive, 3: +00:00
    tz_kind[andr] = 2
    tz_kind[np.flatnonzero(ios)] = np.where(off != 0, 1, 3)
    cols = {
        "event_id": eid,
        "user_id": uid,
        "event_name": name,
        "event_time": text,
        "received_at": recv,
        "platform": plat,
        "client_version": version,
        "_utc": t,
        "_tz": tz_kind,
        "_bad": bad_name,
    }
    base = pd.DataFrame(cols)
    next_id = int(ev["event_id"].max()) + 1
    # re-delivered duplicates: same user/name/time, new event_id, received a bit later
    redeliv = base.iloc[np.sort(rng.choice(n, int(0.008 * n), replace=False))].copy()
    redeliv["event_id"] = np.arange(next_id, next_id + len(redeliv))
    next_id += len(redeliv)
    redeliv["received_at"] = redeliv["received_at"] + 300 + rng.integers(0, 7200, len(redeliv))
    # rows with no user (logged-out pings) and with deleted users' ids
    nulls = base.iloc[np.sort(rng.choice(n, int(0.003 * n), replace=False))].copy()
    nulls["event_id"] = np.arange(next_id, next_id + len(nulls))
    next_id += len(nulls)
    nulls["user_id"] = np.nan
    orph = base.iloc[np.sort(rng.choice(n, int(0.002 * n), replace=False))].copy()
    orph["event_id"] = np.arange(next_id, next_id + len(orph))
    next_id += len(orph)
    orph["user_id"] = (len(u.t) + 1000 + rng.integers(0, 500, len(orph))).astype(float)
    raw = pd.concat([base, redeliv, nulls, orph], ignore_index=True)
    # exact duplicates: the very same row delivered twice (all rows above are distinct)
    dup = raw.iloc[np.sort(rng.choice(len(raw), int(0.012 * len(raw)), replace=False))]
    raw = pd.concat([raw, dup], ignore_index=True)
    raw = raw.iloc[np.lexsort((raw["event_id"].to_numpy(), raw["received_at"].to_numpy()))]
    raw = raw.reset_index(drop=True)

    # counts exactly as the documented detection queries find them
    r_uid = raw["user_id"].to_numpy()
    late = raw["received_at"].to_numpy() - raw["_utc"].to_numpy() > 48 * 3600
    tz = raw["_tz"].to_numpy()
    bad = ~raw["event_name"].isin(ACCEPTED_EVENT_NAMES).to_numpy()  # kebab 'signup' is fine
    ds.tables["raw_events"] = raw.drop(columns=["_utc", "_tz", "_bad"])
    ds.facts["raw_problems"] = {
        "window": ["2025-06-01", "2025-06-30"],
        "rows": len(raw),
        "exact_duplicates": {
            "count": len(dup),
            "detect": "rows identical in every column (the same event_id delivered twice): "
            "COUNT(*) - COUNT(DISTINCT every column)",
        },
        "redelivered_duplicates": {
            "count": len(redeliv),
            "detect": "the same (user_id, event_name, event_time) under a different event_id: "
            "among rows with a user_id, COUNT(DISTINCT event_id) - "
            "COUNT(DISTINCT (user_id, event_name, event_time)); keep the earliest received",
        },
        "late_events": {
            "count": int(late.sum()),
            "detect": "received_at more than 48 hours after event_time converted to UTC "
            "(counting every row, duplicates included)",
        },
        "null_user_id": {
            "count": int(np.isnan(r_uid).sum()),
            "detect": "user_id IS NULL",
        },
        "orphaned_user_ids": {
            "count": int((r_uid > len(u.t)).sum()),
            "detect": "user_id not found in users: LEFT JOIN users ... WHERE users.user_id IS NULL "
            "AND raw_events.user_id IS NOT NULL",
        },
        "mixed_time_zones": {
            "count": int((tz == 1).sum()),
            "offset_zero_count": int((tz == 3).sum()),
            "naive_count": int((tz == 2).sum()),
            "utc_z_count": int((tz == 0).sum()),
            "detect": "event_time text ends with an offset such as +02:00 (the iOS app sends local "
            "time); 'Z' marks UTC and a value with no offset (the Android app) is UTC too",
        },
        "bad_event_names": {
            "count": int(bad.sum()),
            "examples": sorted(set(raw.loc[bad, "event_name"]))[:6],
            "detect": "event_name not in the accepted list; fix with lower() and '-' -> '_'",
        },
    }


def _parse_raw_time(text: np.ndarray) -> np.ndarray:
    """UTC seconds since 2025-01-01 of raw event_time strings (Z, +hh:mm offsets or naive)."""
    s = pd.Series(text, dtype=object)
    ts = pd.to_datetime(s, utc=True, format="ISO8601")
    return (ts.dt.tz_localize(None).to_numpy().astype("datetime64[s]") - EPOCH).astype(np.int64)


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def generate(seed: int = 42, scale: float = 1.0) -> Dataset:
    """Generate every table of the Orbit dataset for ``seed`` and ``scale``."""
    ds = Dataset()
    buf = _EventBuffer()
    u, funnel_facts = _gen_people_and_funnel(seed, scale, buf)
    n = len(u.t)
    subs, pays = _gen_money(seed, u, buf)
    act = _gen_activity(seed, u, buf)
    _finish_events(seed, u, buf, ds)
    # users and workspaces
    owners = np.flatnonzero(u.owner)
    active_sub = subs[subs["ended_at"] == NULL_TS]
    plan = pd.Series("free", index=np.arange(1, len(owners) + 1), dtype=object)
    plan.loc[active_sub["workspace_id"].to_numpy()] = active_sub["plan"].to_numpy()
    ds.tables["users"] = pd.DataFrame(
        {
            "user_id": np.arange(1, n + 1),
            "signup_at": u.t,
            "signup_date": u.day,
            "country": COUNTRIES[u.country],
            "platform": PLATFORMS[u.platform],
            "channel": CHANNELS[u.channel],
            "workspace_id": u.ws,
            "is_workspace_owner": u.owner.astype(np.int64),
        }
    )
    ds.tables["workspaces"] = pd.DataFrame(
        {
            "workspace_id": np.arange(1, len(owners) + 1),
            "created_at": u.t[owners],
            "owner_user_id": owners + 1,
            "current_plan": plan.to_numpy(),
        }
    )
    ds.tables["subscriptions"] = subs
    ds.tables["payments"] = pays
    _gen_experiments(seed, u, scale, ds)
    _gen_delivery(seed, ds)
    _gen_api(seed, scale, ds)
    _gen_raw(seed, u, ds)
    ds.facts["funnel"] = funnel_facts | act
    ds.tables["dataset_info"] = pd.DataFrame(
        {
            "key": ["seed", "scale", "generator_version", "start", "end"],
            "value": [
                str(seed),
                repr(float(scale)),
                GENERATOR_VERSION,
                "2025-01-01 00:00:00",
                "2025-06-30 23:59:59",
            ],
        }
    )
    return ds
