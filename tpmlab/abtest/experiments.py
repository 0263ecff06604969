"""Orbit's experiments as one table per experiment: each assigned user with their arm and outcomes.

The A/B lessons of module 3 all start from the same join of ``experiment_assignments`` (who was
in which arm) with ``experiment_outcomes`` (what they did during the test), for one experiment at
a time. It is read with ``pandas.read_sql`` on Orbit's engine (the course's one way to read data),
with the experiment id as a bound parameter.
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tpmlab.errors import TPMLabError

USERS_SQL = sa.text("""
    SELECT a.user_id, a.variant, a.platform, o.converted, o.revenue_usd, o.tasks_created,
           o.pre_tasks_created, o.page_load_ms
    FROM experiment_assignments AS a
    JOIN experiment_outcomes AS o ON o.experiment_id = a.experiment_id AND o.user_id = a.user_id
    WHERE a.experiment_id = :eid
""")


def experiment_users(experiment_id: str, engine: Engine | None = None) -> pd.DataFrame:
    """One row per user assigned to ``experiment_id``: ``user_id``, ``variant`` (control or
    treatment), ``platform`` and the outcomes ``converted``, ``revenue_usd``, ``tasks_created``,
    ``pre_tasks_created`` (the 28 days before assignment) and ``page_load_ms``.

    ``engine`` defaults to Orbit's database (:func:`tpmlab.data.engine`). An id that is not in
    the ``experiments`` table raises a :class:`TPMLabError` listing the ids that are.

    >>> oc = experiment_users("onboarding_checklist")
    >>> oc.groupby("variant")["converted"].mean()
    """
    if engine is None:
        from tpmlab.data import engine as orbit_engine

        engine = orbit_engine()
    users = pd.read_sql(USERS_SQL, engine, params={"eid": experiment_id})
    if users.empty:
        known = pd.read_sql("SELECT experiment_id FROM experiments ORDER BY 1", engine)
        raise TPMLabError(
            f"Orbit has no experiment (or no assigned user) called {experiment_id!r}.",
            "Use one of: " + ", ".join(known["experiment_id"]) + " (the experiment_id column "
            "of the experiments table).",
        )
    return users
