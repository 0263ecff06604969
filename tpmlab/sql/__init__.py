"""SQL from notebooks: run a query on Orbit's data safely, and grade SQL answers by their results.

- :mod:`tpmlab.sql.run`: pick the database (``%sql_connect``, ``TPMLAB_DB_URL`` or Orbit's
  default), run a query with named ``:parameters`` bound by SQLAlchemy (never formatted into the
  string), show a query plan.
- :mod:`tpmlab.sql.magic`: the ``%%sql`` cell magic, loaded with ``%load_ext tpmlab.sql``.
- :mod:`tpmlab.sql.answers`: run a learner's query read-only and compare its result set with a
  reference, failing with a message that says what is wrong and what to try.

Example (in a notebook)::

    %load_ext tpmlab.sql

    %%sql -o signups
    SELECT platform, COUNT(*) AS users FROM users WHERE country = :country GROUP BY platform
"""

from __future__ import annotations

from tpmlab.sql.answers import compare_results, run_learner_query, self_check
from tpmlab.sql.run import connect, current_engine, explain, query, time_query

__all__ = [
    "compare_results",
    "connect",
    "current_engine",
    "explain",
    "load_ipython_extension",
    "query",
    "time_query",
    "run_learner_query",
    "self_check",
]


def load_ipython_extension(ipython) -> None:
    """Called by ``%load_ext tpmlab.sql``: registers ``%sql``/``%%sql`` and ``%sql_connect``."""
    from tpmlab.sql.magic import register

    register(ipython)
