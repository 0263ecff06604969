"""The raw layer: June's events as the clients sent them, with the planted quality problems.

What each problem is and how to detect it goes into the manifest (``raw_problems``); the shares
are in :mod:`.params`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tpmlab.data.generate import params as P
from tpmlab.data.generate.core import DAY, EVENT_NAMES, Dataset, Users, format_ts, rng_for, ts_of

ACCEPTED_EVENT_NAMES = EVENT_NAMES.tolist()


def gen_raw(seed: int, u: Users, ds: Dataset) -> None:
    rng = rng_for(seed, "raw")
    ev = ds.tables["events"]
    sel = ev["event_time"].to_numpy() >= ts_of(P.RAW_START)
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
    off = P.COUNTRY_OFFSET_MIN[country[ios]]
    sign = np.where(off < 0, "-", "+").astype(object)
    hh = np.abs(off) // 60
    mm = np.abs(off) % 60
    off_str = sign + np.char.zfill(hh.astype(str), 2).astype(object) + ":"
    off_str = off_str + np.char.zfill(mm.astype(str), 2).astype(object)
    text[ios] = format_ts(t[ios] + off * 60, "T") + off_str
    text[andr] = format_ts(t[andr], " ")

    version = np.empty(n, dtype=object)
    version[web] = "2025.6." + rng.integers(0, P.WEB_BUILDS, int(web.sum())).astype(str).astype(
        object
    )
    version[ios] = "5.12." + rng.integers(0, P.IOS_BUILDS, int(ios.sum())).astype(str).astype(
        object
    )
    av = P.ANDROID_VERSIONS
    andr_v = av[rng.choice(3, int(andr.sum()), p=P.ANDROID_VERSION_P)]
    version[andr] = andr_v

    # bad names: Android 5.11.3 sends Title_Case names, one web build sends kebab-case
    bad_name = np.zeros(n, dtype=bool)
    a_idx = np.flatnonzero(andr)
    b1 = a_idx[andr_v == "5.11.3"]
    b1 = b1[rng.random(len(b1)) < P.TITLE_CASE_SHARE]
    name = name.copy()
    name[b1] = pd.Series(name[b1], dtype=object).str.title().to_numpy(dtype=object)
    w_idx = np.flatnonzero(web & (version == "2025.6.3"))
    w_idx = w_idx[rng.random(len(w_idx)) < P.KEBAB_CASE_SHARE]
    name[w_idx] = pd.Series(name[w_idx], dtype=object).str.replace("_", "-").to_numpy(dtype=object)
    bad_name[b1] = True
    bad_name[w_idx] = True

    # received_at: seconds later, but mobile clients offline for days deliver late
    recv = t + 1 + rng.exponential(15, n).astype(np.int64)
    late = (~web) & (rng.random(n) < P.LATE_MOBILE_SHARE)
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
    redeliv = base.iloc[np.sort(rng.choice(n, int(P.REDELIVERED_SHARE * n), replace=False))].copy()
    redeliv["event_id"] = np.arange(next_id, next_id + len(redeliv))
    next_id += len(redeliv)
    redeliv["received_at"] = redeliv["received_at"] + 300 + rng.integers(0, 7200, len(redeliv))
    # rows with no user (logged-out pings) and with deleted users' ids
    nulls = base.iloc[np.sort(rng.choice(n, int(P.NULL_USER_SHARE * n), replace=False))].copy()
    nulls["event_id"] = np.arange(next_id, next_id + len(nulls))
    next_id += len(nulls)
    nulls["user_id"] = np.nan
    orph = base.iloc[np.sort(rng.choice(n, int(P.ORPHAN_USER_SHARE * n), replace=False))].copy()
    orph["event_id"] = np.arange(next_id, next_id + len(orph))
    next_id += len(orph)
    orph["user_id"] = (len(u.t) + 1000 + rng.integers(0, 500, len(orph))).astype(float)
    raw = pd.concat([base, redeliv, nulls, orph], ignore_index=True)
    # exact duplicates: the very same row delivered twice (all rows above are distinct)
    dup = raw.iloc[
        np.sort(rng.choice(len(raw), int(P.EXACT_DUPLICATE_SHARE * len(raw)), replace=False))
    ]
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
