"""Generate Orbit's tables deterministically from a seed and a scale (numbers only, no I/O).

One module per part of Orbit, called in this order by :func:`generate`:

- :mod:`.people`: users, workspaces and the day-0 onboarding funnel;
- :mod:`.money`: paid plans, subscriptions and payments;
- :mod:`.activity`: retention and later activity, then the events, sessions, projects and tasks;
- :mod:`.experiments`: the six experiments and their planted truth;
- :mod:`.delivery`: deploys and incidents (with the planted API incident);
- :mod:`.apilog`: June's API request log;
- :mod:`.raw`: June's raw events with their planted quality problems;
- :mod:`.metricdrop`: module 2's planted metric drop and its decoy (before June).

Every behavioural number and planted effect is in :mod:`.params`; the time axis, random streams
and containers in :mod:`.core`. Every table group draws from its own random stream, derived from
the seed and a fixed name (``SeedSequence(seed, spawn_key=(crc32(name),))``), so changing how one
group is generated does not shift the others' draws. Everything is vectorised with numpy: there is
no Python loop per event, only loops over a handful of tables, experiments, billing cycles or
fixed-size user chunks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tpmlab.data.generate import (
    activity,
    apilog,
    delivery,
    experiments,
    metricdrop,
    money,
    people,
    raw,
)
from tpmlab.data.generate import params as P
from tpmlab.data.generate.core import (
    DATE_RANGE,
    DAY,
    EVENT_NAMES,
    GENERATOR_VERSION,
    LAST,
    NULL_TS,
    Dataset,
    EventBuffer,
    format_date,
    format_ts,
    rng_for,
    ts_of,
)

__all__ = [
    "DATE_RANGE",
    "DAY",
    "EVENT_NAMES",
    "GENERATOR_VERSION",
    "LAST",
    "NULL_TS",
    "Dataset",
    "format_date",
    "format_ts",
    "generate",
    "rng_for",
    "ts_of",
]


def generate(seed: int = 42, scale: float = 1.0) -> Dataset:
    """Generate every table of the Orbit dataset for ``seed`` and ``scale``."""
    ds = Dataset()
    buf = EventBuffer()
    u, funnel_facts = people.gen_people_and_funnel(seed, scale, buf)
    n = len(u.t)
    subs, pays = money.gen_money(seed, u, buf)
    act = activity.gen_activity(seed, u, buf)
    activity.finish_events(seed, u, buf, ds)
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
            "country": P.COUNTRIES[u.country],
            "platform": P.PLATFORMS[u.platform],
            "channel": P.CHANNELS[u.channel],
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
    experiments.gen_experiments(seed, u, scale, ds)
    delivery.gen_delivery(seed, ds)
    apilog.gen_api(seed, scale, ds)
    raw.gen_raw(seed, u, ds)
    metricdrop.plant_metric_drop(seed, ds)  # last: the tables above read the unplanted ones
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
