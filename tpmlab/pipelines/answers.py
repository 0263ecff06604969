"""Helpers for module 6's graded questions: a count query's one number, a result's event ids.

:func:`single_count` runs a learner's SQL (read-only, through :mod:`tpmlab.sql.answers`) that must
return one row with one column ``rows`` and gives back that number; :func:`event_id_summary`
reduces a deduplicated result to what identifies it (row count, distinct ids, a digest of the
sorted ids), so that a hidden test records a few values instead of 200,000 rows.
"""

from __future__ import annotations

import hashlib

import pandas as pd

from tpmlab.errors import CheckFailed
from tpmlab.sql.answers import check_columns, run_learner_query


def single_count(sql, eng, name: str) -> int:
    """The one number a count query returns (one row, one column named ``rows``)."""
    got = run_learner_query(sql, eng, name=name)
    check_columns(got, ["rows"], name, rows=1)
    value = got.iloc[0, 0]
    if value is None or pd.isna(value):
        raise CheckFailed(
            f"`{name}` returned NULL: COUNT(*) counts rows, SUM over no rows is NULL. "
            "Count the rows that break the rule with COUNT(*) (or COALESCE the sum to 0)."
        )
    try:
        return int(value)
    except (TypeError, ValueError):
        raise CheckFailed(
            f"`{name}` returned {value!r}, not a count. Return COUNT(...) AS rows."
        ) from None


def event_id_summary(frame: pd.DataFrame) -> dict[str, object]:
    """Rows, distinct event ids and a digest of the sorted ids of a result with ``event_id``."""
    ids = sorted(int(i) for i in frame["event_id"])
    digest = hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:16]
    return {"rows": len(ids), "distinct event ids": len(set(ids)), "ids digest": digest}
