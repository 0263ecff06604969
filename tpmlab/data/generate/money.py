"""Paid plans: upgrades, 30-day billing cycles with plan changes and churn, payments."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tpmlab.data.generate import params as P
from tpmlab.data.generate.core import (
    DAY,
    E_DOWNGRADE,
    E_UPGRADE,
    LAST,
    NULL_TS,
    EventBuffer,
    Users,
    rng_for,
    within_group_index,
)

CYCLE = 30 * DAY


def gen_money(seed: int, u: Users, buf: EventBuffer) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = rng_for(seed, "money")
    owners = np.flatnonzero(u.owner)
    n_ws = len(owners)
    ws_ids = np.arange(1, n_ws + 1)
    created = u.t[owners]
    # team size over time: members sorted by (workspace, signup)
    mkey = u.ws * (1 << 25) + u.t
    mkey_sorted = np.sort(mkey)
    final_size = np.bincount(u.ws, minlength=n_ws + 1)[1:]
    p_up = (
        P.UPGRADE_P_BASE
        + P.UPGRADE_P_PER_MEMBER * np.minimum(final_size - 1, P.UPGRADE_MEMBERS_CAP)
    ) * np.where(u.has_project_day0[owners], P.UPGRADE_WITH_PROJECT, P.UPGRADE_WITHOUT_PROJECT)
    up = rng.random(n_ws) < p_up
    delay = rng.lognormal(np.log(P.UPGRADE_DELAY_MEDIAN_DAYS * DAY), 1.0, n_ws).astype(np.int64)
    t_up = created + delay
    up &= t_up < LAST - 3600
    w = np.flatnonzero(up)
    start = t_up[w]
    seats = np.searchsorted(mkey_sorted, ws_ids[w] * (1 << 25) + start, side="right") - (
        np.searchsorted(mkey_sorted, ws_ids[w] * (1 << 25), side="left")
    )
    seats = np.maximum(seats, 1)
    business = rng.random(len(w)) < np.where(
        seats >= P.BUSINESS_SEATS, P.BUSINESS_P_LARGE, P.BUSINESS_P_SMALL
    )

    # frontier simulation over 30-day billing cycles (a loop over cycles, not rows)
    sub_ws, sub_plan, sub_seats, sub_start = [ws_ids[w]], [business], [seats], [start]
    sub_end, sub_reason = [np.full(len(w), NULL_TS)], [np.full(len(w), "", dtype=object)]
    ids = np.arange(len(w))
    next_id = len(w)
    f_id, f_next = ids.copy(), start + CYCLE
    f_plan = business.copy()
    # columns to fill in after the loop
    ends: dict[int, tuple[int, str]] = {}
    churn_p, up_p, down_p = P.CHURN_P, P.UPGRADE_PLAN_P, P.DOWNGRADE_PLAN_P
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
    price = np.where(s_plan, P.PLANS["business"], P.PLANS["pro"])
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
    p_t = s_start[p_sub] + within_group_index(n_pay) * CYCLE
    r = rng.random(len(p_sub))
    status = np.where(
        r < P.PAYMENT_FAILED_BELOW,
        "failed",
        np.where(r < P.PAYMENT_REFUNDED_BELOW, "refunded", "succeeded"),
    ).astype(object)
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
